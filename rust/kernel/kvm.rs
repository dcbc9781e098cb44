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
//! C calls Rust through `unsafe extern "C" fn(*mut bindings::kvm_vcpu)` entry points, whose
//! `# Safety` sections state what the C caller guarantees; they turn the pointer into a
//! [`Vcpu`] or [`LoadedVcpu`] with [`Vcpu::from_raw`] or [`LoadedVcpu::from_raw`] and call safe
//! code. The arm64 suspend entry points are made by [`kvm_arm_vcpu_suspend_entry_points!`] for
//! an implementation of [`VcpuSuspend`], and checked against their C prototypes at build time by
//! [`#[export]`](macro@crate::prelude::export).
//!
//! [`kvm_arm_vcpu_suspend_entry_points!`]: crate::kvm_arm_vcpu_suspend_entry_points

use crate::{
    ffi::c_int,
    sync::atomic::{
        atomic_load,
        atomic_store,
        Relaxed, //
    },
    types::{
        NotThreadSafe,
        Opaque, //
    },
};
use core::ops::Deref;

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
/// A `&Vcpu` is what C hands to Rust for the duration of one call. It is neither `Send` nor
/// `Sync`: which thread may do what with a vCPU is KVM's rule (`vcpu->mutex`, `mp_state_lock`),
/// stated by each function's context, not something Rust could check across threads.
///
/// # Invariants
///
/// `self.0` is a vCPU that KVM has created and not yet destroyed. KVM destroys a vCPU only with
/// its VM, when no vCPU ioctl, and so no caller of a function taking `&Vcpu`, can be running.
#[repr(transparent)]
pub struct Vcpu(Opaque<bindings::kvm_vcpu>, NotThreadSafe);

impl Vcpu {
    /// Creates a `&Vcpu` from a pointer that C handed over.
    ///
    /// # Safety
    ///
    /// `ptr` points to a vCPU that KVM has created and does not destroy during `'a`.
    #[inline]
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::kvm_vcpu) -> &'a Self {
        // INVARIANT: The caller guarantees that the vCPU lives for `'a`.
        // SAFETY: `Vcpu` is `#[repr(transparent)]` over `Opaque<kvm_vcpu>` (the other field is a
        // zero-sized marker), which has the layout of `kvm_vcpu`; the caller guarantees that
        // `ptr` is valid for `'a`, and `Vcpu` never hands out references into the vCPU.
        unsafe { &*ptr.cast::<Self>() }
    }

    #[inline]
    fn as_ptr(&self) -> *mut bindings::kvm_vcpu {
        self.0.get()
    }

    /// Reads the multiprocessing state, like `READ_ONCE(vcpu->arch.mp_state.mp_state)`.
    ///
    /// `None` for a raw value that is not an arm64 state, which arm64 KVM never stores.
    #[inline]
    pub fn mp_state(&self) -> Option<MpState> {
        // SAFETY: By the type invariant the vCPU is valid, so the field is a valid, aligned
        // `u32`; every store to it is atomic (`WRITE_ONCE()` in C, `atomic_store()` here).
        let raw = unsafe { atomic_load(&raw mut (*self.as_ptr()).arch.mp_state.mp_state, Relaxed) };
        MpState::from_raw(raw)
    }

    /// Makes `req` pending for the vCPU, `kvm_make_request()`.
    #[inline]
    pub fn make_request(&self, req: Request) {
        match req {
            // SAFETY: By the type invariant the vCPU is valid; setting a request bit is atomic.
            Request::Suspend => unsafe { bindings::kvm_make_request_suspend(self.as_ptr()) },
        }
    }

    /// Kicks the vCPU out of guest mode or out of its wait, `kvm_vcpu_kick()`. Does not sleep.
    #[inline]
    pub fn kick(&self) {
        // SAFETY: By the type invariant the vCPU is valid; `kvm_vcpu_kick()` (a C inline, called
        // through its helper) does not sleep, so a caller holding a spinlock, such as
        // `mp_state_lock`, may call it.
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
/// on it (holding `vcpu->mutex`), between `vcpu_load()` and `vcpu_put()`, and not in guest mode;
/// it is preemptible and holds no spinlock, so it may sleep, as [`LoadedVcpu::wfi`] does.
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
    /// Creates a `&LoadedVcpu` from a pointer that C handed over.
    ///
    /// # Safety
    ///
    /// `ptr` points to a vCPU that KVM has created, on which the current task runs `KVM_RUN`,
    /// loaded and outside guest mode, preemptible and holding no spinlock, during `'a`.
    #[inline]
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::kvm_vcpu) -> &'a Self {
        // INVARIANT: The caller guarantees the context of the type invariant for `'a`.
        // SAFETY: `LoadedVcpu` is `#[repr(transparent)]` over `Vcpu`, which has the layout of
        // `kvm_vcpu`; the caller guarantees that `ptr` is valid for `'a`.
        unsafe { &*ptr.cast::<Self>() }
    }

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

