// SPDX-License-Identifier: GPL-2.0
//! The test cases: the semantics of the C selftest, a second client of the
//! UAPI, plus PSCI SYSTEM_SUSPEND end to end and several vCPUs at once;
//! the cases with an in-kernel vGICv3 are in `vgic_cases.rs`, the injected
//! SError's in `serror_cases.rs`, the PSCI calls KVM answers itself in
//! `psci_cases.rs`.

use kvm_bindings::{
    KVM_MP_STATE_RUNNABLE, KVM_MP_STATE_STOPPED, KVM_MP_STATE_SUSPENDED, KVM_SYSTEM_EVENT_SUSPEND,
};

use crate::guest::{self, GUEST_BASE, MMIO_REPORT, RESUME_OFFSET};
use crate::model::{Model, OTHER_STATES};
use crate::psci::{self, CoreState, Decision, PSCI_RET_DENIED, RESUME_PSTATE};
use crate::{psci_cases, serror_cases, vgic_cases};
use std::time::Duration;

use crate::vm::{
    ensure, expect_eintr, expect_mmio, expect_wakeup, irq_line_raw, pc_reg, pstate_reg, run,
    run_bounded, run_in_thread, scribble_system_event, xreg, BlockedRun, RunThread, TestResult,
    TestVm, VcpuStats, VmOpts, Waits, BLOCKED,
};

/// At most this share of wall time may a blocked vCPU thread spend on CPU.
const MAX_BLOCKED_CPU_PERCENT: u128 = 10;

/// PSCI 1.0 SYSTEM_SUSPEND, SMC64 calling convention: function 0x0e of the
/// PSCI range 0x84000000, with the SMC64 bit 0x40000000 (ARM DEN0022D 5.1,
/// PSCI_1_0_FN64_SYSTEM_SUSPEND in include/uapi/linux/psci.h).
pub const PSCI_1_0_FN64_SYSTEM_SUSPEND: u32 = 0x8400_0000 | 0x4000_0000 | 0x0e;

/// The context id the guest passes to SYSTEM_SUSPEND.
pub const CONTEXT_ID: u64 = 0xc0ff_ee00_1234_5678;

