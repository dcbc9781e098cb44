/* SPDX-License-Identifier: GPL-2.0-only */
/* NOT FOR MERGE: arm.c's C vCPU suspend, for comparison with suspend.rs. */
#ifndef __ARM64_KVM_SUSPEND_C_H__
#define __ARM64_KVM_SUSPEND_C_H__

#include <linux/jump_label.h>

struct kvm_vcpu;

DECLARE_STATIC_KEY_FALSE(kvm_suspend_use_c);

void kvm_arm_vcpu_suspend_c(struct kvm_vcpu *vcpu);
int kvm_vcpu_suspend_c(struct kvm_vcpu *vcpu);

#endif /* __ARM64_KVM_SUSPEND_C_H__ */
