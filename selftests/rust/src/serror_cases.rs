// SPDX-License-Identifier: GPL-2.0
//! The cases about exceptions userspace injects with `KVM_SET_VCPU_EVENTS`:
//! a virtual SError that the guest has taken is no wakeup event. KVM pends
//! an SError injected while the guest masks them in HCR_EL2.VSE, and
//! `kvm_arch_vcpu_runnable()` counts VSE as a wakeup event; in protected
//! mode the hypervisor must hand the taken SError back to the host's copy
//! of HCR_EL2 (Documentation/project/leads.md, 2).

use kvm_bindings::{kvm_vcpu_events, KVM_EXIT_INTR, KVM_MP_STATE_SUSPENDED};

use crate::cases::expect_stage;
use crate::guest::{self, ISR_EL1_A, ISR_REPORT, SERRORS_REPORT};
use crate::vm::{ensure, run_bounded, run_in_thread, Exit, TestResult, TestVm, Waits, BLOCKED};

/// Runs vCPU 0 to its next MMIO store and returns the value, which must go
/// to `addr`.
fn report_at(vm: &mut TestVm, addr: u64, what: &str) -> TestResult<u64> {
    match run_bounded(&mut vm.vcpus[0], what)? {
        Exit::Mmio { addr: a, data } if a == addr => Ok(data),
        other => Err(format!(
            "{what}: expected a guest MMIO write to {addr:#x}, got {other:?} (a write to {:#x} is an unexpected exception, its data the vector offset)",
            guest::UNEXPECTED_REPORT
        )),
    }
}

/// `KVM_GET_VCPU_EVENTS` of vCPU 0.
fn events(vm: &TestVm) -> TestResult<kvm_vcpu_events> {
    vm.vcpus[0]
        .get_vcpu_events()
        .map_err(|e| format!("KVM_GET_VCPU_EVENTS: {e}"))
}

/// The guest takes an SError injected with `KVM_SET_VCPU_EVENTS` (its
/// handler counts it); suspended afterwards, the vCPU must block, and KVM
/// must no longer report the SError pending. On 7.3.4 in protected mode
/// the host's HCR_EL2.VSE stays set: `KVM_RUN` returns WAKEUP at once.
pub fn serror_taken_no_wakeup() -> TestResult {
    let mut vm = TestVm::one(&guest::serror_taker())?;
    // SErrors are masked (PSTATE.A, as at reset) while userspace injects.
    expect_stage(&mut vm, 1)?;
    let mut ev = kvm_vcpu_events::default();
    ev.exception.serror_pending = 1;
    vm.vcpus[0]
        .set_vcpu_events(&ev)
        .map_err(|e| format!("KVM_SET_VCPU_EVENTS(serror_pending): {e}"))?;
    // Injected while masked, KVM pends it in HCR_EL2.VSE rather than
    // emulating the exception: the guest sees it pending.
    let isr = report_at(
        &mut vm,
        ISR_REPORT,
        "the guest's ISR_EL1 after the injection",
    )?;
    ensure(isr & ISR_EL1_A != 0, || {
        format!("the injected SError is not pending in the guest: ISR_EL1 {isr:#x}, A clear")
    })?;
    let taken = report_at(&mut vm, SERRORS_REPORT, "SErrors the guest took")?;
    ensure(taken >= 1, || {
        "the guest unmasked SErrors and took none".to_string()
    })?;
    expect_stage(&mut vm, 2)?;

    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    // As the C case: once it blocks, it must stay in KVM_RUN for BLOCKED,
    // until the signal.
    let r = run_in_thread(&mut vm.vcpus[0], Waits::Blocking, || {
        std::thread::sleep(BLOCKED);
        Ok(false)
    })?;
    let pending = events(&vm)?.exception.serror_pending;
    let eintr = Exit::Eintr {
        exit_reason: KVM_EXIT_INTR,
    };
    ensure(r.blocked && r.exit == eintr, || {
        format!(
            "suspended after the guest took its SError ({taken} taken): expected KVM_RUN to wait until a signal (EINTR), it returned {} after {} ms ({}); KVM_GET_VCPU_EVENTS serror_pending {pending}",
            r.exit,
            r.wall.as_millis(),
            if r.blocked {
                "seen in kvm_vcpu_block() first"
            } else {
                "never seen in kvm_vcpu_block()"
            }
        )
    })?;
    vm.expect_state(0, KVM_MP_STATE_SUSPENDED)?;
    ensure(pending == 0, || {
        format!("KVM_GET_VCPU_EVENTS: the SError the guest took ({taken} times) is still pending")
    })
}
