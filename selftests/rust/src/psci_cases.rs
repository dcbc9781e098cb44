// SPDX-License-Identifier: GPL-2.0
//! PSCI cases upstream's arm64/psci_test.c leaves out, each answer (x0,
//! x1-x3 and every vCPU's `KVM_GET_MP_STATE`) as 7.3.4's
//! arch/arm64/kvm/psci.c gives it: CPU_ON of a vCPU that is on, of unknown
//! and out-of-mask MPIDRs, under PSCI 0.1; AFFINITY_INFO at every level;
//! SMC32's truncation of x1-x3 (and SMC64's lack of it); CPU_OFF then
//! CPU_ON with a new entry and context id; PSCI_FEATURES of every function
//! id per PSCI version; SYSTEM_SUSPEND from the call to the resume at the
//! entry point, and its denial. The guest is `guest::psci_caller()`: vCPU
//! 0 makes the calls, x0-x3 set by the host.

use kvm_bindings::{
    KVM_MP_STATE_RUNNABLE as ON, KVM_MP_STATE_STOPPED as OFF, KVM_MP_STATE_SUSPENDED as SUSP,
    KVM_REG_ARM64, KVM_REG_ARM_FW, KVM_REG_SIZE_U64, KVM_SYSTEM_EVENT_SUSPEND,
};

use crate::guest::{self, CALL_REPORT, ENTRY_A, ENTRY_B, GUEST_BASE, REPORT_A, REPORT_B};
use crate::psci::{self, fid, ret, CoreState, Decision, RESUME_PSTATE};
use crate::psci_call::{
    args_of, expect_states, run_watched, set_args, show_args, show_ret, show_states, states,
};
use crate::vm::{
    ensure, expect_eintr, expect_mmio, expect_wakeup, irq_line_raw, pc_reg, pstate_reg,
    run_in_thread, scribble_system_event, sys_reg, xreg, Exit, TestResult, TestVm, VmOpts, Waits,
};

/// `KVM_REG_ARM_PSCI_VERSION`: the VM's PSCI version, firmware register 0.
pub const PSCI_VERSION_REG: u64 = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_FW as u64;
/// `MPIDR_EL1` (op0 3, op1 0, CRn 0, CRm 0, op2 5).
const MPIDR_EL1: [u64; 5] = [3, 0, 0, 0, 5];
/// MPIDR_EL1 bit 31, RES1: outside `MPIDR_HWID_BITMASK` (0xff00ffffff).
const MPIDR_RES1: u64 = 1 << 31;
/// Context ids the callers pass.
const CTX: u64 = 0xc0ff_ee00_1234_5678;
const CTX2: u64 = 0x5eed_0000_0000_0002;
/// Upper halves SMC32 calls must ignore.
const HIGH: u64 = 0xdead_beef_0000_0000;

/// A VM of `vcpus` vCPUs running `guest::psci_caller()`.
fn caller_vm(vcpus: usize, others_off: bool, system_suspend: bool) -> TestResult<TestVm> {
    TestVm::new(
        &guest::psci_caller(fid::CPU_OFF),
        VmOpts {
            vcpus,
            others_off,
            system_suspend,
            ..Default::default()
        },
    )
}

/// Makes the SMCCC call `args` from vCPU `i`, which runs the call loop,
/// and returns x0; fails unless the call returned to the guest with x1-x3
/// zeroed (`smccc_set_retval()`).
fn call(vm: &mut TestVm, i: usize, args: [u64; 4]) -> TestResult<u64> {
    set_args(vm, i, args)?;
    let what = format!("call from vCPU {i} with {}", show_args(&args));
    let w = run_watched(&mut vm.vcpus[i])?;
    let Exit::Mmio { addr, data } = w.exit else {
        return Err(format!(
            "{what}: expected the guest's report of x0, KVM_RUN gave {} (signalled: {}); {}",
            w.exit,
            w.signalled,
            show_states(&states(vm)?)
        ));
    };
    let regs = args_of(vm, i)?;
    ensure(addr == CALL_REPORT && regs[1..] == [0, 0, 0], || {
        format!(
            "{what}: expected the report at {CALL_REPORT:#x} with x1-x3 zeroed, got a write to {addr:#x}, {}",
            show_args(&regs)
        )
    })?;
    Ok(data)
}

