// SPDX-License-Identifier: GPL-2.0
//! Guest code of the PSCI cases: a loop of SMCCC calls whose arguments the
//! host sets, PSCI entry points that report x0, and a vector table that
//! turns an unexpected exception into an exit.

use super::{
    b, el1_vectors, load_imm64, mrs, str_x, B_SELF, ELR_EL1, HVC_0, MMIO_REPORT, RESUME_OFFSET,
};

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
    el1_vectors(|off| {
        let mut entry = vec![mrs(11, ELR_EL1)];
        entry.extend(load_imm64(10, VECTOR_REPORT + off));
        entry.push(str_x(11, 10));
        let here = base + off + 4 * entry.len() as u64;
        entry.push(b(((target as i64 - here as i64) / 4) as i32));
        entry
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::GUEST_BASE;

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
