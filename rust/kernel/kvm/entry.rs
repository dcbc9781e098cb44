// SPDX-License-Identifier: GPL-2.0

//! The C entry points of arm64 KVM functions implemented in Rust.
//!
//! Each trait here is what C calls, each macro makes the `extern "C"` functions that C calls for
//! an implementation of the trait, with the pointers turned into the types of this module. A C
//! prototype that does not match the Rust one fails the build
//! ([`#[export]`](macro@crate::prelude::export)).

use super::{
    LoadedVcpu,
    MpStateLocked, //
};
use crate::ffi::c_int;

/// Userspace-driven vCPU suspend on arm64, as the run loop and `KVM_SET_MP_STATE` call it.
///
/// [`kvm_arm_vcpu_suspend_entry_points!`](crate::kvm_arm_vcpu_suspend_entry_points) makes the C
/// entry points of an implementation.
pub trait VcpuSuspend {
    /// `KVM_SET_MP_STATE(KVM_MP_STATE_SUSPENDED)`: `kvm_arm_vcpu_suspend()`.
    fn suspend(locked: &MpStateLocked<'_>);

    /// Handles `KVM_REQ_SUSPEND`, from `check_vcpu_requests()`: `kvm_arm_vcpu_handle_suspend()`.
    ///
    /// Returns 1 to go on with the run loop, 0 to exit to userspace with the exit prepared in
    /// `vcpu->run`.
    fn handle_suspend(vcpu: &LoadedVcpu) -> c_int;
}

/// Defines `kvm_arm_vcpu_suspend()` and `kvm_arm_vcpu_handle_suspend()`, the C entry points of
/// arm64's vCPU suspend (declared in `arch/arm64/include/asm/kvm_emulate.h`), for `$imp`, an
/// implementation of [`VcpuSuspend`]. A C prototype that does not match fails the build
/// ([`#[export]`](macro@crate::prelude::export)).
#[macro_export]
macro_rules! kvm_arm_vcpu_suspend_entry_points {
    ($imp:ty) => {
        /// Suspends a vCPU: the `KVM_MP_STATE_SUSPENDED` case of
        /// `kvm_arch_vcpu_ioctl_set_mpstate()`.
        ///
        /// # Safety
        ///
        /// `vcpu` points to a vCPU that KVM has created and does not destroy during the call,
        /// and the caller holds its `arch.mp_state_lock` throughout.
        #[$crate::prelude::export]
        pub unsafe extern "C" fn kvm_arm_vcpu_suspend(vcpu: *mut $crate::bindings::kvm_vcpu) {
            // SAFETY: The caller guarantees that the vCPU is valid during the call.
            let vcpu = unsafe { $crate::kvm::Vcpu::from_raw(vcpu) };
            // SAFETY: The caller holds the vCPU's `mp_state_lock` during the call.
            let locked = unsafe { $crate::kvm::MpStateLocked::assume_held(vcpu) };
            <$imp as $crate::kvm::VcpuSuspend>::suspend(&locked)
        }

        /// Handles `KVM_REQ_SUSPEND`, from `check_vcpu_requests()`.
        ///
        /// # Safety
        ///
        /// `vcpu` points to a vCPU that KVM has created, on which the current task runs
        /// `KVM_RUN`, loaded and outside guest mode, preemptible and holding no spinlock, for
        /// the duration of the call.
        #[$crate::prelude::export]
        pub unsafe extern "C" fn kvm_arm_vcpu_handle_suspend(
            vcpu: *mut $crate::bindings::kvm_vcpu,
        ) -> $crate::ffi::c_int {
            // SAFETY: The caller guarantees the context `LoadedVcpu` requires, for the call.
            let vcpu = unsafe { $crate::kvm::LoadedVcpu::from_raw(vcpu) };
            <$imp as $crate::kvm::VcpuSuspend>::handle_suspend(vcpu)
        }
    };
}

/// PSCI, the Power State Coordination Interface (ARM DEN 0022), as arm64 KVM gives it to its
/// guests: the `kvm_psci_call()` that `kvm_smccc_call_handler()` calls for the PSCI function ids.
///
/// [`kvm_arm_psci_entry_point!`](crate::kvm_arm_psci_entry_point) makes the C entry point of
/// an implementation.
pub trait Psci {
    /// Handles the guest's PSCI call, its function id in W0 and arguments in X1 to X3:
    /// `kvm_psci_call()`.
    ///
    /// Returns 1 to go back to the guest with the results in X0 to X3, 0 to exit to userspace
    /// with the exit prepared in `vcpu->run`, or a negative error code.
    fn call(vcpu: &LoadedVcpu) -> c_int;
}

/// Defines `kvm_psci_call()`, declared in `include/kvm/arm_psci.h`, for `$imp`, an
/// implementation of [`Psci`]. A C prototype that does not match fails the build
/// ([`#[export]`](macro@crate::prelude::export)).
#[macro_export]
macro_rules! kvm_arm_psci_entry_point {
    ($imp:ty) => {
        /// Handles a guest's PSCI call, from `kvm_smccc_call_handler()`.
        ///
        /// # Safety
        ///
        /// `vcpu` points to a vCPU that KVM has created, on which the current task runs
        /// `KVM_RUN`, loaded and outside guest mode, preemptible and holding no spinlock, for
        /// the duration of the call.
        #[$crate::prelude::export]
        pub unsafe extern "C" fn kvm_psci_call(
            vcpu: *mut $crate::bindings::kvm_vcpu,
        ) -> $crate::ffi::c_int {
            // SAFETY: The caller guarantees the context `LoadedVcpu` requires, for the call.
            let vcpu = unsafe { $crate::kvm::LoadedVcpu::from_raw(vcpu) };
            <$imp as $crate::kvm::Psci>::call(vcpu)
        }
    };
}
