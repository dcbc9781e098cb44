// SPDX-License-Identifier: GPL-2.0

//! KVM virtual machines and virtual CPUs (arm64).
//!
//! A thin layer over `struct kvm`, `struct kvm_vcpu` and `struct kvm_run`: every `unsafe` block
//! needed to implement vCPU logic in Rust lives in this module, so that the logic itself is safe
//! code.
//!
//! - [`vcpu`]: a vCPU ([`Vcpu`]), one in its own `KVM_RUN` ([`LoadedVcpu`]: guest registers,
//!   WFI), and its `mp_state_lock` ([`MpStateGuard`], [`MpStateLocked`]).
//! - [`vm`]: the VM a vCPU belongs to ([`Kvm`]): its vCPUs, MPIDR lookup, features and flags.
//! - [`run`]: the `struct kvm_run` page shared with userspace ([`Run`]).
//! - [`entry`]: the C entry points that Rust implementations of arm64 KVM functions provide.
//!
//! C headers: [`include/linux/kvm_host.h`](srctree/include/linux/kvm_host.h),
//! [`arch/arm64/include/asm/kvm_host.h`](srctree/arch/arm64/include/asm/kvm_host.h),
//! [`arch/arm64/include/asm/kvm_emulate.h`](srctree/arch/arm64/include/asm/kvm_emulate.h),
//! [`include/uapi/linux/kvm.h`](srctree/include/uapi/linux/kvm.h).
//!
//! # Calling Rust from C
//!
//! C calls Rust through `unsafe extern "C" fn(*mut bindings::kvm_vcpu)` entry points, whose
//! `# Safety` sections state what the C caller guarantees; they turn the pointer into a
//! [`Vcpu`] or [`LoadedVcpu`] with [`Vcpu::from_raw`] or [`LoadedVcpu::from_raw`] and call safe
//! code. The entry points are made by the macros of [`entry`] for an implementation of one of
//! its traits, and checked against their C prototypes at build time by
//! [`#[export]`](macro@crate::prelude::export).

pub mod entry;
pub mod run;
pub mod vcpu;
pub mod vm;

pub use entry::{
    Psci,
    VcpuSuspend, //
};
pub use run::Run;
pub use vcpu::{
    GpReg,
    LoadedVcpu,
    MpStateGuard,
    MpStateLocked,
    Vcpu, //
};
pub use vm::Kvm;

/// A vCPU's multiprocessing state, `KVM_MP_STATE_*`, as far as arm64 uses it.
///
/// # Examples
///
/// ```
/// use kernel::bindings;
/// use kernel::kvm::MpState;
///
/// assert_eq!(MpState::from_raw(bindings::KVM_MP_STATE_SUSPENDED), Some(MpState::Suspended));
/// assert_eq!(MpState::from_raw(bindings::KVM_MP_STATE_RUNNABLE), Some(MpState::Runnable));
/// assert_eq!(MpState::from_raw(bindings::KVM_MP_STATE_STOPPED), Some(MpState::Stopped));
/// assert_eq!(MpState::Suspended as u32, bindings::KVM_MP_STATE_SUSPENDED);
///
/// // States of other architectures, and values that are no state at all, are none of arm64's.
/// assert_eq!(MpState::from_raw(bindings::KVM_MP_STATE_HALTED), None);
/// assert_eq!(MpState::from_raw(u32::MAX), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum MpState {
    /// `KVM_MP_STATE_RUNNABLE`: the vCPU runs guest code.
    Runnable = bindings::KVM_MP_STATE_RUNNABLE,
    /// `KVM_MP_STATE_STOPPED`: the vCPU is powered off (PSCI CPU_OFF or userspace).
    Stopped = bindings::KVM_MP_STATE_STOPPED,
    /// `KVM_MP_STATE_SUSPENDED`: the vCPU waits for a wakeup event, as if in WFI.
    Suspended = bindings::KVM_MP_STATE_SUSPENDED,
}

impl MpState {
    /// The arm64 state whose `KVM_MP_STATE_*` value is `raw`, if there is one.
    #[inline]
    pub fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            bindings::KVM_MP_STATE_RUNNABLE => Some(Self::Runnable),
            bindings::KVM_MP_STATE_STOPPED => Some(Self::Stopped),
            bindings::KVM_MP_STATE_SUSPENDED => Some(Self::Suspended),
            _ => None,
        }
    }
}

/// An architecture-specific vCPU request, `KVM_REQ_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `KVM_REQ_SUSPEND`: handle the `KVM_MP_STATE_SUSPENDED` state in the run loop.
    Suspend,
    /// `KVM_REQ_VCPU_RESET`: reset the vCPU to the state its `reset_state` describes (PSCI
    /// CPU_ON), before it next enters the guest.
    VcpuReset,
}

/// A request made of every vCPU of a VM at once, `kvm_make_all_cpus_request()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmRequest {
    /// `KVM_REQ_SLEEP`: keep the vCPUs out of the guest while they are stopped, and wait until
    /// every vCPU has seen the request.
    Sleep,
}

/// The reason `KVM_RUN` returns to userspace, `KVM_EXIT_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitReason {
    /// `KVM_EXIT_SYSTEM_EVENT`: `kvm_run::system_event` says what happened.
    SystemEvent = bindings::KVM_EXIT_SYSTEM_EVENT,
}

/// The type of a `KVM_EXIT_SYSTEM_EVENT` exit, `KVM_SYSTEM_EVENT_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum SystemEvent {
    /// `KVM_SYSTEM_EVENT_SHUTDOWN`: the guest has asked to power the system off.
    Shutdown = bindings::KVM_SYSTEM_EVENT_SHUTDOWN,
    /// `KVM_SYSTEM_EVENT_RESET`: the guest has asked to reset the system.
    Reset = bindings::KVM_SYSTEM_EVENT_RESET,
    /// `KVM_SYSTEM_EVENT_WAKEUP`: a suspended vCPU has recognised a wakeup event.
    Wakeup = bindings::KVM_SYSTEM_EVENT_WAKEUP,
    /// `KVM_SYSTEM_EVENT_SUSPEND`: the guest has asked to suspend the system (PSCI
    /// SYSTEM_SUSPEND), which userspace implements.
    Suspend = bindings::KVM_SYSTEM_EVENT_SUSPEND,
}
