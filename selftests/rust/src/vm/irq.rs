// SPDX-License-Identifier: GPL-2.0
//! Interrupt lines of a VM without an in-kernel irqchip
//! (`KVM_ARM_IRQ_TYPE_CPU`), the wakeup events of the suspend cases.

use kvm_bindings::{
    KVM_ARM_IRQ_CPU_IRQ, KVM_ARM_IRQ_NUM_MASK, KVM_ARM_IRQ_NUM_SHIFT, KVM_ARM_IRQ_TYPE_CPU,
    KVM_ARM_IRQ_TYPE_MASK, KVM_ARM_IRQ_TYPE_SHIFT, KVM_ARM_IRQ_VCPU2_MASK, KVM_ARM_IRQ_VCPU2_SHIFT,
    KVM_ARM_IRQ_VCPU_MASK, KVM_ARM_IRQ_VCPU_SHIFT,
};
use kvm_ioctls::VmFd;

use super::{TestResult, TestVm};

/// The `irq` field of arm64's `KVM_IRQ_LINE` (`struct kvm_irq_level`): line
/// `irq_num` of type `irq_type` (`KVM_ARM_IRQ_TYPE_*`), for vCPU `vcpu_id`
/// where the type has one. It is what `kvm_vm_ioctl_irq_line()` in
/// arch/arm64/kvm/arm.c decodes (and QEMU's `kvm_arm_set_irq()` encodes):
/// each value masked to its field, `vcpu_id` split over the vcpu_index and
/// vcpu2_index fields.
pub const fn kvm_arm_irq(irq_type: u32, vcpu_id: usize, irq_num: u32) -> u32 {
    let vcpu = vcpu_id as u32;
    let vcpu2 = vcpu / (KVM_ARM_IRQ_VCPU_MASK + 1);
    (vcpu2 & KVM_ARM_IRQ_VCPU2_MASK) << KVM_ARM_IRQ_VCPU2_SHIFT
        | (irq_type & KVM_ARM_IRQ_TYPE_MASK) << KVM_ARM_IRQ_TYPE_SHIFT
        | (vcpu & KVM_ARM_IRQ_VCPU_MASK) << KVM_ARM_IRQ_VCPU_SHIFT
        | (irq_num & KVM_ARM_IRQ_NUM_MASK) << KVM_ARM_IRQ_NUM_SHIFT
}

/// Raises or lowers vCPU `i`'s IRQ line (`KVM_ARM_IRQ_TYPE_CPU`) on `vm`.
pub fn irq_line_raw(vm: &VmFd, i: usize, level: bool) -> TestResult {
    let irq = kvm_arm_irq(KVM_ARM_IRQ_TYPE_CPU, i, KVM_ARM_IRQ_CPU_IRQ);
    vm.set_irq_line(irq, level)
        .map_err(|e| format!("KVM_IRQ_LINE: {e}"))
}

impl TestVm {
    /// Raises or lowers vCPU `i`'s IRQ line (`KVM_ARM_IRQ_TYPE_CPU`).
    pub fn irq_line(&self, i: usize, level: bool) -> TestResult {
        irq_line_raw(&self.vm, i, level)
    }
}
