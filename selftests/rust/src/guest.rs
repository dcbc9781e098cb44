// SPDX-License-Identifier: GPL-2.0
//! Guest code: AArch64 instructions encoded by hand (Arm ARM C6), and the
//! named sequences the tests run. The guest runs at EL1 with the MMU off.

/// `MOVZ Xd, #imm16, LSL #(16 * hw)`.
pub const fn movz(rd: u32, imm16: u16, hw: u32) -> u32 {
    0xd280_0000 | (hw << 21) | ((imm16 as u32) << 5) | rd
}

/// `MOVK Xd, #imm16, LSL #(16 * hw)`.
pub const fn movk(rd: u32, imm16: u16, hw: u32) -> u32 {
    0xf280_0000 | (hw << 21) | ((imm16 as u32) << 5) | rd
}

/// `STR Xt, [Xn]`.
pub const fn str_x(rt: u32, rn: u32) -> u32 {
    0xf900_0000 | (rn << 5) | rt
}

/// `STR Xt, [Xn, #offset]` (unsigned offset, a multiple of 8 below 32 KiB).
pub const fn str_x_at(rt: u32, rn: u32, offset: u32) -> u32 {
    str_x(rt, rn) | ((offset / 8) << 10)
}

/// `STR Wt, [Xn]`: a 32-bit store, as GIC registers take.
pub const fn str_w(rt: u32, rn: u32) -> u32 {
    0xb900_0000 | (rn << 5) | rt
}

/// `ADD Xd, Xn, #imm12`.
pub const fn add_imm(rd: u32, rn: u32, imm12: u32) -> u32 {
    0x9100_0000 | (imm12 << 10) | (rn << 5) | rd
}

/// `SUB Xd, Xn, Xm`.
pub const fn sub_x(rd: u32, rn: u32, rm: u32) -> u32 {
    0xcb00_0000 | (rm << 16) | (rn << 5) | rd
}

/// `MSR DAIFClr, #imm4` (D 8, A 4, I 2, F 1): unmasks.
pub const fn msr_daifclr(imm4: u32) -> u32 {
    0xd503_40ff | (imm4 << 8)
}

/// `MSR DAIFSet, #imm4`: masks.
pub const fn msr_daifset(imm4: u32) -> u32 {
    0xd503_40df | (imm4 << 8)
}

/// The SError (asynchronous abort) bit of `DAIFSet`/`DAIFClr`'s immediate.
pub const DAIF_A: u32 = 4;

/// `ERET`.
pub const ERET: u32 = 0xd69f_03e0;

/// A system register as (op0, op1, CRn, CRm, op2).
pub type SysReg = [u32; 5];
/// `CNTVCT_EL0`, the virtual count.
pub const CNTVCT_EL0: SysReg = [3, 3, 14, 0, 2];
/// `CNTV_CTL_EL0`, the virtual timer's control.
pub const CNTV_CTL_EL0: SysReg = [3, 3, 14, 3, 1];
/// `CNTV_CVAL_EL0`, the virtual timer's compare value.
pub const CNTV_CVAL_EL0: SysReg = [3, 3, 14, 3, 2];
/// `VBAR_EL1`, the EL1 vector base.
pub const VBAR_EL1: SysReg = [3, 0, 12, 0, 0];
/// `ISR_EL1`: which interrupts and SErrors are pending (A is bit 8).
pub const ISR_EL1: SysReg = [3, 0, 12, 1, 0];
/// `ISR_EL1.A`: an SError (here the virtual one, HCR_EL2.VSE) is pending.
pub const ISR_EL1_A: u64 = 1 << 8;
/// `ICC_SGI1R_EL1`, which sends a Group 1 SGI.
pub const ICC_SGI1R_EL1: SysReg = [3, 0, 12, 11, 5];

const fn sysreg_bits([op0, op1, crn, crm, op2]: SysReg) -> u32 {
    ((op0 - 2) << 19) | (op1 << 16) | (crn << 12) | (crm << 8) | (op2 << 5)
}

/// `MRS Xt, reg`.
pub const fn mrs(rt: u32, reg: SysReg) -> u32 {
    0xd530_0000 | sysreg_bits(reg) | rt
}

