// SPDX-License-Identifier: GPL-2.0

//! KVM virtual CPUs, `struct kvm_vcpu` (arm64).
//!
//! C headers: [`include/linux/kvm_host.h`](srctree/include/linux/kvm_host.h),
//! [`arch/arm64/include/asm/kvm_host.h`](srctree/arch/arm64/include/asm/kvm_host.h),
//! [`arch/arm64/include/asm/kvm_emulate.h`](srctree/arch/arm64/include/asm/kvm_emulate.h).

use super::{
    Kvm, //
    MpState,
    Request,
    Run,
};
use crate::{
    ffi::c_ulong,
    sync::{
        atomic::{
            atomic_load,
            atomic_store,
            Relaxed, //
        },
        SpinLock,
        SpinLockGuard, //
    },
    types::{
        NotThreadSafe,
        Opaque, //
    },
};
use core::ops::Deref;

/// A KVM virtual CPU, `struct kvm_vcpu`.
///
/// A `&Vcpu` is what C hands to Rust for the duration of one call, or what [`Kvm`] gives for
/// one of its vCPUs, bounded by the VM's borrow. It is neither `Send` nor `Sync`: which thread
/// may do what with a vCPU is KVM's rule (`vcpu->mutex`, `mp_state_lock`), stated by each
/// function's context, not something Rust could check across threads.
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
    pub(super) fn as_ptr(&self) -> *mut bindings::kvm_vcpu {
        self.0.get()
    }

    /// The VM this vCPU belongs to, `vcpu->kvm`.
    #[inline]
    pub fn kvm(&self) -> &Kvm {
        // SAFETY: By the type invariant the vCPU is valid; `vcpu->kvm` is set when the vCPU is
        // created and never changes.
        let kvm = unsafe { (*self.as_ptr()).kvm };
        // SAFETY: A vCPU holds a reference to its VM, which therefore outlives the vCPU and so
        // `&self`.
        unsafe { Kvm::from_raw(kvm) }
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

    /// Returns whether the vCPU is powered off, `kvm_arm_vcpu_stopped()`.
    #[inline]
    pub fn stopped(&self) -> bool {
        self.mp_state() == Some(MpState::Stopped)
    }

    /// Takes the vCPU's `arch.mp_state_lock`, which every writer of its multiprocessing state
    /// (and of its `reset_state`) holds, until the guard is dropped.
    #[inline]
    pub fn lock_mp_state(&self) -> MpStateGuard<'_> {
        let vcpu = self.as_ptr();
        // SAFETY: By the type invariant the vCPU is valid for the lifetime of `&self`, and
        // `kvm_arch_vcpu_create()` initialised its `mp_state_lock` before C could hand it over.
        let lock = unsafe { SpinLock::<()>::from_raw(&raw mut (*vcpu).arch.mp_state_lock) };
        let guard = lock.lock();
        // SAFETY: `guard` holds the lock and is dropped after `locked` (field order).
        let locked = unsafe { MpStateLocked::assume_held(self) };
        MpStateGuard {
            locked,
            _guard: guard,
        }
    }

    /// Powers the vCPU off (PSCI CPU_OFF), `kvm_arm_vcpu_power_off()`: takes its
    /// `mp_state_lock`, sets `KVM_MP_STATE_STOPPED`, makes `KVM_REQ_SLEEP` and kicks it.
    #[inline]
    pub fn power_off(&self) {
        // SAFETY: By the type invariant the vCPU is valid; `kvm_arm_vcpu_power_off()` may be
        // called from any task that may sleep or not (it takes a spinlock and kicks).
        unsafe { bindings::kvm_arm_vcpu_power_off(self.as_ptr()) };
    }

    /// The vCPU's MPIDR affinity fields, `kvm_vcpu_get_mpidr_aff()`.
    #[inline]
    pub fn mpidr_aff(&self) -> c_ulong {
        // SAFETY: By the type invariant the vCPU is valid; MPIDR_EL1 is set at vCPU reset and
        // read from memory, never from the hardware, so any thread may read it.
        unsafe { bindings::kvm_vcpu_get_mpidr_aff(self.as_ptr()) }
    }

    /// Makes `req` pending for the vCPU, `kvm_make_request()`.
    #[inline]
    pub fn make_request(&self, req: Request) {
        match req {
            // SAFETY: By the type invariant the vCPU is valid; setting a request bit is atomic.
            Request::Suspend => unsafe { bindings::kvm_make_request_suspend(self.as_ptr()) },
            // SAFETY: As above.
            Request::VcpuReset => unsafe { bindings::kvm_make_request_vcpu_reset(self.as_ptr()) },
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

    /// Wakes the vCPU up if it waits (in WFI or suspended), `kvm_vcpu_wake_up()`. Does not
    /// sleep.
    #[inline]
    pub fn wake_up(&self) {
        // SAFETY: By the type invariant the vCPU is valid; `kvm_vcpu_wake_up()` only wakes a
        // waiter and does not sleep, so a caller holding `mp_state_lock` may call it.
        unsafe { bindings::kvm_vcpu_wake_up(self.as_ptr()) };
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

/// A general-purpose register of the guest, X0 to X30, or 31 for XZR (reads as 0, writes are
/// ignored), as `vcpu_get_reg()` and `vcpu_set_reg()` number them.
///
/// # Invariants
///
/// `self.0 <= 31`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpReg(u8);

impl GpReg {
    /// X0, where SMCCC passes the function id and returns the first result.
    pub const X0: Self = Self(0);
    /// X1, the first SMCCC argument.
    pub const X1: Self = Self(1);
    /// X2, the second SMCCC argument.
    pub const X2: Self = Self(2);
    /// X3, the third SMCCC argument.
    pub const X3: Self = Self(3);

    /// Register `n`, if `n` names one (0 to 31).
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::kvm::GpReg;
    ///
    /// assert_eq!(GpReg::new(3), Some(GpReg::X3));
    /// assert!(GpReg::new(31).is_some());
    /// assert_eq!(GpReg::new(32), None);
    /// ```
    #[inline]
    pub const fn new(n: u8) -> Option<Self> {
        if n <= 31 {
            // INVARIANT: Checked just above.
            Some(Self(n))
        } else {
            None
        }
    }
}

/// A vCPU inside its own `KVM_RUN`: loaded on this CPU, outside guest mode, preemptible.
///
/// That is the context of the vCPU request handlers called from `check_vcpu_requests()` and of
/// the exit handlers called from `handle_exit()`, such as `kvm_psci_call()`.
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
        // SAFETY: `run` is valid for as long as the vCPU, which outlives `&self`, and the
        // current task runs `KVM_RUN` on it.
        unsafe { Run::from_raw(run) }
    }

    /// Reads a guest general-purpose register, `vcpu_get_reg()`.
    #[inline]
    pub fn get_reg(&self, reg: GpReg) -> c_ulong {
        // SAFETY: By the type invariant the vCPU is valid and its registers are the current
        // task's to read (it runs the vCPU, outside guest mode); by `GpReg`'s invariant the
        // index is in bounds.
        unsafe { bindings::vcpu_get_reg(self.as_ptr(), reg.0) }
    }

    /// Writes a guest general-purpose register, `vcpu_set_reg()`.
    #[inline]
    pub fn set_reg(&self, reg: GpReg, val: c_ulong) {
        // SAFETY: As for `get_reg()`; only the current task accesses the registers meanwhile.
        unsafe { bindings::vcpu_set_reg(self.as_ptr(), reg.0, val) };
    }

    /// The SMCCC function id the guest passed in W0, `smccc_get_function()`.
    #[inline]
    pub fn smccc_get_function(&self) -> u32 {
        // Truncation intended: the function id is the low 32 bits of X0.
        self.get_reg(GpReg::X0) as u32
    }

    /// The first SMCCC argument, X1, `smccc_get_arg1()`.
    #[inline]
    pub fn smccc_get_arg1(&self) -> c_ulong {
        self.get_reg(GpReg::X1)
    }

    /// The second SMCCC argument, X2, `smccc_get_arg2()`.
    #[inline]
    pub fn smccc_get_arg2(&self) -> c_ulong {
        self.get_reg(GpReg::X2)
    }

    /// The third SMCCC argument, X3, `smccc_get_arg3()`.
    #[inline]
    pub fn smccc_get_arg3(&self) -> c_ulong {
        self.get_reg(GpReg::X3)
    }

    /// Sets the SMCCC results, X0 to X3, `smccc_set_retval()`.
    #[inline]
    pub fn smccc_set_retval(&self, a0: c_ulong, a1: c_ulong, a2: c_ulong, a3: c_ulong) {
        self.set_reg(GpReg::X0, a0);
        self.set_reg(GpReg::X1, a1);
        self.set_reg(GpReg::X2, a2);
        self.set_reg(GpReg::X3, a3);
    }

    /// Returns whether the guest runs in AArch32, `vcpu_mode_is_32bit()`.
    #[inline]
    pub fn mode_is_32bit(&self) -> bool {
        // SAFETY: By the type invariant the vCPU is valid and its PSTATE is in memory (outside
        // guest mode).
        unsafe { bindings::vcpu_mode_is_32bit(self.as_ptr()) }
    }

    /// Returns whether the guest's data accesses at its current exception level are
    /// big-endian, `kvm_vcpu_is_be()`.
    #[inline]
    pub fn is_be(&self) -> bool {
        // SAFETY: By the type invariant the vCPU is valid and loaded by the current task, the
        // context in which `vcpu_read_sys_reg()` may read SCTLR_ELx from the CPU.
        unsafe { bindings::kvm_vcpu_is_be(self.as_ptr()) }
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

    /// Sets `vcpu->arch.reset_state` for PSCI CPU_ON: the vCPU's next reset
    /// (`KVM_REQ_VCPU_RESET`) starts it at `pc`, with `r0` in X0 (R0) and the caller's
    /// endianness `be`, and marks the state as to be used (`reset = true`).
    #[inline]
    pub fn set_reset_state(&self, pc: c_ulong, r0: c_ulong, be: bool) {
        // SAFETY: By the type invariants the vCPU is valid and its `mp_state_lock`, which
        // every reader and writer of `reset_state` holds (`kvm_reset_vcpu()`), is held.
        let state = unsafe { &raw mut (*self.vcpu.as_ptr()).arch.reset_state };
        // SAFETY: As above: `state` is valid and nobody else accesses it meanwhile.
        unsafe {
            (*state).pc = pc;
            (*state).be = be;
            (*state).r0 = r0;
            (*state).reset = true;
        }
    }
}

/// A held `vcpu->arch.mp_state_lock`, taken by [`Vcpu::lock_mp_state`] and released when the
/// guard is dropped. It gives what the lock protects through [`MpStateLocked`].
pub struct MpStateGuard<'a> {
    // Dropped before `_guard`, which releases the lock.
    locked: MpStateLocked<'a>,
    _guard: SpinLockGuard<'a, ()>,
}

impl<'a> Deref for MpStateGuard<'a> {
    type Target = MpStateLocked<'a>;

    #[inline]
    fn deref(&self) -> &MpStateLocked<'a> {
        &self.locked
    }
}
