// SPDX-License-Identifier: GPL-2.0
//! Guest code of the SError cases: a vector table that counts SErrors, and
//! the sequence that unmasks them for one instruction.

use super::{
    add_imm, el1_vectors, load_imm64, movz, mrs, msr, msr_daifclr, msr_daifset, str_x, str_x_at,
    B_SELF, DAIF_A, ERET, GUEST_BASE, ISB, ISR_EL1, MMIO_REPORT, VBAR_EL1,
};

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
    code.extend(el1_vectors(|off| {
        if off == SERROR_VECTOR {
            vec![add_imm(5, 5, 1), ERET]
        } else {
            vec![movz(0, off as u16, 0), str_x_at(0, 1, 24), B_SELF]
        }
    }));
    code
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