/// `MSR reg, Xt`.
pub const fn msr(reg: SysReg, rt: u32) -> u32 {
    0xd510_0000 | sysreg_bits(reg) | rt
}

/// `ADD Xd, Xn, Xm`.
pub const fn add_x(rd: u32, rn: u32, rm: u32) -> u32 {
    0x8b00_0000 | (rm << 16) | (rn << 5) | rd
}

/// `ISB`.
pub const ISB: u32 = 0xd503_3fdf;

/// `HVC #0`: the SMCCC conduit KVM uses for PSCI.
pub const HVC_0: u32 = 0xd400_0002;

/// `B` to `words` instructions away (negative: backwards).
pub const fn b(words: i32) -> u32 {
    0x1400_0000 | ((words as u32) & 0x3ff_ffff)
}

/// `B .`: spin forever.
pub const B_SELF: u32 = b(0);

/// `B .-4`: branch to the previous instruction.
pub const B_BACK: u32 = b(-1);

/// Loads a 64-bit value into `Xd`: MOVZ then three MOVK.
pub fn load_imm64(rd: u32, value: u64) -> [u32; 4] {
    [
        movz(rd, value as u16, 0),
        movk(rd, (value >> 16) as u16, 1),
        movk(rd, (value >> 32) as u16, 2),
        movk(rd, (value >> 48) as u16, 3),
    ]
}

/// Where guest code lives (IPA), and how much memory the test VMs get.
pub const GUEST_BASE: u64 = 0x1_0000;
/// Size of the guest memory slot.
pub const GUEST_SIZE: u64 = 0x1_0000;
/// The MMIO address the guest reports to: not backed by memory, so each
/// store exits with `KVM_EXIT_MMIO`.
pub const MMIO_REPORT: u64 = 0x1000_0000;
/// Offset in guest memory of the PSCI resume entry point.
pub const RESUME_OFFSET: u64 = 0x100;

/// "stages": report 1, then 2, then 3 on `MMIO_REPORT`, then spin.
///
/// ```text
///     mov  x1, #MMIO_REPORT
///     mov  x0, #1 ; str x0, [x1]
///     mov  x0, #2 ; str x0, [x1]
///     mov  x0, #3 ; str x0, [x1]
///     b    .
/// ```
pub fn stages() -> Vec<u32> {
    let mut code = load_imm64(1, MMIO_REPORT).to_vec();
    for stage in 1..=3 {
        code.extend([movz(0, stage, 0), str_x(0, 1)]);
    }
    code.push(B_SELF);
    code
}

/// Offset in guest memory of the `b .` that ends `stages()`: a vCPU
/// started there spins, its interrupts masked, until userspace stops it.
pub fn stages_spin_offset() -> u64 {
    4 * (stages().len() as u64 - 1)
}

/// PSCI `SYSTEM_SUSPEND` (SMC64 function id) with entry point
/// `GUEST_BASE + RESUME_OFFSET` and `context_id`; if the call returns (it
/// was denied), report its return value; the resume entry reports x0, the
/// context id PSCI hands back.
///
/// ```text
///     mov  x0, #PSCI_1_0_FN64_SYSTEM_SUSPEND
///     mov  x1, #(GUEST_BASE + RESUME_OFFSET)
///     mov  x2, #context_id
///     mov  x9, #MMIO_REPORT
///     hvc  #0
///     str  x0, [x9]          // only if denied: the PSCI return value
///     b    .
/// entry (GUEST_BASE + RESUME_OFFSET):
///     mov  x9, #(MMIO_REPORT + 8)
///     str  x0, [x9]          // x0 = context id
///     b    .
/// ```
pub fn system_suspend(fn_id: u32, context_id: u64) -> Vec<u32> {
    let mut code = Vec::new();
    code.extend(load_imm64(0, fn_id.into()));
    code.extend(load_imm64(1, GUEST_BASE + RESUME_OFFSET));
    code.extend(load_imm64(2, context_id));
    code.extend(load_imm64(9, MMIO_REPORT));
    code.extend([HVC_0, str_x(0, 9), B_SELF]);
    code.resize((RESUME_OFFSET / 4) as usize, B_SELF);
    code.extend(load_imm64(9, MMIO_REPORT + 8));
    code.extend([str_x(0, 9), B_SELF]);
    code
}