/// [`call`] from vCPU 0, expecting `want` in x0 and the mp_states `after`.
fn expect_call(vm: &mut TestVm, args: [u64; 4], want: u64, after: &[u32]) -> TestResult {
    let got = call(vm, 0, args)?;
    let what = format!("call with {}", show_args(&args));
    ensure(got == want, || {
        format!(
            "{what}: expected x0 = {}, got {}; {}",
            show_ret(want),
            show_ret(got),
            states(vm).map_or_else(|e| e, |s| show_states(&s))
        )
    })?;
    expect_states(vm, after, &what)
}

/// Runs vCPU `i` and expects it to write `value` to `addr`.
fn expect_report(vm: &mut TestVm, i: usize, addr: u64, value: u64) -> TestResult {
    let w = run_watched(&mut vm.vcpus[i])?;
    expect_mmio(&w.exit, addr, value).map_err(|e| {
        let s = states(vm).map_or_else(|e| e, |s| show_states(&s));
        format!("vCPU {i}: {e}; {s}")
    })
}

pub fn psci_cpu_on_already_on() -> TestResult {
    let mut vm = caller_vm(2, false, false)?;
    let entry = GUEST_BASE + ENTRY_B;
    for f in [fid::CPU_ON64, fid::CPU_ON] {
        expect_call(
            &mut vm,
            [f.into(), 1, entry, CTX],
            ret::ALREADY_ON,
            &[ON, ON],
        )?;
        // The caller itself is on as well.
        expect_call(
            &mut vm,
            [f.into(), 0, entry, CTX],
            ret::ALREADY_ON,
            &[ON, ON],
        )?;
    }
    // vCPU 1 was not reset to the entry point: it still runs the call loop.
    let v = call(&mut vm, 1, [fid::PSCI_VERSION.into(), 0, 0, 0])?;
    ensure(v == 0x1_0003, || {
        format!("PSCI_VERSION from vCPU 1: expected 0x10003 (1.3), got {v:#x}")
    })
}

pub fn psci_0_1_cpu_on() -> TestResult {
    let mut vm = TestVm::new(
        &guest::psci_caller(fid::KVM_0_1_CPU_OFF),
        VmOpts {
            vcpus: 2,
            others_off: true,
            psci_0_1: true,
            ..Default::default()
        },
    )?;
    let version = vm.get_reg(0, PSCI_VERSION_REG)?;
    ensure(version == 1, || {
        format!("KVM_REG_ARM_PSCI_VERSION without KVM_ARM_VCPU_PSCI_0_2: expected 0x1 (0.1), got {version:#x}")
    })?;
    let on = fid::KVM_0_1_CPU_ON.into();
    let entry = GUEST_BASE + ENTRY_B;
    // Already on, under PSCI 0.1: INVALID_PARAMS, not ALREADY_ON.
    expect_call(
        &mut vm,
        [on, 0, entry, CTX],
        ret::INVALID_PARAMS,
        &[ON, OFF],
    )?;
    // The 0.2 ids are not there.
    for f in [fid::CPU_ON64, fid::CPU_ON, fid::PSCI_VERSION] {
        expect_call(
            &mut vm,
            [f.into(), 1, entry, CTX],
            ret::NOT_SUPPORTED,
            &[ON, OFF],
        )?;
    }
    expect_call(&mut vm, [on, 1, entry, CTX], ret::SUCCESS, &[ON, ON])?;
    expect_report(&mut vm, 1, REPORT_B, CTX)?;
    expect_call(
        &mut vm,
        [on, 1, entry, CTX2],
        ret::INVALID_PARAMS,
        &[ON, ON],
    )
}

