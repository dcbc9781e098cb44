// SPDX-License-Identifier: GPL-2.0
//! A vCPU's `mp_state`: its names, and setting and checking it.

use kvm_bindings::kvm_mp_state;

use super::{ensure, TestResult, TestVm};

/// Names an `mp_state` value.
pub fn mp_name(state: u32) -> &'static str {
    match state {
        kvm_bindings::KVM_MP_STATE_RUNNABLE => "RUNNABLE",
        kvm_bindings::KVM_MP_STATE_STOPPED => "STOPPED",
        kvm_bindings::KVM_MP_STATE_SUSPENDED => "SUSPENDED",
        _ => "(not an arm64 state)",
    }
}

impl TestVm {
    /// `KVM_SET_MP_STATE`, with the errno on failure.
    pub fn set_mp_state(&self, i: usize, state: u32) -> Result<(), i32> {
        self.vcpus[i]
            .set_mp_state(kvm_mp_state { mp_state: state })
            .map_err(|e| e.errno())
    }

    /// `KVM_SET_MP_STATE` that must succeed.
    pub fn set_state(&self, i: usize, state: u32) -> TestResult {
        self.set_mp_state(i, state).map_err(|e| {
            format!(
                "KVM_SET_MP_STATE({}) on vCPU {i}: errno {e}",
                mp_name(state)
            )
        })
    }

    /// Fails unless vCPU `i` reports `expected` from `KVM_GET_MP_STATE`.
    pub fn expect_state(&self, i: usize, expected: u32) -> TestResult {
        let got = self.vcpus[i]
            .get_mp_state()
            .map_err(|e| format!("KVM_GET_MP_STATE: {e}"))?
            .mp_state;
        ensure(got == expected, || {
            format!(
                "vCPU {i} KVM_GET_MP_STATE: expected {} ({expected}), got {} ({got})",
                mp_name(expected),
                mp_name(got)
            )
        })
    }
}
