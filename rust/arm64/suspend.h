/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vCPU suspend (KVM_MP_STATE_SUSPENDED), implemented in Rust in suspend.rs.
 *
 * Each @vcpu must be a vCPU that KVM created and has not destroyed. The Rust
 * side takes it as a reference to its vCPU abstraction (kernel::kvm), whose
 * invariants these comments restate.
 */
#ifndef __ARM64_KVM_SUSPEND_H__
#define __ARM64_KVM_SUSPEND_H__

struct kvm_vcpu;

/*
 * Put @vcpu in KVM_MP_STATE_SUSPENDED, raise KVM_REQ_SUSPEND and kick it.
 * Context: the caller holds vcpu->arch.mp_state_lock.
 */
void kvm_arm_vcpu_suspend(struct kvm_vcpu *vcpu);

/*
 * Handle KVM_REQ_SUSPEND: emulate WFI while @vcpu is suspended. Returns 0
 * with a KVM_SYSTEM_EVENT_WAKEUP exit in vcpu->run if a wakeup event is
 * pending, 1 to go on with the run loop otherwise.
 * Context: check_vcpu_requests(), in KVM_RUN on @vcpu, preemptible.
 */
int kvm_vcpu_suspend(struct kvm_vcpu *vcpu);

#endif /* __ARM64_KVM_SUSPEND_H__ */
