// SPDX-License-Identifier: GPL-2.0

#include <linux/kvm_host.h>

/*
 * kvm_make_request() insists on a constant request number; Rust callers
 * pass one of the requests kernel::kvm::Request names, none of which is a
 * KVM_REQUEST_NO_ACTION request.
 */
void rust_helper___kvm_make_request(int req, struct kvm_vcpu *vcpu)
{
	__kvm_make_request(req, vcpu);
}

#ifdef CONFIG_ARM64
/* KVM_REQ_SUSPEND is a statement expression, which bindgen cannot evaluate. */
int rust_helper_kvm_req_suspend(void)
{
	return KVM_REQ_SUSPEND;
}
#endif