/// "mmio loop": store 7 to `MMIO_REPORT` forever, so that every `KVM_RUN`
/// of a runnable vCPU ends in an MMIO exit (for resume measurements).
///
/// ```text
///     mov  x1, #MMIO_REPORT
///     mov  x0, #7
/// 1:  str  x0, [x1]
///     b    1b
/// ```
pub fn mmio_loop() -> Vec<u32> {
    let mut code = load_imm64(1, MMIO_REPORT).to_vec();
    code.extend([movz(0, 7, 0), str_x(0, 1), B_BACK]);
    code
}

/// "vtimer": arm the virtual timer `ticks` ahead of now, enabled and
/// unmasked (its interrupt stays masked in PSTATE), then the stages.
///
/// ```text
///     mrs  x0, cntvct_el0
///     mov  x1, #ticks
///     add  x0, x0, x1
///     msr  cntv_cval_el0, x0
///     mov  x0, #1            // ENABLE, not IMASK
///     msr  cntv_ctl_el0, x0
///     isb
///     (stages)
/// ```
pub fn vtimer(ticks: u64) -> Vec<u32> {
    let mut code = vec![mrs(0, CNTVCT_EL0)];
    code.extend(load_imm64(1, ticks));
    code.extend([
        add_x(0, 0, 1),
        msr(CNTV_CVAL_EL0, 0),
        movz(0, 1, 0),
        msr(CNTV_CTL_EL0, 0),
        ISB,
    ]);
    code.extend(stages());
    code
}

/// Offset in guest memory of `sgi_sender()` in `stages_and_sgi_sender()`.
pub const SGI_SENDER_OFFSET: u64 = 0x200;

/// "stages" at `GUEST_BASE` (vCPU 0), and at `SGI_SENDER_OFFSET` code that
/// writes `sgi1r` to `ICC_SGI1R_EL1`, then reports it at `MMIO_REPORT + 16`
/// (vCPU 1).
///
/// ```text
///     mov  x0, #sgi1r
///     msr  icc_sgi1r_el1, x0
///     isb
///     mov  x9, #(MMIO_REPORT + 16)
///     str  x0, [x9]
///     b    .
/// ```
pub fn stages_and_sgi_sender(sgi1r: u64) -> Vec<u32> {
    let mut code = stages();
    code.resize((SGI_SENDER_OFFSET / 4) as usize, B_SELF);
    code.extend(load_imm64(0, sgi1r));
    code.extend([msr(ICC_SGI1R_EL1, 0), ISB]);
    code.extend(load_imm64(9, MMIO_REPORT + 16));
    code.extend([str_x(0, 9), B_SELF]);
    code
}

/// "distributor re-enable": the guest disables its GIC distributor with its
/// own 32-bit store of `ctlr_off` to `gicd_ctlr` (the address of
/// GICD_CTLR), reports stage 1, enables it again with a store of `ctlr_on`,
/// reports stage 2, then spins (its interrupts masked in PSTATE).
///
/// ```text
///     mov  x1, #MMIO_REPORT
///     mov  x2, #gicd_ctlr
///     mov  x0, #ctlr_off ; str w0, [x2]
///     mov  x0, #1        ; str x0, [x1]
///     mov  x0, #ctlr_on  ; str w0, [x2]
///     mov  x0, #2        ; str x0, [x1]
///     b    .
/// ```
pub fn dist_reenable(gicd_ctlr: u64, ctlr_off: u16, ctlr_on: u16) -> Vec<u32> {
    let mut code = load_imm64(1, MMIO_REPORT).to_vec();
    code.extend(load_imm64(2, gicd_ctlr));
    code.extend([movz(0, ctlr_off, 0), str_w(0, 2)]);
    code.extend([movz(0, 1, 0), str_x(0, 1)]);
    code.extend([movz(0, ctlr_on, 0), str_w(0, 2)]);
    code.extend([movz(0, 2, 0), str_x(0, 1)]);
    code.push(B_SELF);
    code
}