/// One case: its KTAP name and body.
pub type Case = (&'static str, fn() -> TestResult);

/// Every case, in order.
pub const CASES: &[Case] = &[
    ("set_get_suspended", set_get_suspended),
    ("blocks_without_cpu", blocks_without_cpu),
    ("irq_wakes_with_zeroed_event", irq_wakes_with_zeroed_event),
    ("signal_gives_eintr", signal_gives_eintr),
    ("sticky", sticky),
    ("runnable_resumes", runnable_resumes),
    ("invalid_state_einval", invalid_state_einval),
    ("transitions", transitions),
    ("psci_system_suspend", psci_system_suspend),
    ("psci_system_suspend_denied", psci_system_suspend_denied),
    ("multi_vcpu", multi_vcpu),
    (
        "reinit_before_run_clears_line",
        reinit_before_run_clears_line,
    ),
    ("reinit_keeps_raised_line", reinit_keeps_raised_line),
    ("line_raised_while_running", line_raised_while_running),
    (
        "serror_taken_no_wakeup",
        serror_cases::serror_taken_no_wakeup,
    ),
    ("vgic_spi_wakes", vgic_cases::vgic_spi_wakes),
    (
        "vgic_spi_disabled_no_wakeup",
        vgic_cases::vgic_spi_disabled_no_wakeup,
    ),
    (
        "vgic_dist_disabled_no_wakeup",
        vgic_cases::vgic_dist_disabled_no_wakeup,
    ),
    (
        "vgic_pmr_masked_no_wakeup",
        vgic_cases::vgic_pmr_masked_no_wakeup,
    ),
    (
        "vgic_dist_enabled_by_guest_wakes",
        vgic_cases::vgic_dist_enabled_by_guest_wakes,
    ),
    ("vgic_vtimer_wakes", vgic_cases::vgic_vtimer_wakes),
    (
        "vgic_sgi_from_other_vcpu",
        vgic_cases::vgic_sgi_from_other_vcpu,
    ),
    (
        "vgic_irqfd_spi_wakes_while_other_runs",
        vgic_cases::vgic_irqfd_spi_wakes_while_other_runs,
    ),
    (
        "vgic_signal_sticky_resume",
        vgic_cases::vgic_signal_sticky_resume,
    ),
    ("psci_cpu_on_already_on", psci_cases::psci_cpu_on_already_on),
    ("psci_0_1_cpu_on", psci_cases::psci_0_1_cpu_on),
    ("psci_cpu_on_bad_mpidr", psci_cases::psci_cpu_on_bad_mpidr),
    (
        "psci_affinity_info_levels",
        psci_cases::psci_affinity_info_levels,
    ),
    ("psci_smc32_truncates", psci_cases::psci_smc32_truncates),
    ("psci_cpu_off_then_on", psci_cases::psci_cpu_off_then_on),
    ("psci_features", psci_cases::psci_features),
    ("psci_suspend_chain", psci_cases::psci_suspend_chain),
    (
        "psci_suspend_denied_other_on",
        psci_cases::psci_suspend_denied_other_on,
    ),
];

fn one_vcpu() -> TestResult<TestVm> {
    TestVm::one(&guest::stages())
}

/// Runs vCPU 0 of `vm` to its next stage report and checks the stage.
pub fn expect_stage(vm: &mut TestVm, stage: u64) -> TestResult {
    let exit = run_bounded(&mut vm.vcpus[0], &format!("running to stage {stage}"))?;
    expect_mmio(&exit, MMIO_REPORT, stage)
}

/// Runs vCPU 0 with an event pending and expects a clean WAKEUP.
pub fn run_expect_wakeup(vm: &mut TestVm, i: usize) -> TestResult {
    scribble_system_event(&mut vm.vcpus[i]);
    let exit = run_bounded(&mut vm.vcpus[i], "with a wakeup event pending")?;
    expect_wakeup(&exit)
}

/// Runs vCPU `i` in a thread, expects it to wait (as `how` tells), signals
/// it, expects EINTR.
pub fn expect_blocks_then_eintr(vm: &mut TestVm, i: usize, how: Waits, what: &str) -> TestResult {
    let r = run_in_thread(&mut vm.vcpus[i], how, || Ok(false))?;
    ensure(r.blocked, || {
        format!(
            "{what}: expected KVM_RUN to block, it returned {:?}",
            r.exit
        )
    })?;
    expect_eintr(&r.exit)
}

fn set_get_suspended() -> TestResult {
    let vm = one_vcpu()?;
    vm.expect_state(0, KVM_MP_STATE_RUNNABLE)?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    vm.expect_state(0, KVM_MP_STATE_SUSPENDED)?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    vm.expect_state(0, KVM_MP_STATE_SUSPENDED)
}

fn blocks_without_cpu() -> TestResult {
    let mut vm = one_vcpu()?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    let r = run_in_thread(&mut vm.vcpus[0], Waits::Blocking, || {
        std::thread::sleep(4 * BLOCKED);
        Ok(false)
    })?;
    ensure(r.blocked, || {
        format!("expected KVM_RUN to block, it returned {:?}", r.exit)
    })?;
    println!(
        "# blocked vCPU thread: {} us CPU in {} us",
        r.cpu.as_micros(),
        r.wall.as_micros()
    );
    ensure(
        r.cpu.as_micros() * 100 <= r.wall.as_micros() * MAX_BLOCKED_CPU_PERCENT,
        || {
            format!(
            "blocked vCPU thread used {} us CPU in {} us, expected at most {MAX_BLOCKED_CPU_PERCENT}%",
            r.cpu.as_micros(),
            r.wall.as_micros()
        )
        },
    )?;
    expect_eintr(&r.exit)
}

fn irq_wakes_with_zeroed_event() -> TestResult {
    let mut vm = one_vcpu()?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    scribble_system_event(&mut vm.vcpus[0]);
    let r = run_until_irq(&mut vm)?;
    ensure(r.blocked, || {
        format!(
            "expected KVM_RUN to block before the IRQ, it returned {:?}",
            r.exit
        )
    })?;
    expect_wakeup(&r.exit)?;
    vm.expect_state(0, KVM_MP_STATE_SUSPENDED)
}

fn signal_gives_eintr() -> TestResult {
    let mut vm = one_vcpu()?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    expect_blocks_then_eintr(&mut vm, 0, Waits::Blocking, "suspended, nothing pending")?;
    vm.expect_state(0, KVM_MP_STATE_SUSPENDED)?;
    // Still suspended in fact, not only in name: a wakeup event exits.
    vm.irq_line(0, true)?;
    run_expect_wakeup(&mut vm, 0)
}

fn sticky() -> TestResult {
    let mut vm = one_vcpu()?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    vm.irq_line(0, true)?;
    for _ in 0..3 {
        run_expect_wakeup(&mut vm, 0)?;
        vm.expect_state(0, KVM_MP_STATE_SUSPENDED)?;
    }
    vm.irq_line(0, false)?;
    expect_blocks_then_eintr(
        &mut vm,
        0,
        Waits::Blocking,
        "still suspended, IRQ line lowered",
    )?;
    vm.expect_state(0, KVM_MP_STATE_SUSPENDED)
}

fn runnable_resumes() -> TestResult {
    let mut vm = one_vcpu()?;
    expect_stage(&mut vm, 1)?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    vm.irq_line(0, true)?;
    // This KVM_RUN also completes the guest's MMIO store: PC moves past it.
    run_expect_wakeup(&mut vm, 0)?;
    let regs = vm.core_regs(0)?;
    run_expect_wakeup(&mut vm, 0)?;
    let again = vm.core_regs(0)?;
    ensure(regs == again, || {
        format!("registers changed while suspended: {regs:x?} -> {again:x?}")
    })?;
    vm.irq_line(0, false)?;
    vm.set_state(0, KVM_MP_STATE_RUNNABLE)?;
    // The guest goes on with its next instruction: stage 2, not stage 1 again.
    expect_stage(&mut vm, 2)
}

fn expect_invalid_rejected(vm: &TestVm, from: u32) -> TestResult {
    let beyond = [KVM_MP_STATE_SUSPENDED + 1, 0x7fff_ffff, u32::MAX];
    for state in OTHER_STATES.into_iter().chain(beyond) {
        // What the documented rules (the fuzzer's model) say: EINVAL, and
        // the state unchanged.
        let mut model = Model {
            mp_state: from,
            ..Model::default()
        };
        let want = model.set_mp_state(state);
        let got = vm.set_mp_state(0, state);
        ensure(got == want, || {
            format!(
                "KVM_SET_MP_STATE({state}) from {}: expected {want:?}, got {got:?}",
                crate::vm::mp_name(from)
            )
        })?;
        vm.expect_state(0, model.mp_state)?;
    }
    Ok(())
}

fn invalid_state_einval() -> TestResult {
    let mut vm = one_vcpu()?;
    expect_invalid_rejected(&vm, KVM_MP_STATE_RUNNABLE)?;
    expect_stage(&mut vm, 1)?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    expect_invalid_rejected(&vm, KVM_MP_STATE_SUSPENDED)?;
    vm.irq_line(0, true)?;
    run_expect_wakeup(&mut vm, 0)?;
    vm.set_state(0, KVM_MP_STATE_STOPPED)?;
    expect_invalid_rejected(&vm, KVM_MP_STATE_STOPPED)
}

fn transitions() -> TestResult {
    let mut vm = one_vcpu()?;
    vm.irq_line(0, true)?;
    vm.set_state(0, KVM_MP_STATE_STOPPED)?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    vm.expect_state(0, KVM_MP_STATE_SUSPENDED)?;
    run_expect_wakeup(&mut vm, 0)?;

    vm.set_state(0, KVM_MP_STATE_STOPPED)?;
    vm.expect_state(0, KVM_MP_STATE_STOPPED)?;
    expect_blocks_then_eintr(&mut vm, 0, Waits::Sleeping, "stopped, IRQ line raised")?;
    vm.expect_state(0, KVM_MP_STATE_STOPPED)?;

    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    vm.irq_line(0, false)?;
    vm.set_state(0, KVM_MP_STATE_RUNNABLE)?;
    expect_stage(&mut vm, 1)?;
    vm.set_state(0, KVM_MP_STATE_STOPPED)?;
    vm.set_state(0, KVM_MP_STATE_RUNNABLE)?;
    expect_stage(&mut vm, 2)
}

/// The states the VMM's PSCI code sees, from `KVM_GET_MP_STATE`.
fn core_states(vm: &TestVm) -> TestResult<Vec<CoreState>> {
    vm.vcpus
        .iter()
        .map(|v| {
            let s = v
                .get_mp_state()
                .map_err(|e| format!("KVM_GET_MP_STATE: {e}"))?
                .mp_state;
            Ok(match s {
                KVM_MP_STATE_STOPPED => CoreState::Off,
                KVM_MP_STATE_SUSPENDED => CoreState::Suspended,
                _ => CoreState::On,
            })
        })
        .collect()
}

/// Runs vCPU 0 to its SYSTEM_SUSPEND call and answers it as a VMM must.
fn psci_vmm(vm: &mut TestVm) -> TestResult<Decision> {
    let exit = run(&mut vm.vcpus[0]);
    ensure(
        matches!(
            exit,
            crate::vm::Exit::SystemEvent {
                kind: KVM_SYSTEM_EVENT_SUSPEND,
                ..
            }
        ),
        || {
            format!("expected KVM_SYSTEM_EVENT_SUSPEND ({KVM_SYSTEM_EVENT_SUSPEND}) for PSCI SYSTEM_SUSPEND, got {exit:?}")
        },
    )?;
    // KVM leaves the call's arguments in the caller's registers.
    let entry = vm.get_reg(0, xreg(1))?;
    let context_id = vm.get_reg(0, xreg(2))?;
    let decision = psci::system_suspend(&core_states(vm)?, 0, entry, context_id);
    match decision {
        Decision::Denied => vm.set_reg(0, xreg(0), PSCI_RET_DENIED)?,
        Decision::Suspend { .. } => vm.set_state(0, KVM_MP_STATE_SUSPENDED)?,
    }
    Ok(decision)
}

/// Two vCPUs running the SYSTEM_SUSPEND guest, with PSCI SYSTEM_SUSPEND
/// exits enabled; vCPU 1 starts powered off if `others_off`.
pub fn psci_vm(others_off: bool) -> TestResult<TestVm> {
    let code = guest::system_suspend(PSCI_1_0_FN64_SYSTEM_SUSPEND, CONTEXT_ID);
    TestVm::new(
        &code,
        VmOpts {
            vcpus: 2,
            system_suspend: true,
            others_off,
            ..Default::default()
        },
    )
}

/// Runs vCPU 0 in a thread; once it has blocked, raises its IRQ line.
fn run_until_irq(vm: &mut TestVm) -> TestResult<BlockedRun> {
    let TestVm {
        vm: vmfd, vcpus, ..
    } = vm;
    run_in_thread(&mut vcpus[0], Waits::Blocking, || {
        irq_line_raw(vmfd, 0, true)?;
        Ok(true)
    })
}

fn psci_system_suspend() -> TestResult {
    let mut vm = psci_vm(true)?;
    let decision = psci_vmm(&mut vm)?;
    let entry = GUEST_BASE + RESUME_OFFSET;
    ensure(
        decision
            == Decision::Suspend {
                entry,
                context_id: CONTEXT_ID,
            },
        || {
            format!("the VMM should suspend at {entry:#x} with context {CONTEXT_ID:#x}, decided {decision:?}")
        },
    )?;
    // Suspended, nothing pending: blocks; then an interrupt wakes it.
    let r = run_until_irq(&mut vm)?;
    ensure(r.blocked, || {
        format!("expected the suspended vCPU to block, got {:?}", r.exit)
    })?;
    expect_wakeup(&r.exit)?;
    // Resume as PSCI requires: at the entry point, context id in x0.
    vm.irq_line(0, false)?;
    vm.set_reg(0, pc_reg(), entry)?;
    vm.set_reg(0, xreg(0), CONTEXT_ID)?;
    vm.set_reg(0, pstate_reg(), RESUME_PSTATE)?;
    vm.set_state(0, KVM_MP_STATE_RUNNABLE)?;
    let exit = run(&mut vm.vcpus[0]);
    expect_mmio(&exit, MMIO_REPORT + 8, CONTEXT_ID)
}

fn psci_system_suspend_denied() -> TestResult {
    // vCPU 1 is on: PSCI forbids the system suspend.
    let mut vm = psci_vm(false)?;
    let decision = psci_vmm(&mut vm)?;
    ensure(decision == Decision::Denied, || {
        format!("expected DENIED with vCPU 1 on, decided {decision:?}")
    })?;
    vm.expect_state(0, KVM_MP_STATE_RUNNABLE)?;
    // The guest sees DENIED as the call's return value.
    let exit = run(&mut vm.vcpus[0]);
    expect_mmio(&exit, MMIO_REPORT, PSCI_RET_DENIED)
}

fn multi_vcpu() -> TestResult {
    const N: usize = 3;
    let mut vm = TestVm::new(
        &guest::stages(),
        VmOpts {
            vcpus: N,
            ..Default::default()
        },
    )?;
    for i in 0..N {
        vm.set_state(i, KVM_MP_STATE_SUSPENDED)?;
    }
    let TestVm {
        vm: vmfd, vcpus, ..
    } = &mut vm;
    let [v0, v1, v2] = vcpus.as_mut_slice() else {
        return Err(format!("expected {N} vCPUs"));
    };
    let (s0, s2) = (VcpuStats::new(v0)?, VcpuStats::new(v2)?);
    let (r0, r2) = std::thread::scope(|s| -> TestResult<_> {
        let t0 = RunThread::spawn(s, v0)?;
        let t2 = RunThread::spawn(s, v2)?;
        let blocked =
            t0.wait_waiting(Waits::Blocking, &s0)? && t2.wait_waiting(Waits::Blocking, &s2)?;
        // Wake vCPU 1 only, while 0 and 2 wait in KVM_RUN.
        irq_line_raw(vmfd, 1, true)?;
        scribble_system_event(v1);
        let woke = run_bounded(v1, "vCPU 1 with its line raised")?;
        let still = !t0.wait(BLOCKED) && !t2.wait(Duration::ZERO);
        t0.interrupt()?;
        t2.interrupt()?;
        let blocked = blocked && still;
        let r0 = BlockedRun::new(t0.join()?, blocked);
        let r2 = BlockedRun::new(t2.join()?, blocked);
        expect_wakeup(&woke)?;
        Ok((r0, r2))
    })?;
    for (i, r) in [(0, r0), (2, r2)] {
        ensure(r.blocked, || {
            format!(
                "vCPU {i}: expected it to stay blocked while vCPU 1 woke, got {:?}",
                r.exit
            )
        })?;
        expect_eintr(&r.exit)?;
        vm.expect_state(i, KVM_MP_STATE_SUSPENDED)?;
    }
    vm.expect_state(1, KVM_MP_STATE_SUSPENDED)
}

/// KVM_ARM_VCPU_INIT resets the IRQ lines userspace raised only until the
/// vCPU has first run, as it does HCR_EL2. Before: a suspended vCPU blocks.
fn reinit_before_run_clears_line() -> TestResult {
    let mut vm = one_vcpu()?;
    vm.irq_line(0, true)?;
    vm.vcpus[0]
        .vcpu_init(&vm.init)
        .map_err(|e| format!("KVM_ARM_VCPU_INIT again: {e}"))?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    expect_blocks_then_eintr(
        &mut vm,
        0,
        Waits::Blocking,
        "line raised, then KVM_ARM_VCPU_INIT before the first run",
    )
}

/// After the first run: the raised line stays, a suspended vCPU wakes at once.
fn reinit_keeps_raised_line() -> TestResult {
    let mut vm = one_vcpu()?;
    vm.irq_line(0, true)?;
    // Interrupts are masked in PSTATE: the guest runs to its first report.
    expect_stage(&mut vm, 1)?;
    vm.vcpus[0]
        .vcpu_init(&vm.init)
        .map_err(|e| format!("KVM_ARM_VCPU_INIT again: {e}"))?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    run_expect_wakeup(&mut vm, 0)
}

/// How often `line_raised_while_running` raises the line while the guest
/// runs: a raise that lands while the vCPU happens to be outside the guest
/// is not at risk, so one alone can miss a kernel that drops lines.
const LINE_TRIALS: u32 = 3;

/// A line raised while the guest runs, which kicks the vCPU out of the guest
/// and back in, is still raised afterwards: suspended, the vCPU wakes at
/// once. The vCPU's thread must not write HCR_EL2 back over it, as protected
/// mode's copy of the whole register after every run would. Done
/// `LINE_TRIALS` times, the line lowered in between.
fn line_raised_while_running() -> TestResult {
    let mut vm = one_vcpu()?;
    for stage in 1..=3 {
        expect_stage(&mut vm, stage)?;
    }
    // The guest now spins, its interrupts masked: the line stays pending.
    for trial in 1..=LINE_TRIALS {
        line_raised_while_running_once(&mut vm)
            .map_err(|e| format!("trial {trial} of {LINE_TRIALS}: {e}"))?;
    }
    Ok(())
}

/// One trial of [`line_raised_while_running`], on a runnable vCPU 0 whose
/// guest spins with its line lowered; leaves it so.
fn line_raised_while_running_once(vm: &mut TestVm) -> TestResult {
    let TestVm {
        vm: vmfd, vcpus, ..
    } = vm;
    let exit = std::thread::scope(|s| -> TestResult<_> {
        let t = RunThread::spawn(s, &mut vcpus[0])?;
        let early = t.wait(BLOCKED);
        irq_line_raw(vmfd, 0, true)?;
        let late = t.wait(BLOCKED);
        t.interrupt()?;
        let ran = t.join()?;
        ensure(!early && !late, || {
            format!("KVM_RUN of a spinning guest returned {:?}", ran.exit)
        })?;
        Ok(ran.exit)
    })?;
    expect_eintr(&exit)?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    run_expect_wakeup(vm, 0)?;
    vm.set_state(0, KVM_MP_STATE_RUNNABLE)?;
    vm.irq_line(0, false)
}
