// SPDX-License-Identifier: GPL-2.0
//! The documented semantics of arm64 userspace vCPU suspend, as a small
//! model of one vCPU with no in-kernel irqchip: what `KVM_SET_MP_STATE`
//! accepts, and which answers `KVM_RUN` may give in each state. The fuzzer
//! drives KVM and this model side by side, and the case
//! `invalid_state_einval` takes its expectations from it; the other cases
//! state the same rules one at a time. Pure logic, so its own tests run on
//! the host.
//!
//! The rules (Documentation/virt/kvm/api.rst, 6.12's arm.c):
//! - arm64 accepts `RUNNABLE`, `STOPPED` and `SUSPENDED`; any other value
//!   fails with `EINVAL` and changes nothing.
//! - `immediate_exit` makes `KVM_RUN` fail with `EINTR` at once.
//! - `RUNNABLE` runs the guest (here: to its next MMIO write).
//! - `SUSPENDED` with a wakeup event (the IRQ or FIQ line up) exits with
//!   `KVM_SYSTEM_EVENT_WAKEUP`, payload zeroed, and stays `SUSPENDED`
//!   (sticky: the same exit again until userspace makes it `RUNNABLE`).
//! - `SUSPENDED` without one, and `STOPPED`, block until a signal, which
//!   gives `EINTR` and leaves the state as it was: a signal is no wakeup.
//! - A signal may also end any `KVM_RUN` that has not yet produced its exit.

use kvm_bindings::{
    KVM_MP_STATE_AP_RESET_HOLD, KVM_MP_STATE_CHECK_STOP, KVM_MP_STATE_HALTED,
    KVM_MP_STATE_INIT_RECEIVED, KVM_MP_STATE_LOAD, KVM_MP_STATE_OPERATING, KVM_MP_STATE_RUNNABLE,
    KVM_MP_STATE_SIPI_RECEIVED, KVM_MP_STATE_STOPPED, KVM_MP_STATE_SUSPENDED,
    KVM_MP_STATE_UNINITIALIZED,
};

/// The states arm64 accepts.
pub const ARM64_STATES: [u32; 3] = [
    KVM_MP_STATE_RUNNABLE,
    KVM_MP_STATE_STOPPED,
    KVM_MP_STATE_SUSPENDED,
];

/// The other architectures' states: `EINVAL` on arm64.
pub const OTHER_STATES: [u32; 8] = [
    KVM_MP_STATE_UNINITIALIZED,
    KVM_MP_STATE_INIT_RECEIVED,
    KVM_MP_STATE_HALTED,
    KVM_MP_STATE_SIPI_RECEIVED,
    KVM_MP_STATE_CHECK_STOP,
    KVM_MP_STATE_OPERATING,
    KVM_MP_STATE_LOAD,
    KVM_MP_STATE_AP_RESET_HOLD,
];

/// What one `KVM_RUN` gave, as far as the model cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The guest ran to its MMIO write.
    Mmio,
    /// `KVM_EXIT_SYSTEM_EVENT` / `KVM_SYSTEM_EVENT_WAKEUP` with `ndata` 0
    /// and zeroed data.
    Wakeup,
    /// `-1`/`EINTR`.
    Eintr,
}

/// One vCPU as userspace sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Model {
    /// `KVM_GET_MP_STATE` must give this.
    pub mp_state: u32,
    /// The IRQ line (`KVM_ARM_IRQ_CPU_IRQ`) is up.
    pub irq: bool,
    /// The FIQ line (`KVM_ARM_IRQ_CPU_FIQ`) is up.
    pub fiq: bool,
}

impl Default for Model {
    /// A vCPU just created and initialised: runnable, lines down.
    fn default() -> Self {
        Model {
            mp_state: KVM_MP_STATE_RUNNABLE,
            irq: false,
            fiq: false,
        }
    }
}

impl Model {
    /// `KVM_SET_MP_STATE(state)`: `Err(EINVAL)` for a value arm64 does not
    /// know, which changes nothing.
    pub fn set_mp_state(&mut self, state: u32) -> Result<(), i32> {
        if ARM64_STATES.contains(&state) {
            self.mp_state = state;
            Ok(())
        } else {
            Err(libc::EINVAL)
        }
    }

    /// Whether `kvm_arch_vcpu_runnable()` sees a wakeup event.
    pub fn wakeup_pending(&self) -> bool {
        self.irq || self.fiq
    }

    /// Whether `answer` is allowed from `KVM_RUN` with `immediate_exit` as
    /// given, `signalled` saying whether a signal was sent to the vCPU
    /// thread while it ran. No answer changes the model's state.
    pub fn run_allows(&self, immediate_exit: bool, signalled: bool, answer: Answer) -> bool {
        if immediate_exit {
            return answer == Answer::Eintr;
        }
        if answer == Answer::Eintr {
            return signalled;
        }
        match self.mp_state {
            KVM_MP_STATE_RUNNABLE => answer == Answer::Mmio,
            KVM_MP_STATE_SUSPENDED => answer == Answer::Wakeup && self.wakeup_pending(),
            // STOPPED (and nothing else is reachable) only ends on a signal.
            _ => false,
        }
    }

    /// Every answer [`Model::run_allows`]; empty when `KVM_RUN` must block.
    pub fn allowed(&self, immediate_exit: bool, signalled: bool) -> Vec<Answer> {
        [Answer::Mmio, Answer::Wakeup, Answer::Eintr]
            .into_iter()
            .filter(|&a| self.run_allows(immediate_exit, signalled, a))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suspended(irq: bool, fiq: bool) -> Model {
        Model {
            mp_state: KVM_MP_STATE_SUSPENDED,
            irq,
            fiq,
        }
    }

    #[test]
    fn a_signal_is_no_wakeup() {
        // The v4 bug: WAKEUP on a signal with no wakeup event pending.
        let m = suspended(false, false);
        assert!(!m.run_allows(false, true, Answer::Wakeup));
        assert!(m.run_allows(false, true, Answer::Eintr));
        assert_eq!(m.allowed(false, false), [], "blocks without a signal");
    }

    #[test]
    fn irq_or_fiq_wakes_and_stays_suspended() {
        for (irq, fiq) in [(true, false), (false, true), (true, true)] {
            let m = suspended(irq, fiq);
            assert_eq!(m.allowed(false, false), [Answer::Wakeup]);
            assert_eq!(m.allowed(false, true), [Answer::Wakeup, Answer::Eintr]);
        }
    }

    #[test]
    fn runnable_runs_stopped_blocks() {
        let mut m = Model::default();
        assert_eq!(m.allowed(false, false), [Answer::Mmio]);
        m.irq = true;
        assert_eq!(
            m.allowed(false, false),
            [Answer::Mmio],
            "guest has IRQs masked"
        );
        assert_eq!(m.set_mp_state(KVM_MP_STATE_STOPPED), Ok(()));
        assert_eq!(m.allowed(false, false), [], "a line does not wake STOPPED");
        assert_eq!(m.allowed(false, true), [Answer::Eintr]);
    }

    #[test]
    fn immediate_exit_is_eintr() {
        for m in [Model::default(), suspended(true, false)] {
            assert_eq!(m.allowed(true, false), [Answer::Eintr]);
        }
    }

    #[test]
    fn unknown_states_are_einval_and_change_nothing() {
        let mut m = suspended(true, false);
        for bad in OTHER_STATES.into_iter().chain([11, u32::MAX]) {
            assert_eq!(m.set_mp_state(bad), Err(libc::EINVAL));
            assert_eq!(m, suspended(true, false));
        }
    }
}