pub fn psci_cpu_on_bad_mpidr() -> TestResult {
    let mut vm = caller_vm(2, true, false)?;
    let entry = GUEST_BASE + ENTRY_B;
    // Unknown MPIDRs: Aff0 2 and 15, Aff1 1, Aff2 1; Aff3 1 (SMC64 only:
    // SMC32 keeps the lower half, vCPU 0's MPIDR).
    let unknown = [2, 0xf, 0x100, 0x1_0000];
    // vCPU 1's with bits outside MPIDR_HWID_BITMASK: RES1 bit 31, bit 24,
    // bits above Aff3 (SMC64 only).
    let out32 = [1 | MPIDR_RES1, 1 | 1 << 24, 1 | 0xff00_0000];
    let out64 = [0x1_0000_0000, 1 | 1 << 40, 1 | 1 << 63];
    for (f, targets) in [
        (fid::CPU_ON64, [&unknown[..], &out32, &out64].concat()),
        (fid::CPU_ON, [&unknown[..], &out32].concat()),
    ] {
        for t in targets {
            // vCPU 1 stays off: not powered on by a near miss.
            expect_call(
                &mut vm,
                [f.into(), t, entry, CTX],
                ret::INVALID_PARAMS,
                &[ON, OFF],
            )?;
        }
    }
    expect_call(
        &mut vm,
        [fid::CPU_ON64.into(), 1, entry, CTX],
        ret::SUCCESS,
        &[ON, ON],
    )?;
    expect_report(&mut vm, 1, REPORT_B, CTX)
}

/// The MPIDRs of `psci_affinity_info_levels`' vCPUs: vCPU 1 is the target;
/// vCPU 2 shares its Aff1-Aff3, vCPU 3 its Aff2-Aff3, vCPU 0 (the caller)
/// its Aff3 only.
const AFF_LAYOUT: [u64; 4] = [0x0002_0101, 0x0001_0101, 0x0001_0102, 0x0001_0201];

/// AFFINITY_INFO of `target` at `level`, SMC64, then SMC32 with garbage in
/// the upper halves of x1 and x2 (which it must ignore).
fn expect_affinity(vm: &mut TestVm, target: u64, level: u64, want: u64) -> TestResult {
    let after = states(vm)?;
    let f64 = fid::AFFINITY_INFO64.into();
    let f32 = fid::AFFINITY_INFO.into();
    expect_call(vm, [f64, target, level, 0], want, &after)
        .and_then(|()| expect_call(vm, [f32, target | HIGH, level | HIGH, 0], want, &after))
        .map_err(|e| format!("AFFINITY_INFO({target:#x}, level {level}): {e}"))
}

pub fn psci_affinity_info_levels() -> TestResult {
    let mut vm = caller_vm(4, true, false)?;
    for (i, mpidr) in AFF_LAYOUT.iter().enumerate() {
        vm.set_reg(i, sys_reg(MPIDR_EL1), mpidr | MPIDR_RES1)
            .map_err(|e| format!("MPIDR_EL1 of vCPU {i}: {e}"))?;
    }
    let t = AFF_LAYOUT[1];
    // Only the caller is on: it shares Aff3 alone.
    for (level, want) in [(0, ret::AFF_OFF), (1, ret::AFF_OFF), (2, ret::AFF_OFF)] {
        expect_affinity(&mut vm, t, level, want)?;
    }
    expect_affinity(&mut vm, t, 3, ret::AFF_ON)?;
    for level in [4, 5, 0xff] {
        expect_affinity(&mut vm, t, level, ret::INVALID_PARAMS)?;
    }
    // Power the others on one by one, the farthest first.
    vm.set_state(3, ON)?;
    expect_affinity(&mut vm, t, 2, ret::AFF_ON)?;
    expect_affinity(&mut vm, t, 1, ret::AFF_OFF)?;
    vm.set_state(2, ON)?;
    expect_affinity(&mut vm, t, 1, ret::AFF_ON)?;
    expect_affinity(&mut vm, t, 0, ret::AFF_OFF)?;
    vm.set_state(1, ON)?;
    expect_affinity(&mut vm, t, 0, ret::AFF_ON)?;
    vm.set_state(1, OFF)?;
    expect_affinity(&mut vm, t, 0, ret::AFF_OFF)?;
    // No vCPU has Aff0 3 there; at level 1 the cluster matches.
    expect_affinity(&mut vm, 0x0001_0103, 0, ret::INVALID_PARAMS)?;
    expect_affinity(&mut vm, 0x0001_0103, 1, ret::AFF_ON)?;
    expect_affinity(&mut vm, 0x0003_0000, 2, ret::INVALID_PARAMS)?;
    expect_affinity(&mut vm, t | MPIDR_RES1, 0, ret::INVALID_PARAMS)?;
    // SMC64 does not truncate: bits above Aff3, or a level beyond 32 bits.
    let after = states(&vm)?;
    let f64: u64 = fid::AFFINITY_INFO64.into();
    expect_call(
        &mut vm,
        [f64, t | 1 << 40, 0, 0],
        ret::INVALID_PARAMS,
        &after,
    )?;
    expect_call(&mut vm, [f64, t, 1 << 32, 0], ret::INVALID_PARAMS, &after)
}

