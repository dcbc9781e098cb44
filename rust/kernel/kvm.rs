// SPDX-License-Identifier: GPL-2.0

//! KVM virtual CPUs (arm64).
//!
//! A thin layer over `struct kvm_vcpu` and `struct kvm_run`: every `unsafe` block needed to
//! implement vCPU logic in Rust lives here, so that the logic itself is safe code.
//!
//! C headers: [`include/linux/kvm_host.h`](srctree/include/linux/kvm_host.h),
//! [`arch/arm64/include/asm/kvm_host.h`](srctree/arch/arm64/include/asm/kvm_host.h),
//! [`include/uapi/linux/kvm.h`](srctree/include/uapi/linux/kvm.h).
//!
//! # Calling Rust from C
//!
//! [`Vcpu`] and [`LoadedVcpu`] are `#[repr(transparent)]` over `struct kvm_vcpu`, so `&Vcpu` and
//! `&LoadedVcpu` have the ABI of a non-null `struct kvm_vcpu *`. A Rust function called from C
//! takes them directly as parameters; its C declaration then carries the obligation that the
//! pointer satisfies the type's invariants for the duration of the call.

use crate::error::{code::EINVAL, Error};
use crate::types::Opaque;
use core::ops::Deref;
use core::ptr;

/// A vCPU's multiprocessing state, `KVM_MP_STATE_*`, as far as arm64 uses it.
///
/// # Examples
///
/// ```
/// use kernel::bindings;
/// use kernel::error::code::EINVAL;
/// use kernel::kvm::MpState;
///
/// assert_eq!(MpState::try_from(bindings::KVM_MP_STATE_SUSPENDED), Ok(MpState::Suspended));
/// assert_eq!(MpState::try_from(bindings::KVM_MP_STATE_RUNNABLE), Ok(MpState::Runnable));
/// assert_eq!(MpState::try_from(bindings::KVM_MP_STATE_STOPPED), Ok(MpState::Stopped));
/// assert_eq!(MpState::Suspended as u32, bindings::KVM_MP_STATE_SUSPENDED);
///
/// // States of other architectures, and values that are no state at all, are rejected with
/// // `EINVAL`, the errno `KVM_SET_MP_STATE` gives for them on arm64.
/// assert_eq!(MpState::try_from(bindings::KVM_MP_STATE_HALTED), Err(EINVAL));
/// assert_eq!(MpState::try_from(u32::MAX), Err(EINVAL));
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

impl TryFrom<u32> for MpState {
    type Error = Error;

    #[inline]
    fn try_from(raw: u32) -> Result<Self, Error> {
        match raw {
            bindings::KVM_MP_STATE_RUNNABLE => Ok(Self::Runnable),
            bindings::KVM_MP_STATE_STOPPED => Ok(Self::Stopped),
            bindings::KVM_MP_STATE_SUSPENDED => Ok(Self::Suspended),
            _ => Err(EINVAL),
        }
    }
}

/// An architecture-specific vCPU request, `KVM_REQ_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `KVM_REQ_SUSPEND`: handle the `KVM_MP_STATE_SUSPENDED` state in the run loop.
    Suspend,
}

impl Request {
    #[inline]
    fn raw(self) -> crate::ffi::c_int {
        match self {
            // SAFETY: Returns a constant; no requirements.
            Self::Suspend => unsafe { bindings::kvm_req_suspend() },
        }
    }
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
    /// `KVM_SYSTEM_EVENT_WAKEUP`: a suspended vCPU has recognised a wakeup event.
    Wakeup = bindings::KVM_SYSTEM_EVENT_WAKEUP,
}

/// A KVM virtual CPU, `struct kvm_vcpu`.
///
/// # Invariants
///
/// `self.0` is a vCPU that KVM has created and not yet destroyed. KVM destroys a vCPU only with
/// its VM, when no vCPU ioctl, and so no caller of a function taking `&Vcpu`, can be running.
#[repr(transparent)]
pub struct Vcpu(Opaque<bindings::kvm_vcpu>);

impl Vcpu {
    #[inline]
    fn as_ptr(&self) -> *mut bindings::kvm_vcpu {
        self.0.get()
    }

    /// Reads the multiprocessing state, like `READ_ONCE(vcpu->arch.mp_state.mp_state)`.
    ///
    /// Returns `EINVAL` for a raw value that is not an arm64 state, which arm64 KVM never stores.
    #[inline]
    pub fn mp_state(&self) -> Result<MpState, Error> {
        // SAFETY: By the type invariant the vCPU is valid; the field is an aligned `u32` that
        // writers update with `WRITE_ONCE()`, so a volatile load cannot tear.
        let raw = unsafe { ptr::addr_of!((*self.as_ptr()).arch.mp_state.mp_state).read_volatile() };
        MpState::try_from(raw)
    }

