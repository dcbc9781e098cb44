// SPDX-License-Identifier: GPL-2.0
//! Register access: `KVM_{GET,SET}_ONE_REG` ids of the core and system
//! registers, reading and writing them, and vCPU attributes.

use kvm_bindings::{KVM_REG_ARM64, KVM_REG_ARM64_SYSREG, KVM_REG_ARM_CORE, KVM_REG_SIZE_U64};
use kvm_ioctls::VcpuFd;

use super::{TestResult, TestVm};

/// Core register id for `KVM_{GET,SET}_ONE_REG` at `offset` in `struct kvm_regs`.
pub fn core_reg(offset: usize) -> u64 {
    KVM_REG_ARM64 | KVM_REG_SIZE_U64 | u64::from(KVM_REG_ARM_CORE) | (offset / 4) as u64
}

/// Id of `regs.regs[n]` (x0-x30).
pub fn xreg(n: usize) -> u64 {
    core_reg(std::mem::offset_of!(kvm_bindings::kvm_regs, regs.regs) + 8 * n)
}
/// Id of `regs.pc`.
pub fn pc_reg() -> u64 {
    core_reg(std::mem::offset_of!(kvm_bindings::kvm_regs, regs.pc))
}
/// Id of `regs.pstate`.
pub fn pstate_reg() -> u64 {
    core_reg(std::mem::offset_of!(kvm_bindings::kvm_regs, regs.pstate))
}
/// Id of `regs.sp`.
pub fn sp_reg() -> u64 {
    core_reg(std::mem::offset_of!(kvm_bindings::kvm_regs, regs.sp))
}

/// The (op0, op1, CRn, CRm, op2) fields of a system register as KVM encodes
/// them, in `KVM_{GET,SET}_ONE_REG` ids and in the vGIC's CPU-interface
/// register attributes alike.
pub fn sysreg_fields([op0, op1, crn, crm, op2]: [u64; 5]) -> u64 {
    use kvm_bindings::{
        KVM_REG_ARM64_SYSREG_CRM_SHIFT, KVM_REG_ARM64_SYSREG_CRN_SHIFT,
        KVM_REG_ARM64_SYSREG_OP0_SHIFT, KVM_REG_ARM64_SYSREG_OP1_SHIFT,
        KVM_REG_ARM64_SYSREG_OP2_SHIFT,
    };
    op0 << KVM_REG_ARM64_SYSREG_OP0_SHIFT
        | op1 << KVM_REG_ARM64_SYSREG_OP1_SHIFT
        | crn << KVM_REG_ARM64_SYSREG_CRN_SHIFT
        | crm << KVM_REG_ARM64_SYSREG_CRM_SHIFT
        | op2 << KVM_REG_ARM64_SYSREG_OP2_SHIFT
}

/// Id of a 64-bit system register for `KVM_{GET,SET}_ONE_REG`.
pub fn sys_reg(reg: [u64; 5]) -> u64 {
    KVM_REG_ARM64 | KVM_REG_SIZE_U64 | u64::from(KVM_REG_ARM64_SYSREG) | sysreg_fields(reg)
}

/// `KVM_REG_ARM_TIMER_CVAL`: the guest's `CNTV_CVAL_EL0`. The uapi encodes
/// it as (3, 3, 14, 0, 2), swapped with `KVM_REG_ARM_TIMER_CNT`, for ABI
/// compatibility; bindgen cannot evaluate the `ARM64_SYS_REG()` macro.
pub const TIMER_CVAL: [u64; 5] = [3, 3, 14, 0, 2];
/// `KVM_REG_ARM_TIMER_CNT`: the guest's virtual count, `CNTVCT_EL0`.
pub const TIMER_CNT: [u64; 5] = [3, 3, 14, 3, 2];

impl TestVm {
    /// Reads a 64-bit register of vCPU `i`.
    pub fn get_reg(&self, i: usize, id: u64) -> TestResult<u64> {
        let mut b = [0u8; 8];
        self.vcpus[i]
            .get_one_reg(id, &mut b)
            .map_err(|e| format!("KVM_GET_ONE_REG({id:#x}): {e}"))?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes a 64-bit register of vCPU `i`.
    pub fn set_reg(&self, i: usize, id: u64, value: u64) -> TestResult {
        self.vcpus[i]
            .set_one_reg(id, &value.to_le_bytes())
            .map(|_| ())
            .map_err(|e| format!("KVM_SET_ONE_REG({id:#x}): {e}"))
    }

    /// x0-x30, sp, pc and pstate of vCPU `i`.
    pub fn core_regs(&self, i: usize) -> TestResult<Vec<u64>> {
        let mut ids: Vec<u64> = (0..31).map(xreg).collect();
        ids.extend([sp_reg(), pc_reg(), pstate_reg()]);
        ids.into_iter().map(|id| self.get_reg(i, id)).collect()
    }
}

vmm_sys_util::ioctl_iow_nr!(
    KVM_GET_DEVICE_ATTR,
    kvm_bindings::KVMIO,
    0xe2,
    kvm_bindings::kvm_device_attr
);

/// `KVM_GET_DEVICE_ATTR` of a 32-bit vCPU attribute (kvm-ioctls 0.25 has it
/// for device fds only).
pub fn vcpu_attr_u32(vcpu: &VcpuFd, group: u32, attr: u64) -> TestResult<u32> {
    let mut value = 0u32;
    let a = kvm_bindings::kvm_device_attr {
        group,
        attr,
        addr: &mut value as *mut u32 as u64,
        flags: 0,
    };
    // SAFETY: `a` points KVM at `value`, a u32 that lives across the call,
    // which is what a 32-bit attribute writes.
    let rc = unsafe { vmm_sys_util::ioctl::ioctl_with_ref(vcpu, KVM_GET_DEVICE_ATTR(), &a) };
    if rc < 0 {
        return Err(format!(
            "KVM_GET_DEVICE_ATTR({group}, {attr}): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(value)
}
