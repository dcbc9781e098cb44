// SPDX-License-Identifier: GPL-2.0
//! AArch64 instructions encoded by hand (Arm ARM C6): the encoders and the
//! system registers the guest code reads and writes.

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

/// `LDR Xt, [Xn]`.
pub const fn ldr_x(rt: u32, rn: u32) -> u32 {
    0xf940_0000 | (rn << 5) | rt
}

/// `MOV Xd, Xm` (`ORR Xd, XZR, Xm`).
pub const fn mov_x(rd: u32, rm: u32) -> u32 {
    0xaa00_03e0 | (rm << 16) | rd
}

/// `CMP Xn, Xm` (`SUBS XZR, Xn, Xm`).
pub const fn cmp_x(rn: u32, rm: u32) -> u32 {
    0xeb00_001f | (rm << 16) | (rn << 5)
}

/// `CMP Xn, #imm12` (`SUBS XZR, Xn, #imm12`).
pub const fn cmp_imm(rn: u32, imm12: u32) -> u32 {
    0xf100_001f | (imm12 << 10) | (rn << 5)
}

/// `B.NE` to `words` instructions away (negative: backwards).
pub const fn b_ne(words: i32) -> u32 {
    0x5400_0001 | (((words as u32) & 0x7_ffff) << 5)
}

/// `CBNZ Xt` to `words` instructions away.
pub const fn cbnz(rt: u32, words: i32) -> u32 {
    0xb500_0000 | (((words as u32) & 0x7_ffff) << 5) | rt
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

/// `ELR_EL1`: where an exception to EL1 was taken from.
pub const ELR_EL1: SysReg = [3, 0, 4, 0, 1];

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

/// An EL1 vector table (`VBAR_EL1`, 2 KiB): the code of `entry(off)` at each of the 16 entries'
/// offsets, 0 to 0x780, each padded with `B .` to its 0x80 bytes. An entry longer than its
/// slot is a bug in the test.
pub fn el1_vectors(mut entry: impl FnMut(u64) -> Vec<u32>) -> Vec<u32> {
    const SLOT: usize = 0x80 / 4;
    let mut code = Vec::with_capacity(16 * SLOT);
    for off in (0..0x800u64).step_by(0x80) {
        let words = entry(off);
        assert!(
            words.len() <= SLOT,
            "vector entry {off:#x}: {} instructions",
            words.len()
        );
        code.extend(&words);
        code.resize(code.len() + SLOT - words.len(), B_SELF);
    }
    code
}

/// Loads a 64-bit value into `Xd`: MOVZ then three MOVK.
pub fn load_imm64(rd: u32, value: u64) -> [u32; 4] {
    [
        movz(rd, value as u16, 0),
        movk(rd, (value >> 16) as u16, 1),
        movk(rd, (value >> 32) as u16, 2),
        movk(rd, (value >> 48) as u16, 3),
    ]
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
        assert_eq!(ldr_x(4, 13), 0xf940_01a4); // ldr x4, [x13]
        assert_eq!(cmp_x(4, 15), 0xeb0f_009f); // cmp x4, x15
        assert_eq!(cmp_imm(0, 1), 0xf100_041f); // cmp x0, #1
        assert_eq!(b_ne(-2), 0x54ff_ffc1); // b.ne .-8
        assert_eq!(cbnz(0, 4), 0xb500_0080); // cbnz x0, .+16
        assert_eq!(mov_x(3, 15), 0xaa0f_03e3); // mov x3, x15
        assert_eq!(add_imm(15, 15, 1), 0x9100_05ef); // add x15, x15, #1
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
}
