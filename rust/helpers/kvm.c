// SPDX-License-Identifier: GPL-2.0

#if defined(CONFIG_ARM64) && IS_ENABLED(CONFIG_KVM)
#include <linux/kvm_host.h>

/*
 * kvm_make_request() is inline and checks at build time that its request
 * number is a constant; KVM_REQ_SUSPEND is a statement expression, which
 * bindgen cannot evaluate. One helper per request keeps both.
 */
__rust_helper void rust_helper_kvm_make_request_suspend(struct kvm_vcpu *vcpu)
{
	kvm_make_request(KVM_REQ_SUSPEND, vcpu);
}

__rust_helper void rust_helper_kvm_vcpu_kick(struct kvm_vcpu *vcpu)
{
	kvm_vcpu_kick(vcpu);
}
#endif