/// Offset in guest memory of `serror_taker()`'s vector table (VBAR_EL1
/// needs 2 KiB alignment).
pub const VECTORS_OFFSET: u64 = 0x800;
/// Where `serror_taker()` reports ISR_EL1 before it unmasks SErrors.
pub const ISR_REPORT: u64 = MMIO_REPORT + 8;
/// Where `serror_taker()` reports how many SErrors its handler took.
pub const SERRORS_REPORT: u64 = MMIO_REPORT + 16;
/// Where `serror_taker()`'s vectors other than the SError one report their
/// offset in the table, then spin: an exception the test did not expect.
pub const UNEXPECTED_REPORT: u64 = MMIO_REPORT + 24;
/// Offset in the vector table of an SError from the current EL with SP_ELx
/// (the guest runs in EL1h).
pub const SERROR_VECTOR: u64 = 0x380;

/// "SError taker": the guest installs a vector table whose SError entry
/// counts in x5 and returns, reports stage 1 with SErrors masked (as at
/// reset; userspace injects one then), reports ISR_EL1, unmasks SErrors for
/// an ISB, masks them again, reports the count, reports stage 2, spins.
///
/// ```text
///     mov  x1, #MMIO_REPORT
///     mov  x0, #(GUEST_BASE + VECTORS_OFFSET)
///     msr  vbar_el1, x0
///     isb
///     mov  x5, #0
///     mov  x0, #1 ; str x0, [x1]
///     mrs  x0, isr_el1 ; str x0, [x1, #8]
///     msr  daifclr, #4 ; isb ; msr daifset, #4
///     str  x5, [x1, #16]
///     mov  x0, #2 ; str x0, [x1]
///     b    .
/// vectors + 0x380 (SError, current EL, SP_ELx):
///     add  x5, x5, #1
///     eret
/// every other vector, at vectors + off:
///     mov  x0, #off ; str x0, [x1, #24] ; b .
/// ```
pub fn serror_taker() -> Vec<u32> {
    let mut code = load_imm64(1, MMIO_REPORT).to_vec();
    code.extend(load_imm64(0, GUEST_BASE + VECTORS_OFFSET));
    code.extend([msr(VBAR_EL1, 0), ISB, movz(5, 0, 0)]);
    code.extend([movz(0, 1, 0), str_x(0, 1)]);
    code.extend([mrs(0, ISR_EL1), str_x_at(0, 1, 8)]);
    code.extend([msr_daifclr(DAIF_A), ISB, msr_daifset(DAIF_A)]);
    code.push(str_x_at(5, 1, 16));
    code.extend([movz(0, 2, 0), str_x(0, 1), B_SELF]);
    code.resize((VECTORS_OFFSET / 4) as usize, B_SELF);
    for off in (0..0x800).step_by(0x80) {
        let entry = if off == SERROR_VECTOR {
            vec![add_imm(5, 5, 1), ERET]
        } else {
            vec![movz(0, off as u16, 0), str_x_at(0, 1, 24), B_SELF]
        };
        code.extend(&entry);
        code.resize(code.len() + 0x80 / 4 - entry.len(), B_SELF);
    }
    code
}

/// The SMCCC function the exit bench calls: SMCCC_VERSION (fast call,
/// SMC32, owner Arm architecture, function 0), which KVM answers in the
/// kernel without an exit to userspace.
pub const SMCCC_VERSION: u32 = 0x8000_0000;
/// Where `hvc_timer()` reports the first call's return value (x0).
pub const HVC_RET_REPORT: u64 = MMIO_REPORT + 8;

/// "HVC timer": one `HVC #0` of `fn_id` whose x0 it reports at
/// `HVC_RET_REPORT`; then forever: one `HVC #0` of `fn_id` between two
/// reads of the virtual count, the difference reported at `MMIO_REPORT`.
/// The SMCCC call clobbers x0-x3 only; the loop keeps to x9-x12.
///
/// ```text
///     mov  x10, #MMIO_REPORT
///     mov  x0, #fn_id ; hvc #0 ; str x0, [x10, #8]
/// 1:  mov  x0, #fn_id
///     isb
///     mrs  x11, cntvct_el0
///     hvc  #0
///     isb
///     mrs  x12, cntvct_el0
///     sub  x12, x12, x11
///     str  x12, [x10]
///     b    1b
/// ```
pub fn hvc_timer(fn_id: u32) -> Vec<u32> {
    let mut code = load_imm64(10, MMIO_REPORT).to_vec();
    code.extend(load_imm64(0, fn_id.into()));
    code.extend([HVC_0, str_x_at(0, 10, 8)]);
    let start = code.len();
    code.extend(load_imm64(0, fn_id.into()));
    code.extend([ISB, mrs(11, CNTVCT_EL0), HVC_0, ISB, mrs(12, CNTVCT_EL0)]);
    code.extend([sub_x(12, 12, 11), str_x(12, 10)]);
    code.push(b(start as i32 - code.len() as i32));
    code
}