pub fn psci_smc32_truncates() -> TestResult {
    let mut vm = caller_vm(3, true, false)?;
    let entry = GUEST_BASE + ENTRY_B;
    let ctx = 0x1234_5678_9abc_def0;
    // SMC64: vCPU 1 with garbage above is no MPIDR.
    let on64: u64 = fid::CPU_ON64.into();
    expect_call(
        &mut vm,
        [on64, 1 | HIGH, entry, ctx],
        ret::INVALID_PARAMS,
        &[ON, OFF, OFF],
    )?;
    // SMC32: Aff3 1 is vCPU 0 (Aff3 0) once x1 is narrowed, which is on.
    let on32: u64 = fid::CPU_ON.into();
    let args = [on32, 0x1_0000_0000, entry, ctx];
    expect_call(&mut vm, args, ret::ALREADY_ON, &[ON, OFF, OFF])?;
    // SMC32: x1-x3 act by their lower halves, and the function id by x0's.
    let args = [on32 | 0xffff_ffff_0000_0000, 1 | HIGH, entry | HIGH, ctx];
    expect_call(&mut vm, args, ret::SUCCESS, &[ON, ON, OFF])?;
    expect_report(&mut vm, 1, REPORT_B, ctx & 0xffff_ffff)?;
    // SMC64 keeps the whole context id.
    expect_call(&mut vm, [on64, 2, entry, ctx], ret::SUCCESS, &[ON, ON, ON])?;
    expect_report(&mut vm, 2, REPORT_B, ctx)
}

pub fn psci_cpu_off_then_on() -> TestResult {
    let mut vm = caller_vm(2, true, false)?;
    let on64: u64 = fid::CPU_ON64.into();
    expect_call(&mut vm, [on64, 1, GUEST_BASE + ENTRY_A, CTX], 0, &[ON, ON])?;
    expect_report(&mut vm, 1, REPORT_A, CTX)?;
    // vCPU 1 calls CPU_OFF: its KVM_RUN sleeps until signalled.
    let w = run_watched(&mut vm.vcpus[1])?;
    ensure(w.asleep, || {
        format!(
            "vCPU 1's CPU_OFF: expected KVM_RUN to sleep, got {}",
            w.exit
        )
    })?;
    expect_eintr(&w.exit)?;
    expect_states(&vm, &[ON, OFF], "vCPU 1's CPU_OFF")?;
    let x0 = vm.get_reg(1, xreg(0))?;
    ensure(x0 == ret::SUCCESS, || {
        format!(
            "vCPU 1's x0 after CPU_OFF: expected 0, got {}",
            show_ret(x0)
        )
    })?;
    let aff: u64 = fid::AFFINITY_INFO64.into();
    expect_call(&mut vm, [aff, 1, 0, 0], ret::AFF_OFF, &[ON, OFF])?;
    // On again, elsewhere, with a new context id.
    expect_call(&mut vm, [on64, 1, GUEST_BASE + ENTRY_B, CTX2], 0, &[ON, ON])?;
    expect_report(&mut vm, 1, REPORT_B, CTX2)?;
    expect_call(&mut vm, [aff, 1, 0, 0], ret::AFF_ON, &[ON, ON])
}

/// The ids PSCI_FEATURES is asked about: every id of both PSCI ranges,
/// the SMCCC ones, KVM's PSCI 0.1 ones, and a few others.
fn feature_ids() -> Vec<u32> {
    let mut ids: Vec<u32> = (0..0x20)
        .flat_map(|n| [0x8400_0000 | n, 0xc400_0000 | n])
        .collect();
    ids.extend([fid::SMCCC_VERSION, fid::SMCCC_ARCH_FEATURES]);
    ids.extend((0..5).map(|n| fid::KVM_0_1_BASE + n));
    ids.extend([0x8400_0020, 0x0400_0003, 0x1234_5678, u32::MAX]);
    ids
}

