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

/// PSCI function ids (ARM DEN0022, include/uapi/linux/psci.h): SMC32 ids
/// in 0x84000000, SMC64 ones with 0x40000000 added; and KVM's PSCI 0.1 ids.
pub mod fid {
    /// PSCI_VERSION.
    pub const PSCI_VERSION: u32 = 0x8400_0000;
    /// CPU_SUSPEND, SMC32 and SMC64.
    pub const CPU_SUSPEND: u32 = 0x8400_0001;
    /// CPU_SUSPEND, SMC64.
    pub const CPU_SUSPEND64: u32 = 0xc400_0001;
    /// CPU_OFF.
    pub const CPU_OFF: u32 = 0x8400_0002;
    /// CPU_ON, SMC32.
    pub const CPU_ON: u32 = 0x8400_0003;
    /// CPU_ON, SMC64.
    pub const CPU_ON64: u32 = 0xc400_0003;
    /// AFFINITY_INFO, SMC32.
    pub const AFFINITY_INFO: u32 = 0x8400_0004;
    /// AFFINITY_INFO, SMC64.
    pub const AFFINITY_INFO64: u32 = 0xc400_0004;
    /// MIGRATE_INFO_TYPE.
    pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
    /// SYSTEM_OFF.
    pub const SYSTEM_OFF: u32 = 0x8400_0008;
    /// SYSTEM_RESET.
    pub const SYSTEM_RESET: u32 = 0x8400_0009;
    /// PSCI_FEATURES (1.0).
    pub const PSCI_FEATURES: u32 = 0x8400_000a;
    /// SYSTEM_SUSPEND (1.0), SMC32.
    pub const SYSTEM_SUSPEND: u32 = 0x8400_000e;
    /// SYSTEM_SUSPEND (1.0), SMC64.
    pub const SYSTEM_SUSPEND64: u32 = 0xc400_000e;
    /// SYSTEM_RESET2 (1.1), SMC32.
    pub const SYSTEM_RESET2: u32 = 0x8400_0012;
    /// SYSTEM_RESET2 (1.1), SMC64.
    pub const SYSTEM_RESET2_64: u32 = 0xc400_0012;
    /// SYSTEM_OFF2 (1.3), SMC32.
    pub const SYSTEM_OFF2: u32 = 0x8400_0015;
    /// SYSTEM_OFF2 (1.3), SMC64.
    pub const SYSTEM_OFF2_64: u32 = 0xc400_0015;
    /// SMCCC_VERSION (answered by hypercalls.c, listed by PSCI_FEATURES).
    pub const SMCCC_VERSION: u32 = 0x8000_0000;
    /// SMCCC_ARCH_FEATURES (hypercalls.c; not listed by PSCI_FEATURES).
    pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;
    /// KVM's PSCI 0.1 ids: `KVM_PSCI_FN_BASE` + 0 (CPU_SUSPEND), 1
    /// (CPU_OFF), 2 (CPU_ON), 3 (MIGRATE), arch/arm64/include/uapi/asm/kvm.h.
    pub const KVM_0_1_BASE: u32 = 0x95c1_ba5e;
    /// KVM's PSCI 0.1 CPU_OFF.
    pub const KVM_0_1_CPU_OFF: u32 = KVM_0_1_BASE + 1;
    /// KVM's PSCI 0.1 CPU_ON.
    pub const KVM_0_1_CPU_ON: u32 = KVM_0_1_BASE + 2;
}

/// PSCI return values (x0), as the guest reads them.
pub mod ret {
    /// SUCCESS.
    pub const SUCCESS: u64 = 0;
    /// NOT_SUPPORTED.
    pub const NOT_SUPPORTED: u64 = -1i64 as u64;
    /// INVALID_PARAMETERS.
    pub const INVALID_PARAMS: u64 = -2i64 as u64;
    /// ALREADY_ON.
    pub const ALREADY_ON: u64 = -4i64 as u64;
    /// AFFINITY_INFO: an affected core is on.
    pub const AFF_ON: u64 = 0;
    /// AFFINITY_INFO: every affected core is off.
    pub const AFF_OFF: u64 = 1;
    /// PSCI_FEATURES(SYSTEM_OFF2): the types it takes, HIBERNATE_OFF (bit 0).
    pub const OFF2_HIBERNATE: u64 = 1;
}

/// PSCI_FEATURES(`f`) as 7.3.4's psci.c answers it for PSCI 1.`minor`,
/// `system_suspend` being whether the VMM enabled
/// `KVM_CAP_ARM_SYSTEM_SUSPEND`.
pub fn features(f: u32, minor: u32, system_suspend: bool) -> u64 {
    use fid::*;
    match f {
        PSCI_VERSION | CPU_SUSPEND | CPU_SUSPEND64 | CPU_OFF | CPU_ON | CPU_ON64
        | AFFINITY_INFO | AFFINITY_INFO64 | MIGRATE_INFO_TYPE | SYSTEM_OFF | SYSTEM_RESET
        | PSCI_FEATURES | SMCCC_VERSION => ret::SUCCESS,
        SYSTEM_SUSPEND | SYSTEM_SUSPEND64 if system_suspend => ret::SUCCESS,
        SYSTEM_RESET2 | SYSTEM_RESET2_64 if minor >= 1 => ret::SUCCESS,
        SYSTEM_OFF2 | SYSTEM_OFF2_64 if minor >= 3 => ret::OFF2_HIBERNATE,
        _ => ret::NOT_SUPPORTED,
    }
}

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

    #[test]
    fn features_by_version() {
        assert_eq!(features(fid::CPU_ON64, 0, false), 0);
        assert_eq!(
            features(fid::SYSTEM_SUSPEND64, 3, false),
            ret::NOT_SUPPORTED
        );
        assert_eq!(features(fid::SYSTEM_SUSPEND, 0, true), 0);
        assert_eq!(features(fid::SYSTEM_RESET2, 0, true), ret::NOT_SUPPORTED);
        assert_eq!(features(fid::SYSTEM_RESET2_64, 1, true), 0);
        assert_eq!(features(fid::SYSTEM_OFF2, 2, true), ret::NOT_SUPPORTED);
        assert_eq!(features(fid::SYSTEM_OFF2_64, 3, true), 1);
        assert_eq!(features(0x8400_0005, 3, true), ret::NOT_SUPPORTED);
        assert_eq!(
            features(fid::SMCCC_ARCH_FEATURES, 3, true),
            ret::NOT_SUPPORTED
        );
        assert_eq!(fid::KVM_0_1_CPU_ON, 0x95c1_ba60);
    }
}
