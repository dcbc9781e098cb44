// SPDX-License-Identifier: GPL-2.0
//! Guest code of the benches: hypercalls the guest times itself with its
//! virtual count, reporting the ticks on `MMIO_REPORT`.

use super::{b, load_imm64, mrs, str_x, str_x_at, sub_x, CNTVCT_EL0, HVC_0, ISB, MMIO_REPORT};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::movz;

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
}
