// SPDX-License-Identifier: GPL-2.0
//! Guest code of the suspend cases: reports on `MMIO_REPORT`, PSCI
//! `SYSTEM_SUSPEND` with its resume entry, an MMIO loop, the virtual timer.

use super::{
    add_x, load_imm64, movz, mrs, msr, str_x, B_BACK, B_SELF, CNTVCT_EL0, CNTV_CTL_EL0,
    CNTV_CVAL_EL0, GUEST_BASE, HVC_0, ISB, MMIO_REPORT, RESUME_OFFSET,
};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::GUEST_SIZE;

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
}
