// SPDX-License-Identifier: GPL-2.0

#include <linux/kvm_host.h>

void rust_helper_kvm_make_request(int req, struct kvm_vcpu *vcpu)
{
	kvm_make_request(req, vcpu);
}

#ifdef CONFIG_ARM64
/* KVM_REQ_SUSPEND is a statement expression, which bindgen cannot evaluate. */
int rust_helper_kvm_req_suspend(void)
{
	return KVM_REQ_SUSPEND;
}
#endif
