// SPDX-License-Identifier: GPL-2.0
//! The VMM's side of PSCI `SYSTEM_SUSPEND` (ARM DEN0022D 5.19), which KVM
//! leaves to userspace: KVM exits with `KVM_SYSTEM_EVENT_SUSPEND` and the
//! call's arguments still in the caller's registers.

/// `PSCI_RET_DENIED`, as the guest sees it in x0.
pub const PSCI_RET_DENIED: u64 = -3i64 as u64;

/// What a vCPU is doing, as far as the VMM's PSCI code cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreState {
    /// Running or runnable.
    On,
    /// Powered off (`KVM_MP_STATE_STOPPED`).
    Off,
    /// Suspended (`KVM_MP_STATE_SUSPENDED`).
    Suspended,
}

/// The VMM's answer to a `SYSTEM_SUSPEND` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Suspend the caller: set it to `KVM_MP_STATE_SUSPENDED`, and on wakeup
    /// resume it at `entry` with `context_id` in x0.
    Suspend {
        /// Where the caller resumes.
        entry: u64,
        /// What the caller gets in x0 when it resumes.
        context_id: u64,
    },
    /// Deny: the call returns `PSCI_RET_DENIED` in x0.
    Denied,
}

/// Decides a `SYSTEM_SUSPEND` from `caller`, with the states of all cores.
///
/// 5.19.2: the call is only valid when every other core is OFF; otherwise
/// the implementation returns DENIED.
pub fn system_suspend(cores: &[CoreState], caller: usize, entry: u64, context_id: u64) -> Decision {
    let others_off = cores
        .iter()
        .enumerate()
        .all(|(i, s)| i == caller || *s == CoreState::Off);
    if others_off {
        Decision::Suspend { entry, context_id }
    } else {
        Decision::Denied
    }
}

/// PSTATE a core resumes with after a PSCI power-down: EL1h, DAIF masked.
pub const RESUME_PSTATE: u64 = 0x3c5;

#[cfg(test)]
mod tests {
    use super::*;
    use CoreState::*;

    #[test]
    fn alone_is_allowed() {
        assert_eq!(
            system_suspend(&[On], 0, 0x100, 7),
            Decision::Suspend {
                entry: 0x100,
                context_id: 7
            }
        );
    }

    #[test]
    fn every_other_core_must_be_off() {
        assert_eq!(system_suspend(&[On, On], 0, 0, 0), Decision::Denied);
        assert_eq!(system_suspend(&[On, Suspended], 0, 0, 0), Decision::Denied);
        assert_eq!(
            system_suspend(&[Off, On, Off], 1, 8, 9),
            Decision::Suspend {
                entry: 8,
                context_id: 9
            }
        );
        assert_eq!(system_suspend(&[Off, On, On], 1, 0, 0), Decision::Denied);
    }

    #[test]
    fn denied_is_minus_three() {
        assert_eq!(PSCI_RET_DENIED as i64, -3);
    }
}
