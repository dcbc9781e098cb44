// SPDX-License-Identifier: GPL-2.0
//! PSCI SYSTEM_SUSPEND as the VMM implements it (Arm DEN0022D): the
//! decision (5.19.2: every other core must be OFF, else DENIED) and the
//! state a core resumes in (6.4: a warm reset into the entry point).

/// `KVM_MP_STATE_RUNNABLE`.
pub const MP_STATE_RUNNABLE: u32 = 0;
/// `KVM_MP_STATE_STOPPED` (a PSCI-OFF core on arm64).
pub const MP_STATE_STOPPED: u32 = 5;
/// `KVM_MP_STATE_SUSPENDED`.
pub const MP_STATE_SUSPENDED: u32 = 10;

/// PSCI return code DENIED.
pub const PSCI_RET_DENIED: i64 = -3;
/// SYSTEM_SUSPEND, SMC32 function id.
pub const PSCI_SYSTEM_SUSPEND_32: u32 = 0x8400_000e;
/// SYSTEM_SUSPEND, SMC64 function id.
pub const PSCI_SYSTEM_SUSPEND_64: u32 = 0xc400_000e;

/// PSTATE of a core entering the OS after a warm reset: EL1h, D, A, I, F
/// masked.
pub const PSTATE_EL1H_DAIF: u64 = 0x3c5;
/// SCTLR_EL1.M: stage 1 MMU enable.
pub const SCTLR_M: u64 = 1 << 0;
/// SCTLR_EL1.C: data cache enable.
pub const SCTLR_C: u64 = 1 << 2;

/// Names an arm64 `mp_state`.
pub fn mp_name(state: u32) -> &'static str {
    match state {
        MP_STATE_RUNNABLE => "RUNNABLE",
        MP_STATE_STOPPED => "STOPPED",
        MP_STATE_SUSPENDED => "SUSPENDED",
        _ => "(not an arm64 state)",
    }
}

/// What to answer a SYSTEM_SUSPEND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Every other vCPU is off: suspend the caller.
    Suspend,
    /// These vCPUs (index, mp_state) are not off: return DENIED.
    Denied(Vec<(usize, u32)>),
}

/// Decides SYSTEM_SUSPEND of `caller` given every vCPU's `mp_state`
/// (index, state); the caller's own entry is ignored.
pub fn decide_system_suspend(caller: usize, states: &[(usize, u32)]) -> Decision {
    let busy: Vec<_> = states
        .iter()
        .copied()
        .filter(|&(i, s)| i != caller && s != MP_STATE_STOPPED)
        .collect();
    if busy.is_empty() {
        Decision::Suspend
    } else {
        Decision::Denied(busy)
    }
}

/// Whether the `x0` of a `KVM_SYSTEM_EVENT_SUSPEND` exit is SYSTEM_SUSPEND.
pub fn is_system_suspend(fid: u64) -> bool {
    fid == u64::from(PSCI_SYSTEM_SUSPEND_32) || fid == u64::from(PSCI_SYSTEM_SUSPEND_64)
}

/// The registers a resumed core starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// PC: the entry point of the SYSTEM_SUSPEND call.
    pub pc: u64,
    /// x0: its context id.
    pub x0: u64,
    /// PSTATE.
    pub pstate: u64,
    /// SCTLR_EL1: as before, with the MMU and data cache off.
    pub sctlr: u64,
}

/// The warm-reset state for SYSTEM_SUSPEND(`entry`, `context`), `sctlr` being
/// SCTLR_EL1 at the call (the caller's SMC32 convention keeps only the low
/// 32 bits of entry and context).
pub fn resume_state(fid: u64, entry: u64, context: u64, sctlr: u64) -> Resume {
    let (pc, x0) = if fid == u64::from(PSCI_SYSTEM_SUSPEND_32) {
        (entry & 0xffff_ffff, context & 0xffff_ffff)
    } else {
        (entry, context)
    };
    Resume {
        pc,
        x0,
        pstate: PSTATE_EL1H_DAIF,
        sctlr: sctlr & !(SCTLR_M | SCTLR_C),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspend_only_when_every_other_core_is_off() {
        let s = [(0, MP_STATE_RUNNABLE), (1, MP_STATE_STOPPED)];
        assert_eq!(decide_system_suspend(0, &s), Decision::Suspend);
        let s = [(0, MP_STATE_RUNNABLE), (1, MP_STATE_RUNNABLE)];
        assert_eq!(
            decide_system_suspend(0, &s),
            Decision::Denied(vec![(1, MP_STATE_RUNNABLE)])
        );
        // A suspended core is not off either.
        let s = [
            (0, MP_STATE_RUNNABLE),
            (1, MP_STATE_STOPPED),
            (2, MP_STATE_SUSPENDED),
        ];
        assert_eq!(
            decide_system_suspend(0, &s),
            Decision::Denied(vec![(2, MP_STATE_SUSPENDED)])
        );
        // From another core than 0.
        let s = [(0, MP_STATE_STOPPED), (1, MP_STATE_RUNNABLE)];
        assert_eq!(decide_system_suspend(1, &s), Decision::Suspend);
        assert_eq!(
            decide_system_suspend(0, &[(0, MP_STATE_RUNNABLE)]),
            Decision::Suspend
        );
    }

    #[test]
    fn resume_is_a_warm_reset_into_the_entry_point() {
        // SCTLR_EL1 of a running Linux: M, C, I and the RES1 bits set.
        let r = resume_state(
            u64::from(PSCI_SYSTEM_SUSPEND_64),
            0x4123_4000,
            0,
            0x30d0_599d,
        );
        assert_eq!(r.pc, 0x4123_4000);
        assert_eq!(r.x0, 0);
        assert_eq!(r.pstate, 0x3c5);
        assert_eq!(r.sctlr & (SCTLR_M | SCTLR_C), 0);
        assert_eq!(r.sctlr, 0x30d0_599d & !5);
        let r = resume_state(
            u64::from(PSCI_SYSTEM_SUSPEND_32),
            0xdead_0000_4000_0000,
            0xffff_ffff_1234_5678,
            1,
        );
        assert_eq!((r.pc, r.x0, r.sctlr), (0x4000_0000, 0x1234_5678, 0));
    }

    #[test]
    fn function_ids() {
        assert!(is_system_suspend(0x8400_000e));
        assert!(is_system_suspend(0xc400_000e));
        assert!(!is_system_suspend(0x8400_0008));
        assert_eq!(mp_name(5), "STOPPED");
        assert_eq!(mp_name(7), "(not an arm64 state)");
    }
}
