// SPDX-License-Identifier: GPL-2.0
//! `vcpu_suspend_rs --demo`: a small VMM that narrates one guest's PSCI
//! SYSTEM_SUSPEND: the guest asks to suspend, the VMM suspends its vCPU,
//! a signal is no wakeup, an interrupt is, and the VMM resumes the guest
//! where PSCI says, with timings.

use std::time::{Duration, Instant};

use kvm_bindings::{KVM_MP_STATE_RUNNABLE, KVM_MP_STATE_SUSPENDED};

use crate::cases::{psci_vm, CONTEXT_ID};
use crate::guest::{GUEST_BASE, MMIO_REPORT, RESUME_OFFSET};
use crate::psci::{self, CoreState, Decision, RESUME_PSTATE};
use crate::vm::{
    expect_eintr, expect_mmio, expect_wakeup, irq_line_raw, mp_name, pc_reg, pstate_reg, run,
    run_in_thread, xreg, Exit, TestResult, Waits,
};

struct Narrator(Instant);

impl Narrator {
    fn say(&self, who: &str, what: impl AsRef<str>) {
        let ms = self.0.elapsed().as_secs_f64() * 1e3;
        println!("[{ms:9.3} ms] {who:<5} {}", what.as_ref());
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs the demo; an error says which step went wrong.
pub fn run_demo() -> TestResult {
    let n = Narrator(Instant::now());
    let mut vm = psci_vm(true)?;
    n.say("VMM", format!(
        "VM with 2 vCPUs (vCPU 1 powered off), KVM_CAP_ARM_SYSTEM_SUSPEND enabled, no irqchip; guest code at {GUEST_BASE:#x}"
    ));

    let t = Instant::now();
    let exit = run(&mut vm.vcpus[0]);
    n.say(
        "KVM",
        format!("KVM_RUN returned after {:.3} ms: {exit}", ms(t.elapsed())),
    );
    let entry = vm.get_reg(0, xreg(1))?;
    let context_id = vm.get_reg(0, xreg(2))?;
    n.say("guest", format!("PSCI SYSTEM_SUSPEND(entry {entry:#x}, context {context_id:#x}) (KVM_SYSTEM_EVENT_SUSPEND)"));

    let cores = [CoreState::On, CoreState::Off];
    let decision = psci::system_suspend(&cores, 0, entry, context_id);
    let Decision::Suspend { entry, context_id } = decision else {
        return Err("the VMM denied the suspend".into());
    };
    n.say(
        "VMM",
        format!("PSCI 5.19.2: every other core is OFF, so suspend; resume at {entry:#x} with x0 = {context_id:#x}"),
    );
    let t = Instant::now();
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    n.say(
        "VMM",
        format!("KVM_SET_MP_STATE(SUSPENDED) took {:.3} ms", ms(t.elapsed())),
    );

    n.say(
        "VMM",
        "KVM_RUN with nothing pending; another thread sends a signal after 200 ms",
    );
    let r = run_in_thread(&mut vm.vcpus[0], Waits::Sleeping, || Ok(false))?;
    n.say(
        "KVM",
        format!(
            "KVM_RUN blocked {:.1} ms using {:.3} ms of CPU, then: {}",
            ms(r.wall),
            ms(r.cpu),
            r.exit
        ),
    );
    expect_eintr(&r.exit)?;
    vm.expect_state(0, KVM_MP_STATE_SUSPENDED)?;
    n.say(
        "ok",
        "a signal is no wakeup: EINTR, and the vCPU is still SUSPENDED",
    );

    n.say(
        "VMM",
        "KVM_RUN again; another thread raises vCPU 0's IRQ line after 200 ms",
    );
    let vmfd = &vm.vm;
    let mut raised = Instant::now();
    let r = run_in_thread(&mut vm.vcpus[0], Waits::Sleeping, || {
        raised = Instant::now();
        irq_line_raw(vmfd, 0, true)?;
        Ok(true)
    })?;
    n.say(
        "KVM",
        format!(
            "KVM_RUN blocked {:.1} ms using {:.3} ms of CPU, then: {}, {:.3} ms after the IRQ",
            ms(r.wall),
            ms(r.cpu),
            r.exit,
            ms(raised.elapsed())
        ),
    );
    expect_wakeup(&r.exit)?;
    n.say(
        "ok",
        "the interrupt woke the vCPU: KVM_SYSTEM_EVENT_WAKEUP, zeroed payload",
    );

    vm.irq_line(0, false)?;
    vm.set_reg(0, pc_reg(), entry)?;
    vm.set_reg(0, xreg(0), context_id)?;
    vm.set_reg(0, pstate_reg(), RESUME_PSTATE)?;
    let t = Instant::now();
    vm.set_state(0, KVM_MP_STATE_RUNNABLE)?;
    n.say("VMM", format!(
        "resume as PSCI says: PC = entry, x0 = context id, EL1h with DAIF masked; KVM_SET_MP_STATE({}) took {:.3} ms",
        mp_name(KVM_MP_STATE_RUNNABLE),
        ms(t.elapsed())
    ));
    let t = Instant::now();
    let exit = run(&mut vm.vcpus[0]);
    n.say(
        "KVM",
        format!("KVM_RUN returned after {:.3} ms: {exit}", ms(t.elapsed())),
    );
    expect_mmio(&exit, MMIO_REPORT + 8, CONTEXT_ID)?;
    if let Exit::Mmio { data, .. } = exit {
        n.say(
            "guest",
            format!(
                "resumed at {:#x}: reports x0 = {data:#x}, its context id",
                GUEST_BASE + RESUME_OFFSET
            ),
        );
    }
    n.say(
        "done",
        "suspend -> signal (EINTR) -> wakeup -> resume, as documented",
    );
    Ok(())
}