/// PSCI_FEATURES and PSCI_VERSION on a VM of PSCI 1.`minor` (`set`: by
/// the firmware register, else KVM's default) with or without
/// `KVM_CAP_ARM_SYSTEM_SUSPEND`.
fn features_on(minor: u32, set: bool, cap: bool) -> TestResult {
    let mut vm = caller_vm(1, false, cap)?;
    if set {
        vm.set_reg(0, PSCI_VERSION_REG, 0x1_0000 | u64::from(minor))?;
    }
    let version = call(&mut vm, 0, [fid::PSCI_VERSION.into(), 0, 0, 0])?;
    ensure(version == 0x1_0000 | u64::from(minor), || {
        format!("PSCI_VERSION: expected 1.{minor}, got {version:#x}")
    })?;
    for f in feature_ids() {
        let want = psci::features(f, minor, cap);
        expect_call(
            &mut vm,
            [fid::PSCI_FEATURES.into(), f.into(), 0, 0],
            want,
            &[ON],
        )?;
    }
    // The id is 32 bits: x1's upper half is ignored, as SMC32's is.
    let x1 = u64::from(fid::CPU_ON64) | HIGH;
    expect_call(&mut vm, [fid::PSCI_FEATURES.into(), x1, 0, 0], 0, &[ON])?;
    // PSCI_FEATURES has no SMC64 id.
    let x0 = u64::from(fid::PSCI_FEATURES) | 0x4000_0000;
    expect_call(
        &mut vm,
        [x0, fid::CPU_ON.into(), 0, 0],
        ret::NOT_SUPPORTED,
        &[ON],
    )
}

pub fn psci_features() -> TestResult {
    for (minor, set, cap) in [
        (3, false, true),
        (3, false, false),
        (0, true, true),
        (1, true, false),
        (2, true, true),
        (3, true, false),
    ] {
        features_on(minor, set, cap).map_err(|e| {
            format!("PSCI 1.{minor} (set: {set}), KVM_CAP_ARM_SYSTEM_SUSPEND {cap}: {e}")
        })?;
    }
    // PSCI 0.2 has no PSCI_FEATURES.
    let mut vm = caller_vm(1, false, true)?;
    vm.set_reg(0, PSCI_VERSION_REG, 2)?;
    expect_call(&mut vm, [fid::PSCI_VERSION.into(), 0, 0, 0], 2, &[ON])?;
    let feat = [fid::PSCI_FEATURES.into(), fid::CPU_ON.into(), 0, 0];
    expect_call(&mut vm, feat, ret::NOT_SUPPORTED, &[ON])?;
    let suspend = [fid::SYSTEM_SUSPEND64.into(), GUEST_BASE + ENTRY_B, CTX, 0];
    expect_call(&mut vm, suspend, ret::NOT_SUPPORTED, &[ON])
}

/// vCPU 0's SYSTEM_SUSPEND call `args`: expects the SUSPEND exit with the
/// event zeroed and x0-x3 as `regs` (the arguments, SMC32 ones narrowed),
/// every mp_state as `after`; returns the VMM's decision, which it carries out.
fn suspend_call(
    vm: &mut TestVm,
    args: [u64; 4],
    regs: [u64; 4],
    after: &[u32],
) -> TestResult<Decision> {
    set_args(vm, 0, args)?;
    scribble_system_event(&mut vm.vcpus[0]);
    let w = run_watched(&mut vm.vcpus[0])?;
    let want = Exit::SystemEvent {
        kind: KVM_SYSTEM_EVENT_SUSPEND,
        ndata: 0,
        data_zero: true,
    };
    ensure(w.exit == want, || {
        format!(
            "SYSTEM_SUSPEND with {}: expected {want}, got {}",
            show_args(&args),
            w.exit
        )
    })?;
    let got = args_of(vm, 0)?;
    ensure(got == regs, || {
        format!(
            "after the SUSPEND exit: expected {}, got {}",
            show_args(&regs),
            show_args(&got)
        )
    })?;
    expect_states(vm, after, "the SUSPEND exit")?;
    let cores: Vec<CoreState> = after
        .iter()
        .map(|&s| match s {
            OFF => CoreState::Off,
            SUSP => CoreState::Suspended,
            _ => CoreState::On,
        })
        .collect();
    let d = psci::system_suspend(&cores, 0, got[1], got[2]);
    match d {
        Decision::Denied => vm.set_reg(0, xreg(0), psci::PSCI_RET_DENIED)?,
        Decision::Suspend { .. } => vm.set_state(0, SUSP)?,
    }
    Ok(d)
}

