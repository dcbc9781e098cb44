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

/// `HVC #0`: the SMCCC conduit KVM uses for PSCI.
pub const HVC_0: u32 = 0xd400_0002;

/// `B .`: spin forever.
pub const B_SELF: u32 = 0x1400_0000;

/// `B .-4`: branch to the previous instruction.
pub const B_BACK: u32 = 0x17ff_ffff;

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
    fn resume_entry_is_where_psci_will_jump() {
        let code = system_suspend(0xc400_000e, 7);
        let entry = (RESUME_OFFSET / 4) as usize;
        assert_eq!(&code[entry..entry + 4], &load_imm64(9, MMIO_REPORT + 8));
        assert_eq!(code[entry + 4], str_x(0, 9));
        assert!((code.len() * 4) as u64 <= GUEST_SIZE);
    }
}