/// Where `psci_caller()`'s call loop reports x0 after each `HVC #0`.
pub const CALL_REPORT: u64 = MMIO_REPORT;
/// Offset in guest memory of `psci_caller()`'s first entry point.
pub const ENTRY_A: u64 = RESUME_OFFSET;
/// Offset in guest memory of `psci_caller()`'s second entry point.
pub const ENTRY_B: u64 = 0x200;
/// Where the code at `ENTRY_A` reports x0.
pub const REPORT_A: u64 = MMIO_REPORT + 8;
/// Where the code at `ENTRY_B` reports x0.
pub const REPORT_B: u64 = MMIO_REPORT + 16;
/// Where the code at `ENTRY_A` reports a CPU_OFF that returned.
pub const REPORT_OFF_RETURNED: u64 = MMIO_REPORT + 24;

/// "call loop": the host sets x0-x3 before each `KVM_RUN`; the guest makes
/// the SMCCC call and reports x0 at `CALL_REPORT`. The `KVM_RUN` after the
/// report completes its store and goes round to the next call.
///
/// ```text
///     mov  x9, #CALL_REPORT
/// 1:  hvc  #0
///     str  x0, [x9]
///     b    1b
/// ```
pub fn call_loop() -> Vec<u32> {
    let mut code = load_imm64(9, CALL_REPORT).to_vec();
    code.extend([HVC_0, str_x(0, 9), b(-2)]);
    code
}

/// The call loop at `GUEST_BASE`, and two PSCI entry points: `ENTRY_A`
/// reports x0 (the context id) at `REPORT_A`, then calls `cpu_off` (the
/// CPU_OFF function id) and, should it return, reports x0 at
/// `REPORT_OFF_RETURNED`; `ENTRY_B` reports x0 at `REPORT_B` and spins.
///
/// ```text
/// ENTRY_A:
///     mov  x9, #REPORT_A ; str x0, [x9]
///     mov  x0, #cpu_off ; hvc #0
///     mov  x9, #REPORT_OFF_RETURNED ; str x0, [x9]
///     b    .
/// ENTRY_B:
///     mov  x9, #REPORT_B ; str x0, [x9]
///     b    .
/// ```
pub fn psci_caller(cpu_off: u32) -> Vec<u32> {
    let mut code = call_loop();
    code.resize((ENTRY_A / 4) as usize, B_SELF);
    code.extend(load_imm64(9, REPORT_A));
    code.push(str_x(0, 9));
    code.extend(load_imm64(0, cpu_off.into()));
    code.push(HVC_0);
    code.extend(load_imm64(9, REPORT_OFF_RETURNED));
    code.extend([str_x(0, 9), B_SELF]);
    code.resize((ENTRY_B / 4) as usize, B_SELF);
    code.extend(load_imm64(9, REPORT_B));
    code.extend([str_x(0, 9), B_SELF]);
    code
}

/// Offset in guest memory of `call_loop_x0_entry()`'s entry point.
pub const X0_ENTRY: u64 = 0x40;
/// Where the code at `X0_ENTRY` reports x0.
pub const X0_REPORT: u64 = MMIO_REPORT + 0x20;

/// The call loop, and at `X0_ENTRY` an entry point for CPU_ON that
/// reports x0 at `X0_REPORT` before it goes to the loop. The words between are zero, UDF, as the rest of
/// the memory.
///
/// ```text
/// X0_ENTRY:
///     mov  x10, #X0_REPORT
///     str  x0, [x10]
///     b    GUEST_BASE
/// ```
pub fn call_loop_x0_entry() -> Vec<u32> {
    let mut code = call_loop();
    code.resize((X0_ENTRY / 4) as usize, 0);
    code.extend(load_imm64(10, X0_REPORT));
    code.push(str_x(0, 10));
    code.push(b(-(code.len() as i32)));
    code
}

