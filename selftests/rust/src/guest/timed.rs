// SPDX-License-Identifier: GPL-2.0
//! Guest code of the benches: hypercalls the guest times itself with its
//! virtual count, reporting the ticks on `MMIO_REPORT`.

use super::{
    add_imm, b, b_ne, cbnz, cmp_imm, cmp_x, ldr_x, load_imm64, mov_x, movz, mrs, str_x, str_x_at,
    sub_x, B_SELF, CNTVCT_EL0, GUEST_BASE, HVC_0, ISB, MMIO_REPORT,
};
use crate::psci::fid;

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
    hvc_timer_args(fn_id, &[])
}

/// `hvc_timer()` of a call with arguments: before each `HVC #0`, x1, x2..
/// get `args` (at most three: the loop keeps x9-x12) after x0 gets `fn_id`.
pub fn hvc_timer_args(fn_id: u32, args: &[u64]) -> Vec<u32> {
    assert!(args.len() <= 3, "hvc_timer_args: x1-x3 only");
    let load_call = |code: &mut Vec<u32>| {
        code.extend(load_imm64(0, fn_id.into()));
        for (r, &a) in (1..).zip(args) {
            code.extend(load_imm64(r, a));
        }
    };
    let mut code = load_imm64(10, MMIO_REPORT).to_vec();
    load_call(&mut code);
    code.extend([HVC_0, str_x_at(0, 10, 8)]);
    let start = code.len();
    load_call(&mut code);
    code.extend([ISB, mrs(11, CNTVCT_EL0), HVC_0, ISB, mrs(12, CNTVCT_EL0)]);
    code.extend([sub_x(12, 12, 11), str_x(12, 10)]);
    code.push(b(start as i32 - code.len() as i32));
    code
}

/// Offset in guest memory of `cpu_on_timer()`'s entry point for the vCPU
/// it turns on.
pub const CPU_ON_ENTRY: u64 = 0x200;
/// Offset in guest memory of the flag the vCPU turned on by
/// `cpu_on_timer()` writes first thing (the context id it got, in x0).
pub const CPU_ON_FLAG: u64 = 0x1000;
/// Where `cpu_on_timer()` reports the x0 of a CPU_ON that failed.
pub const CPU_ON_ERR_REPORT: u64 = MMIO_REPORT + 8;
/// Where the vCPU turned on by `cpu_on_timer()` reports the x0 of a
/// CPU_OFF that returned.
pub const CPU_OFF_ERR_REPORT: u64 = MMIO_REPORT + 24;

