// SPDX-License-Identifier: GPL-2.0
//! Making a test VM: its memory slot of guest code, its vCPUs, the
//! capabilities and the vGIC the options ask for.

use kvm_bindings::{
    kvm_enable_cap, kvm_userspace_memory_region, kvm_vcpu_init, KVM_ARM_VCPU_POWER_OFF,
    KVM_ARM_VCPU_PSCI_0_2, KVM_CAP_ARM_SYSTEM_SUSPEND,
};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};

use super::{pc_reg, TestResult};
use crate::guest::{self, GUEST_BASE, GUEST_SIZE};
use crate::vgic::Vgic;

/// The guest physical address space of a test VM, in bits: 40, the C
/// selftests' default (`VM_MODE_P40V48_4K`). `Kvm::create_vm()` asks for
/// the host's limit instead, 52 bits with LPA2, and 7.3 tears a VM's stage 2
/// down in 1 GiB steps over the whole space (`stage2_destroy_range()`: 2^22
/// walks at 52 bits), which under QEMU TCG made every VM's teardown cost a
/// large part of a second, for no coverage of the suspend path.
pub const GUEST_IPA_BITS: u32 = 40;

/// Options for a test VM.
#[derive(Debug, Clone, Copy, Default)]
pub struct VmOpts {
    /// Number of vCPUs (at least 1).
    pub vcpus: usize,
    /// Enable `KVM_CAP_ARM_SYSTEM_SUSPEND` (PSCI SYSTEM_SUSPEND exits).
    pub system_suspend: bool,
    /// Create vCPUs 1.. powered off (`KVM_ARM_VCPU_POWER_OFF`).
    pub others_off: bool,
    /// Give the VM an in-kernel vGICv3 (`crate::vgic::Vgic::new`).
    pub vgic: bool,
    /// Leave `KVM_ARM_VCPU_PSCI_0_2` out: the vCPUs get KVM's PSCI 0.1.
    pub psci_0_1: bool,
}

/// A VM with guest code at `GUEST_BASE` and its vCPUs.
pub struct TestVm {
    /// The VM.
    pub vm: VmFd,
    /// Its vCPUs, all starting at `GUEST_BASE`.
    pub vcpus: Vec<VcpuFd>,
    /// Its vGICv3, if `VmOpts::vgic`.
    pub gic: Option<Vgic>,
    /// What vCPU 0 was given to `KVM_ARM_VCPU_INIT`.
    pub init: kvm_vcpu_init,
    mem: *mut libc::c_void,
    _kvm: Kvm,
}

/// A fresh anonymous mapping of `GUEST_SIZE` bytes for the guest memory.
fn map_guest_memory() -> TestResult<*mut libc::c_void> {
    // SAFETY: a fresh anonymous private mapping; no Rust object aliases it.
    let mem = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            GUEST_SIZE as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if mem == libc::MAP_FAILED {
        return Err(format!("mmap: {}", std::io::Error::last_os_error()));
    }
    Ok(mem)
}

impl Drop for TestVm {
    fn drop(&mut self) {
        // SAFETY: `mem` is the mapping made in `new()`, of `GUEST_SIZE` bytes;
        // the VM that uses it is dropped with `self` right after.
        unsafe { libc::munmap(self.mem, GUEST_SIZE as usize) };
    }
}

impl TestVm {
    /// A VM with one vCPU running `code`.
    pub fn one(code: &[u32]) -> TestResult<Self> {
        Self::new(
            code,
            VmOpts {
                vcpus: 1,
                ..Default::default()
            },
        )
    }

    /// Creates the VM, its memory with `code`, and `opts.vcpus` vCPUs.
    pub fn new(code: &[u32], opts: VmOpts) -> TestResult<Self> {
        let kvm = Kvm::new().map_err(|e| format!("open /dev/kvm: {e}"))?;
        let vm = kvm
            .create_vm_with_ipa_size(GUEST_IPA_BITS)
            .map_err(|e| format!("KVM_CREATE_VM({GUEST_IPA_BITS}-bit IPA): {e}"))?;
        if opts.system_suspend {
            let cap = kvm_enable_cap {
                cap: KVM_CAP_ARM_SYSTEM_SUSPEND,
                ..Default::default()
            };
            vm.enable_cap(&cap)
                .map_err(|e| format!("KVM_ENABLE_CAP(ARM_SYSTEM_SUSPEND): {e}"))?;
        }
        let mem = map_guest_memory()?;
        let mut this = TestVm {
            vm,
            vcpus: Vec::new(),
            gic: None,
            init: kvm_vcpu_init::default(),
            mem,
            _kvm: kvm,
        };
        this.load_code(code)?;
        this.create_vcpus(opts)?;
        if opts.vgic {
            this.gic = Some(Vgic::new(&this.vm, this.vcpus.len())?);
        }
        Ok(this)
    }

    /// Copies `code` to the start of the guest memory and gives the memory
    /// to the VM as slot 0, at `GUEST_BASE`.
    fn load_code(&mut self, code: &[u32]) -> TestResult {
        let bytes = guest::to_bytes(code);
        if bytes.len() as u64 > GUEST_SIZE {
            return Err("guest code larger than its memory".into());
        }
        // SAFETY: `mem` is GUEST_SIZE writable bytes, `bytes` fits (checked).
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.mem.cast::<u8>(), bytes.len())
        };
        let region = kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: GUEST_BASE,
            memory_size: GUEST_SIZE,
            userspace_addr: self.mem as u64,
        };
        // SAFETY: the mapping outlives the VM: `TestVm` unmaps it in `drop()`,
        // after which the VM fd (a field) is closed.
        unsafe { self.vm.set_user_memory_region(region) }
            .map_err(|e| format!("KVM_SET_USER_MEMORY_REGION: {e}"))
    }

    /// Creates `opts.vcpus` vCPUs (at least one), initialised for the
    /// preferred target with PSCI 0.2 unless `opts.psci_0_1`, vCPUs 1..
    /// powered off if `opts.others_off`, each with its PC at `GUEST_BASE`.
    fn create_vcpus(&mut self, opts: VmOpts) -> TestResult {
        let mut init = kvm_vcpu_init::default();
        self.vm
            .get_preferred_target(&mut init)
            .map_err(|e| format!("KVM_ARM_PREFERRED_TARGET: {e}"))?;
        if !opts.psci_0_1 {
            init.features[0] |= 1 << KVM_ARM_VCPU_PSCI_0_2;
        }
        for id in 0..opts.vcpus.max(1) {
            let vcpu = self
                .vm
                .create_vcpu(id as u64)
                .map_err(|e| format!("KVM_CREATE_VCPU({id}): {e}"))?;
            let mut vinit = init;
            if opts.others_off && id > 0 {
                vinit.features[0] |= 1 << KVM_ARM_VCPU_POWER_OFF;
            }
            vcpu.vcpu_init(&vinit)
                .map_err(|e| format!("KVM_ARM_VCPU_INIT({id}): {e}"))?;
            vcpu.set_one_reg(pc_reg(), &GUEST_BASE.to_le_bytes())
                .map_err(|e| format!("set PC: {e}"))?;
            self.vcpus.push(vcpu);
        }
        self.init = init;
        Ok(())
    }

    /// The VM's vGIC; fails for a VM made without one.
    pub fn gic(&self) -> TestResult<&Vgic> {
        self.gic
            .as_ref()
            .ok_or_else(|| "the test VM has no vGIC".to_string())
    }
}
