// SPDX-License-Identifier: GPL-2.0

//! The `struct kvm_run` page a vCPU shares with userspace.
//!
//! C header: [`include/uapi/linux/kvm.h`](srctree/include/uapi/linux/kvm.h).

use super::{
    ExitReason,
    SystemEvent, //
};
use crate::types::Opaque;

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
///
/// [`LoadedVcpu`]: super::LoadedVcpu
#[repr(transparent)]
pub struct Run(Opaque<bindings::kvm_run>);

impl Run {
    /// Creates a `&Run` from a vCPU's `vcpu->run`.
    ///
    /// # Safety
    ///
    /// `ptr` is the `kvm_run` page of a vCPU on which the current task runs `KVM_RUN` during
    /// `'a`.
    #[inline]
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::kvm_run) -> &'a Self {
        // INVARIANT: The caller guarantees the type invariant for `'a`.
        // SAFETY: `Run` is `#[repr(transparent)]` over `Opaque<kvm_run>`, which has the layout
        // of `kvm_run`, and never creates references into it; the caller guarantees that `ptr`
        // is valid for `'a`.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// Prepares a `KVM_EXIT_SYSTEM_EVENT` exit of type `event`: zeroes the whole `system_event`
    /// member (`type`, `ndata` and `data`, whose first word is the older `flags`), then sets its
    /// `type` and `exit_reason`, as the C code's `memset()` and two stores do.
    #[inline]
    pub fn set_system_event_exit(&self, event: SystemEvent) {
        // SAFETY: By the type invariant the page is valid for writes; `system_event` is a member
        // of plain integers, for which all-zeroes is a valid value.
        unsafe {
            let system_event = &raw mut (*self.0.get()).__bindgen_anon_1.system_event;
            system_event.write_bytes(0, 1);
            (&raw mut (*system_event).type_).write(event as u32);
            (&raw mut (*self.0.get()).exit_reason).write(ExitReason::SystemEvent as u32);
        }
    }

    /// Sets `system_event.ndata` to 1 and `system_event.data[0]` (the older `flags`) to `flags`,
    /// `KVM_SYSTEM_EVENT_*_FLAG_*` bits.
    #[inline]
    pub fn set_system_event_flags(&self, flags: u64) {
        // SAFETY: By the type invariant the page is valid for writes; `data` has 16 elements.
        unsafe {
            let event = &raw mut (*self.0.get()).__bindgen_anon_1.system_event;
            (&raw mut (*event).ndata).write(1);
            (&raw mut (*event).__bindgen_anon_1.data[0]).write(flags);
        }
    }
}