/// "CPU_ON timer", for a VM whose vCPU 0 runs it and whose vCPU of MPIDR
/// `target` starts powered off. Each round, vCPU 0 turns the target on with
/// CPU_ON (SMC64) at `CPU_ON_ENTRY`, the round number as context id, reads
/// the virtual count before the call and again once it sees the round
/// number in the flag at `CPU_ON_FLAG`, which the target stores first
/// thing, and reports the difference at `MMIO_REPORT`; the `KVM_RUN` after
/// the report goes on: vCPU 0 calls AFFINITY_INFO (SMC64, level 0) until
/// the target is OFF again, which it makes itself with CPU_OFF right after
/// its store. A CPU_ON that fails reports its x0 at `CPU_ON_ERR_REPORT`.
///
/// ```text
///     mov  x10, #MMIO_REPORT
///     mov  x13, #(GUEST_BASE + CPU_ON_FLAG)
///     mov  x15, #0
/// 1:  add  x15, x15, #1
///     mov  x0, #CPU_ON64 ; mov x1, #target
///     mov  x2, #(GUEST_BASE + CPU_ON_ENTRY) ; mov x3, x15
///     isb
///     mrs  x11, cntvct_el0
///     hvc  #0
///     cbnz x0, 4f
/// 2:  ldr  x4, [x13]
///     cmp  x4, x15
///     b.ne 2b
///     isb
///     mrs  x12, cntvct_el0
///     sub  x12, x12, x11
///     str  x12, [x10]
/// 3:  mov  x0, #AFFINITY_INFO64 ; mov x1, #target ; mov x2, #0
///     hvc  #0
///     cmp  x0, #1            // OFF
///     b.ne 3b
///     b    1b
/// 4:  str  x0, [x10, #8]
///     b    .
/// CPU_ON_ENTRY:
///     mov  x13, #(GUEST_BASE + CPU_ON_FLAG)
///     str  x0, [x13]         // x0 = the context id, the round
///     mov  x0, #CPU_OFF ; hvc #0
///     mov  x9, #CPU_OFF_ERR_REPORT ; str x0, [x9]
///     b    .
/// ```
pub fn cpu_on_timer(target: u64) -> Vec<u32> {
    let mut code = load_imm64(10, MMIO_REPORT).to_vec();
    code.extend(load_imm64(13, GUEST_BASE + CPU_ON_FLAG));
    code.push(movz(15, 0, 0));
    let round = code.len();
    code.push(add_imm(15, 15, 1));
    code.extend(load_imm64(0, fid::CPU_ON64.into()));
    code.extend(load_imm64(1, target));
    code.extend(load_imm64(2, GUEST_BASE + CPU_ON_ENTRY));
    code.extend([mov_x(3, 15), ISB, mrs(11, CNTVCT_EL0), HVC_0]);
    let cbnz_at = code.len();
    code.push(0); // cbnz x0, 4f: patched below
    let poll = code.len();
    code.extend([ldr_x(4, 13), cmp_x(4, 15), b_ne(-2)]);
    debug_assert_eq!(code.len() - poll, 3);
    code.extend([ISB, mrs(12, CNTVCT_EL0), sub_x(12, 12, 11), str_x(12, 10)]);
    let off = code.len();
    code.extend(load_imm64(0, fid::AFFINITY_INFO64.into()));
    code.extend(load_imm64(1, target));
    code.extend([movz(2, 0, 0), HVC_0, cmp_imm(0, 1)]);
    code.push(b_ne(off as i32 - code.len() as i32));
    code.push(b(round as i32 - code.len() as i32));
    code[cbnz_at] = cbnz(0, (code.len() - cbnz_at) as i32);
    code.extend([str_x_at(0, 10, 8), B_SELF]);
    code.resize((CPU_ON_ENTRY / 4) as usize, B_SELF);
    code.extend(load_imm64(13, GUEST_BASE + CPU_ON_FLAG));
    code.push(str_x(0, 13));
    code.extend(load_imm64(0, fid::CPU_OFF.into()));
    code.push(HVC_0);
    code.extend(load_imm64(9, CPU_OFF_ERR_REPORT));
    code.extend([str_x(0, 9), B_SELF]);
    code
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn hvc_timer_args_loads_them_before_each_call() {
        let code = hvc_timer_args(0xc400_0004, &[1, 0]);
        let back = *code.last().unwrap();
        let words = ((back << 6) as i32) >> 6;
        let target = (code.len() as i32 - 1 + words) as usize;
        assert_eq!(code[target..target + 4], load_imm64(0, 0xc400_0004));
        assert_eq!(code[target + 4..target + 8], load_imm64(1, 1));
        assert_eq!(code[target + 8..target + 12], load_imm64(2, 0));
        assert_eq!(code[target + 14], HVC_0);
        assert_eq!(hvc_timer(SMCCC_VERSION), hvc_timer_args(SMCCC_VERSION, &[]));
    }

    #[test]
    fn cpu_on_timer_branches_land_where_they_should() {
        let code = cpu_on_timer(1);
        // imm19 of B.cond and CBNZ, sign-extended.
        let imm19 = |w: u32| (((w >> 5) & 0x7_ffff) << 13) as i32 >> 13;
        let imm26 = |w: u32| ((w << 6) as i32) >> 6;
        let at = |i: usize, words: i32| (i as i32 + words) as usize;
        let cbnz_at = code
            .iter()
            .position(|&w| w & 0xff00_0000 == 0xb500_0000)
            .unwrap();
        let fail = at(cbnz_at, imm19(code[cbnz_at]));
        assert_eq!(code[fail], str_x_at(0, 10, 8));
        assert_eq!(code[cbnz_at + 1], ldr_x(4, 13));
        assert_eq!(
            code[at(cbnz_at + 3, imm19(code[cbnz_at + 3]))],
            ldr_x(4, 13)
        );
        let round = code.iter().position(|&w| w == add_imm(15, 15, 1)).unwrap();
        // The round ends just before the failure path: b 1b, after b.ne 3b.
        let b_round = fail - 1;
        assert_eq!(at(b_round, imm26(code[b_round])), round);
        let b_off = b_round - 1;
        assert_eq!(
            code[at(b_off, imm19(code[b_off]))..][..4],
            load_imm64(0, 0xc400_0004)
        );
        let entry = (CPU_ON_ENTRY / 4) as usize;
        assert_eq!(
            code[entry..entry + 4],
            load_imm64(13, GUEST_BASE + CPU_ON_FLAG)
        );
        assert_eq!(code[entry + 4], str_x(0, 13));
        assert!(CPU_ON_FLAG >= 4 * code.len() as u64);
    }
}
