/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * NOT FOR MERGE: arm.c's C vCPU suspend and psci.c's C PSCI, for comparison
 * with suspend.rs and psci_rust.rs.
 */
#ifndef __ARM64_KVM_SUSPEND_C_H__
#define __ARM64_KVM_SUSPEND_C_H__

#include <linux/jump_label.h>

struct kvm_vcpu;

DECLARE_STATIC_KEY_FALSE(kvm_suspend_use_c);

void kvm_arm_vcpu_suspend_c(struct kvm_vcpu *vcpu);
int kvm_vcpu_suspend_c(struct kvm_vcpu *vcpu);
/* psci.c's kvm_psci_call(), renamed when the Rust one is built too. */
int kvm_psci_call_c(struct kvm_vcpu *vcpu);

#endif /* __ARM64_KVM_SUSPEND_C_H__ */
