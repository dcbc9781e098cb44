// SPDX-License-Identifier: GPL-2.0
//! Guest code of the vGIC cases: an SGI sender, and a guest that turns its
//! distributor off and on again.

use super::{load_imm64, movz, msr, stages, str_w, str_x, B_SELF, ICC_SGI1R_EL1, ISB, MMIO_REPORT};

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