/// The whole chain on a fresh VM, vCPU 1 off: SYSTEM_SUSPEND `args`, the
/// SUSPEND exit with `regs`, KVM_MP_STATE_SUSPENDED, an IRQ line wakes it,
/// and the VMM resumes it at the entry point with the context id in x0.
fn suspend_chain(args: [u64; 4], regs: [u64; 4]) -> TestResult {
    let mut vm = caller_vm(2, true, true)?;
    let d = suspend_call(&mut vm, args, regs, &[ON, OFF])?;
    let (entry, ctx) = (regs[1], regs[2]);
    ensure(
        d == Decision::Suspend {
            entry,
            context_id: ctx,
        },
        || format!("the VMM should suspend vCPU 0, decided {d:?}"),
    )?;
    expect_states(&vm, &[SUSP, OFF], "KVM_SET_MP_STATE(SUSPENDED)")?;
    let TestVm {
        vm: vmfd, vcpus, ..
    } = &mut vm;
    let r = run_in_thread(&mut vcpus[0], Waits::Blocking, || {
        irq_line_raw(vmfd, 0, true)?;
        Ok(true)
    })?;
    ensure(r.blocked, || {
        format!(
            "suspended vCPU 0: expected KVM_RUN to block, got {:?}",
            r.exit
        )
    })?;
    expect_wakeup(&r.exit)?;
    expect_states(&vm, &[SUSP, OFF], "the WAKEUP exit")?;
    vm.irq_line(0, false)?;
    vm.set_reg(0, pc_reg(), entry)?;
    vm.set_reg(0, xreg(0), ctx)?;
    vm.set_reg(0, pstate_reg(), RESUME_PSTATE)?;
    vm.set_state(0, ON)?;
    expect_report(&mut vm, 0, REPORT_B, ctx)?;
    expect_states(&vm, &[ON, OFF], "the resume")
}

pub fn psci_suspend_chain() -> TestResult {
    let entry = GUEST_BASE + ENTRY_B;
    let f64: u64 = fid::SYSTEM_SUSPEND64.into();
    let x3 = 0xaaaa_bbbb_cccc_dddd;
    suspend_chain([f64, entry, CTX, x3], [f64, entry, CTX, x3])
        .map_err(|e| format!("SMC64: {e}"))?;
    let f32: u64 = fid::SYSTEM_SUSPEND.into();
    let narrow = |v: u64| v & 0xffff_ffff;
    suspend_chain(
        [f32, entry | HIGH, CTX, x3],
        [f32, entry, narrow(CTX), narrow(x3)],
    )
    .map_err(|e| format!("SMC32: {e}"))?;
    // Without KVM_CAP_ARM_SYSTEM_SUSPEND the call returns NOT_SUPPORTED.
    let mut vm = caller_vm(2, true, false)?;
    expect_call(
        &mut vm,
        [f64, entry, CTX, x3],
        ret::NOT_SUPPORTED,
        &[ON, OFF],
    )
}

pub fn psci_suspend_denied_other_on() -> TestResult {
    let entry = GUEST_BASE + ENTRY_B;
    let args = [fid::SYSTEM_SUSPEND64.into(), entry, CTX, 0];
    let mut vm = caller_vm(2, false, true)?;
    for (other, name) in [(ON, "on"), (SUSP, "suspended")] {
        vm.set_state(1, other)?;
        let d = suspend_call(&mut vm, args, args, &[ON, other])?;
        ensure(d == Decision::Denied, || {
            format!("vCPU 1 {name}: expected DENIED, decided {d:?}")
        })?;
        // The guest goes on after its HVC and sees DENIED.
        expect_report(&mut vm, 0, CALL_REPORT, psci::PSCI_RET_DENIED)?;
        expect_states(&vm, &[ON, other], "the denied SYSTEM_SUSPEND")?;
        // Back to the loop's next call: the report's store completes.
        let v = call(&mut vm, 0, [fid::PSCI_VERSION.into(), 0, 0, 0])?;
        ensure(v == 0x1_0003, || {
            format!("PSCI_VERSION after the denial: got {v:#x}")
        })?;
    }
    Ok(())
}