/// `ELR_EL1`: where an exception to EL1 was taken from.
pub const ELR_EL1: SysReg = [3, 0, 4, 0, 1];

/// Where `vector_table()` entry `off` reports `ELR_EL1`.
pub const VECTOR_REPORT: u64 = MMIO_REPORT + 0x1000;

/// "vector table" for address `base` (2 KiB aligned): each of the 16
/// entries reports `ELR_EL1` at `VECTOR_REPORT + offset` and then jumps to
/// `target`, so that an exception (an entry point that is not code, a PC
/// outside memory) ends in an exit the VMM sees, not in a loop.
///
/// ```text
/// each entry, at base + off:
///     mrs  x11, elr_el1
///     mov  x10, #(VECTOR_REPORT + off)
///     str  x11, [x10]
///     b    target
/// ```
pub fn vector_table(base: u64, target: u64) -> Vec<u32> {
    let mut code = Vec::new();
    for off in (0..0x800u64).step_by(0x80) {
        let mut entry = vec![mrs(11, ELR_EL1)];
        entry.extend(load_imm64(10, VECTOR_REPORT + off));
        entry.push(str_x(11, 10));
        let here = base + off + 4 * entry.len() as u64;
        entry.push(b(((target as i64 - here as i64) / 4) as i32));
        code.extend(&entry);
        code.resize(code.len() + 0x80 / 4 - entry.len(), B_SELF);
    }
    code
}