    /// Writes the multiprocessing state, like `WRITE_ONCE(vcpu->arch.mp_state.mp_state, ...)`.
    ///
    /// Callers hold `vcpu->arch.mp_state_lock`, as every writer in KVM does; a racing writer
    /// would make the state unpredictable but cannot corrupt memory.
    #[inline]
    pub fn set_mp_state(&self, state: MpState) {
        // SAFETY: By the type invariant the vCPU is valid; the field is an aligned `u32` that
        // lockless readers load with `READ_ONCE()`, so a volatile store cannot tear.
        unsafe {
            ptr::addr_of_mut!((*self.as_ptr()).arch.mp_state.mp_state).write_volatile(state as u32)
        };
    }

    /// Makes `req` pending for the vCPU, `kvm_make_request()`.
    #[inline]
    pub fn make_request(&self, req: Request) {
        // SAFETY: By the type invariant the vCPU is valid; setting a request bit is atomic.
        // `req.raw()` is a request number that `kvm_make_request()` accepts: a constant that is
        // not a `KVM_REQUEST_NO_ACTION` request.
        unsafe { bindings::__kvm_make_request(req.raw(), self.as_ptr()) };
    }

    /// Kicks the vCPU out of guest mode or out of its wait, `kvm_vcpu_kick()`.
    #[inline]
    pub fn kick(&self) {
        // SAFETY: By the type invariant the vCPU is valid; `kvm_vcpu_kick()` does not sleep, so
        // any context may call it, including with `mp_state_lock` held.
        unsafe { bindings::kvm_vcpu_kick(self.as_ptr()) };
    }

    /// Returns whether the vCPU has a wakeup event pending and may run,
    /// `kvm_arch_vcpu_runnable()`.
    #[inline]
    pub fn runnable(&self) -> bool {
        // SAFETY: By the type invariant the vCPU is valid; `kvm_arch_vcpu_runnable()` does not
        // sleep and KVM calls it from any context (e.g. `kvm_vcpu_check_block()`).
        unsafe { bindings::kvm_arch_vcpu_runnable(self.as_ptr()) != 0 }
    }
}

/// A vCPU inside its own `KVM_RUN`: loaded on this CPU, outside guest mode, preemptible.
///
/// That is the context of the vCPU request handlers called from `check_vcpu_requests()`.
///
/// # Invariants
///
/// `self.0` satisfies the invariants of [`Vcpu`], the current task is the one running `KVM_RUN`
/// on it (holding `vcpu->mutex`), between `vcpu_load()` and `vcpu_put()`, and not in guest mode.
#[repr(transparent)]
pub struct LoadedVcpu(Vcpu);

impl Deref for LoadedVcpu {
    type Target = Vcpu;

    #[inline]
    fn deref(&self) -> &Vcpu {
        &self.0
    }
}

impl LoadedVcpu {
    /// Emulates WFI: blocks until the vCPU is runnable or the task has a signal or other work
    /// pending, `kvm_vcpu_wfi()`.
    #[inline]
    pub fn wfi(&self) {
        // SAFETY: By the type invariant the vCPU is loaded by the current task in the run loop,
        // the context `kvm_vcpu_wfi()` requires.
        unsafe { bindings::kvm_vcpu_wfi(self.as_ptr()) };
    }

    /// Returns the vCPU's `struct kvm_run`, the page shared with userspace.
    #[inline]
    pub fn run(&self) -> &Run {
        // SAFETY: By the type invariant the vCPU is valid; `vcpu->run` is set when the vCPU is
        // created and freed with it.
        let run = unsafe { (*self.as_ptr()).run };
        // SAFETY: `run` is valid for as long as the vCPU, which outlives `&self`; `Run` is
        // `#[repr(transparent)]` over `struct kvm_run` and never creates references into it.
        unsafe { &*run.cast::<Run>() }
    }
}

/// The shared `struct kvm_run` of a vCPU.
///
/// Userspace has it mapped and may write to it at any time, so it is only ever written through
/// raw pointers, never through Rust references to its fields.
///
/// # Invariants
///
/// `self.0` is the `kvm_run` page of a vCPU inside its own `KVM_RUN` (see [`LoadedVcpu`]).
#[repr(transparent)]
pub struct Run(Opaque<bindings::kvm_run>);

impl Run {
    /// Zeroes the whole `system_event` member (type, flags or `ndata`, and `data`).
    #[inline]
    pub fn clear_system_event(&self) {
        // SAFETY: By the type invariant the page is valid for writes; `system_event` is a member
        // of plain integers, for which all-zeroes is a valid value.
        unsafe {
            ptr::addr_of_mut!((*self.0.get()).__bindgen_anon_1.system_event).write_bytes(0, 1)
        };
    }

    /// Sets `system_event.type`.
    #[inline]
    pub fn set_system_event_type(&self, event: SystemEvent) {
        // SAFETY: By the type invariant the page is valid for writes.
        unsafe {
            ptr::addr_of_mut!((*self.0.get()).__bindgen_anon_1.system_event.type_)
                .write(event as u32)
        };
    }

    /// Sets `exit_reason`.
    #[inline]
    pub fn set_exit_reason(&self, reason: ExitReason) {
        // SAFETY: By the type invariant the page is valid for writes.
        unsafe { ptr::addr_of_mut!((*self.0.get()).exit_reason).write(reason as u32) };
    }
}