/// Proof that the current task holds a vCPU's `vcpu->arch.mp_state_lock`, which every writer of
/// its multiprocessing state holds.
///
/// # Invariants
///
/// The current task holds `self.vcpu`'s `arch.mp_state_lock` for the lifetime `'a`.
pub struct MpStateLocked<'a> {
    vcpu: &'a Vcpu,
}

impl<'a> MpStateLocked<'a> {
    /// Records that the caller holds `vcpu->arch.mp_state_lock`.
    ///
    /// # Safety
    ///
    /// The current task holds `vcpu`'s `arch.mp_state_lock` and keeps it during `'a`.
    #[inline]
    pub unsafe fn assume_held(vcpu: &'a Vcpu) -> Self {
        // INVARIANT: The caller guarantees that it holds the lock for `'a`.
        Self { vcpu }
    }

    /// The vCPU whose lock is held.
    #[inline]
    pub fn vcpu(&self) -> &'a Vcpu {
        self.vcpu
    }

    /// Writes the multiprocessing state, like `WRITE_ONCE(vcpu->arch.mp_state.mp_state, ...)`.
    #[inline]
    pub fn set_mp_state(&self, state: MpState) {
        // SAFETY: By the type invariants the vCPU is valid, so the field is a valid, aligned
        // `u32`, and its `mp_state_lock` is held, so no other writer races this store; lockless
        // readers load it atomically (`READ_ONCE()` in C, `atomic_load()` here).
        unsafe {
            atomic_store(
                &raw mut (*self.vcpu.as_ptr()).arch.mp_state.mp_state,
                state as u32,
                Relaxed,
            )
        };
    }
}

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

/// The shared `struct kvm_run` of a vCPU.
///
/// Userspace has it mapped and may write to it at any time, so it is only ever written through
/// raw pointers, never through Rust references to its fields: a reference would promise Rust
/// that nobody else changes the memory. A plain store through a raw pointer is what the C code
/// that fills `kvm_run` does too; a racing userspace write can only change what userspace then
/// reads, which the UAPI leaves to userspace.
///
/// # Invariants
///
/// `self.0` is the `kvm_run` page of a vCPU inside its own `KVM_RUN` (see [`LoadedVcpu`]).
#[repr(transparent)]
pub struct Run(Opaque<bindings::kvm_run>);

impl Run {
    /// Zeroes the whole `system_event` member: `type`, `ndata` and `data` (whose first word
    /// is the older `flags`).
    #[inline]
    pub fn clear_system_event(&self) {
        // SAFETY: By the type invariant the page is valid for writes; `system_event` is a member
        // of plain integers, for which all-zeroes is a valid value.
        unsafe { (&raw mut (*self.0.get()).__bindgen_anon_1.system_event).write_bytes(0, 1) };
    }

    /// Sets `system_event.type`.
    #[inline]
    pub fn set_system_event_type(&self, event: SystemEvent) {
        // SAFETY: By the type invariant the page is valid for writes.
        unsafe {
            (&raw mut (*self.0.get()).__bindgen_anon_1.system_event.type_).write(event as u32)
        };
    }

    /// Sets `exit_reason`.
    #[inline]
    pub fn set_exit_reason(&self, reason: ExitReason) {
        // SAFETY: By the type invariant the page is valid for writes.
        unsafe { (&raw mut (*self.0.get()).exit_reason).write(reason as u32) };
    }
}
