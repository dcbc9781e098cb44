// SPDX-License-Identifier: GPL-2.0

//! KVM virtual machines, `struct kvm` (arm64).
//!
//! C headers: [`include/linux/kvm_host.h`](srctree/include/linux/kvm_host.h),
//! [`arch/arm64/include/asm/kvm_host.h`](srctree/arch/arm64/include/asm/kvm_host.h).

use super::{
    Vcpu,
    VmRequest, //
};
use crate::{
    ffi::{
        c_int,
        c_ulong, //
    },
    sync::atomic::{
        atomic_load,
        Relaxed, //
    },
    types::{
        NotThreadSafe,
        Opaque, //
    },
};

/// A KVM virtual machine, `struct kvm`.
///
/// Rust only sees a VM through one of its vCPUs ([`Vcpu::kvm`]): the VM outlives its vCPUs, so
/// a `&Kvm` lives as long as the `&Vcpu` it came from, and so do the vCPUs it gives out.
///
/// # Invariants
///
/// `self.0` is a VM that KVM has created and not yet destroyed.
#[repr(transparent)]
pub struct Kvm(Opaque<bindings::kvm>, NotThreadSafe);

impl Kvm {
    /// Creates a `&Kvm` from a pointer that C handed over.
    ///
    /// # Safety
    ///
    /// `ptr` points to a VM that KVM has created and does not destroy during `'a`.
    #[inline]
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::kvm) -> &'a Self {
        // INVARIANT: The caller guarantees that the VM lives for `'a`.
        // SAFETY: `Kvm` is `#[repr(transparent)]` over `Opaque<kvm>` (the other field is a
        // zero-sized marker); the caller guarantees that `ptr` is valid for `'a`.
        unsafe { &*ptr.cast::<Self>() }
    }

    #[inline]
    fn as_ptr(&self) -> *mut bindings::kvm {
        self.0.get()
    }

    /// The number of vCPUs created so far, `atomic_read(&kvm->online_vcpus)`.
    #[inline]
    fn online_vcpus(&self) -> c_int {
        // SAFETY: By the type invariant the VM is valid; `online_vcpus` is an `atomic_t`.
        unsafe { bindings::atomic_read(&raw mut (*self.as_ptr()).online_vcpus) }
    }

    /// The vCPU at index `i`, `kvm_get_vcpu()`; `None` past the last one created.
    #[inline]
    pub fn get_vcpu(&self, i: c_int) -> Option<&Vcpu> {
        // SAFETY: By the type invariant the VM is valid; `kvm_get_vcpu()` checks `i` against
        // `online_vcpus` and returns NULL or a created vCPU of this VM.
        unsafe { self.vcpu_or_none(bindings::kvm_get_vcpu(self.as_ptr(), i)) }
    }

    /// `None` for NULL, else the vCPU `vcpu`, borrowed for as long as `self`.
    ///
    /// # Safety
    ///
    /// `vcpu` is NULL or a vCPU of this VM.
    #[inline]
    unsafe fn vcpu_or_none(&self, vcpu: *mut bindings::kvm_vcpu) -> Option<&Vcpu> {
        if vcpu.is_null() {
            return None;
        }
        // SAFETY: The caller guarantees that `vcpu` is a vCPU of this VM, which KVM destroys
        // only with the VM, and so not during the borrow of `self`.
        Some(unsafe { Vcpu::from_raw(vcpu) })
    }

    /// The VM's vCPUs in index order, `kvm_for_each_vcpu()`.
    ///
    /// The vCPUs created when the iteration starts; `kvm_for_each_vcpu()` may also see one
    /// created meanwhile, which neither can tell from one created just after.
    #[inline]
    pub fn vcpus(&self) -> impl Iterator<Item = &Vcpu> {
        (0..self.online_vcpus()).filter_map(move |i| self.get_vcpu(i))
    }

    /// The vCPU whose MPIDR affinity is `mpidr` (other bits ignored), `kvm_mpidr_to_vcpu()`.
    #[inline]
    pub fn mpidr_to_vcpu(&self, mpidr: c_ulong) -> Option<&Vcpu> {
        // SAFETY: By the type invariant the VM is valid; `kvm_mpidr_to_vcpu()` takes any value
        // and returns NULL or one of the VM's vCPUs.
        unsafe { self.vcpu_or_none(bindings::kvm_mpidr_to_vcpu(self.as_ptr(), mpidr)) }
    }

    /// Returns whether userspace gave the VM's vCPUs `feature`, a `KVM_ARM_VCPU_*` bit,
    /// `kvm_vcpu_has_feature()`.
    #[inline]
    pub fn vcpu_has_feature(&self, feature: u32) -> bool {
        // `vcpu_features` has `KVM_VCPU_MAX_FEATURES` bits; no feature number reaches `c_int`'s
        // limit, and the helper checks the bound.
        let Ok(feature) = c_int::try_from(feature) else {
            return false;
        };
        // SAFETY: By the type invariant the VM is valid.
        unsafe { bindings::kvm_vcpu_has_feature(self.as_ptr(), feature) }
    }

    /// Returns whether the VM's arch flag `flag`, a `KVM_ARCH_FLAG_*` bit number, is set,
    /// `test_bit(flag, &kvm->arch.flags)`.
    #[inline]
    pub fn test_arch_flag(&self, flag: u32) -> bool {
        // SAFETY: By the type invariant the VM is valid; the helper checks the bound.
        unsafe { bindings::kvm_test_arch_flag(self.as_ptr(), flag) }
    }

    /// The PSCI version userspace chose for the VM (`KVM_REG_ARM_PSCI_VERSION`), or 0 for the
    /// default, `kvm->arch.psci_version`.
    #[inline]
    pub fn psci_version(&self) -> u32 {
        // SAFETY: By the type invariant the VM is valid, so the field is a valid, aligned `u32`.
        // Userspace may only change it before the VM first runs, under `config_lock`; loading it
        // atomically makes a racing read harmless anyway.
        unsafe { atomic_load(&raw mut (*self.as_ptr()).arch.psci_version, Relaxed) }
    }

    /// Makes `req` pending for every vCPU of the VM and kicks them,
    /// `kvm_make_all_cpus_request()`.
    #[inline]
    pub fn make_all_cpus_request(&self, req: VmRequest) {
        match req {
            // SAFETY: By the type invariant the VM is valid; `KVM_REQ_SLEEP` waits for vCPUs to
            // leave guest mode, which a vCPU thread may do (it is not in guest mode itself).
            VmRequest::Sleep => unsafe { bindings::kvm_make_all_cpus_request_sleep(self.as_ptr()) },
        }
    }
}