/// Guest code as the bytes to copy into guest memory (little endian).
pub fn to_bytes(code: &[u32]) -> Vec<u8> {
    code.iter().flat_map(|w| w.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_the_assembler() {
        // Reference words from GNU as for aarch64.
        assert_eq!(movz(1, 0x1000, 1), 0xd2a2_0001); // movz x1, #0x1000, lsl #16
        assert_eq!(movz(0, 1, 0), 0xd280_0020); // movz x0, #1
        assert_eq!(movk(0, 0xc400, 1), 0xf2b8_8000); // movk x0, #0xc400, lsl #16
        assert_eq!(movk(2, 0xbeef, 3), 0xf2f7_dde2); // movk x2, #0xbeef, lsl #48
        assert_eq!(str_x(0, 1), 0xf900_0020); // str x0, [x1]
        assert_eq!(str_x(0, 9), 0xf900_0120); // str x0, [x9]
        assert_eq!(HVC_0, 0xd400_0002); // hvc #0
        assert_eq!(B_SELF, 0x1400_0000); // b .
        assert_eq!(B_BACK, 0x17ff_ffff); // b .-4
        assert_eq!(mrs(0, CNTVCT_EL0), 0xd53b_e040); // mrs x0, cntvct_el0
        assert_eq!(msr(CNTV_CVAL_EL0, 0), 0xd51b_e340); // msr cntv_cval_el0, x0
        assert_eq!(msr(CNTV_CTL_EL0, 0), 0xd51b_e320); // msr cntv_ctl_el0, x0
        assert_eq!(msr(ICC_SGI1R_EL1, 0), 0xd518_cba0); // msr icc_sgi1r_el1, x0
        assert_eq!(add_x(0, 0, 1), 0x8b01_0000); // add x0, x0, x1
        assert_eq!(ISB, 0xd503_3fdf); // isb
        assert_eq!(str_w(0, 2), 0xb900_0040); // str w0, [x2]
        assert_eq!(str_x_at(0, 1, 8), 0xf900_0420); // str x0, [x1, #8]
        assert_eq!(msr_daifclr(DAIF_A), 0xd503_44ff); // msr daifclr, #4
        assert_eq!(msr_daifset(DAIF_A), 0xd503_44df); // msr daifset, #4
        assert_eq!(ERET, 0xd69f_03e0); // eret
        assert_eq!(add_imm(5, 5, 1), 0x9100_04a5); // add x5, x5, #1
        assert_eq!(mrs(0, ISR_EL1), 0xd538_c100); // mrs x0, isr_el1
        assert_eq!(msr(VBAR_EL1, 0), 0xd518_c000); // msr vbar_el1, x0
        assert_eq!(mrs(11, CNTVCT_EL0), 0xd53b_e04b); // mrs x11, cntvct_el0
        assert_eq!(sub_x(12, 12, 11), 0xcb0b_018c); // sub x12, x12, x11
    }

    #[test]
    fn serror_vectors_are_where_vbar_points() {
        let code = serror_taker();
        let at = |off: u64| ((VECTORS_OFFSET + off) / 4) as usize;
        assert_eq!(code.len() as u64 * 4, VECTORS_OFFSET + 0x800);
        assert_eq!(
            &code[at(SERROR_VECTOR)..at(SERROR_VECTOR) + 2],
            &[add_imm(5, 5, 1), ERET]
        );
        assert_eq!(code[at(0x200)], movz(0, 0x200, 0));
        assert!(code[..at(0)].contains(&msr(VBAR_EL1, 0)));
        assert!(code[..at(0)].contains(&load_imm64(0, GUEST_BASE + VECTORS_OFFSET)[0]));
    }

    #[test]
    fn hvc_timer_loops_back_to_its_call() {
        let code = hvc_timer(SMCCC_VERSION);
        let back = *code.last().unwrap();
        // imm26, sign-extended: the branch goes back to the MOVZ of x0.
        let words = ((back << 6) as i32) >> 6;
        let target = (code.len() as i32 - 1 + words) as usize;
        assert_eq!(code[target], movz(0, 0, 0));
        assert_eq!(code[target + 6], HVC_0);
        assert_eq!(b(-1), 0x17ff_ffff);
    }

    #[test]
    fn load_imm64_covers_all_halfwords() {
        let v = 0x1122_3344_5566_7788u64;
        let words = load_imm64(3, v);
        let imm = |w: u32| u64::from((w >> 5) & 0xffff);
        let hw = |w: u32| (w >> 21) & 3;
        let rebuilt = words
            .iter()
            .fold(0u64, |acc, &w| acc | (imm(w) << (16 * hw(w))));
        assert_eq!(rebuilt, v);
        assert!(words.iter().all(|w| w & 0x1f == 3));
    }

    #[test]
    fn stages_spin_offset_is_the_final_branch() {
        let code = stages();
        assert_eq!(code[(stages_spin_offset() / 4) as usize], B_SELF);
        assert_eq!(code.last(), Some(&B_SELF));
    }

    #[test]
    fn resume_entry_is_where_psci_will_jump() {
        let code = system_suspend(0xc400_000e, 7);
        let entry = (RESUME_OFFSET / 4) as usize;
        assert_eq!(&code[entry..entry + 4], &load_imm64(9, MMIO_REPORT + 8));
        assert_eq!(code[entry + 4], str_x(0, 9));
        assert!((code.len() * 4) as u64 <= GUEST_SIZE);
    }

    #[test]
    fn call_loop_goes_back_to_its_hvc() {
        let code = call_loop();
        assert_eq!(code[4], HVC_0);
        assert_eq!(code[5], str_x(0, 9));
        assert_eq!(code[6], b(-2));
        let p = psci_caller(0x8400_0002);
        assert_eq!(p[(ENTRY_A / 4) as usize], load_imm64(9, REPORT_A)[0]);
        assert_eq!(p[(ENTRY_B / 4) as usize], load_imm64(9, REPORT_B)[0]);
    }

    #[test]
    fn x0_entry_goes_to_the_loop() {
        let code = call_loop_x0_entry();
        let at = (X0_ENTRY / 4) as usize;
        assert_eq!(code[at..at + 4], load_imm64(10, X0_REPORT));
        assert_eq!(code[at + 4], str_x(0, 10));
        let words = ((code[at + 5] << 6) as i32) >> 6;
        assert_eq!(at as i32 + 5 + words, 0);
        assert!(code[call_loop().len()..at].iter().all(|&w| w == 0));
    }

    #[test]
    fn vectors_branch_to_the_target() {
        let code = vector_table(0, GUEST_BASE);
        assert_eq!(code.len() * 4, 0x800);
        assert_eq!(mrs(11, ELR_EL1), 0xd538_402b); // mrs x11, elr_el1
        for off in (0..0x800usize).step_by(0x80) {
            let at = off / 4 + 6;
            let words = ((code[at] << 6) as i32) >> 6;
            assert_eq!(off as i64 + 4 * (6 + words as i64), GUEST_BASE as i64);
        }
    }
}
