// SPDX-License-Identifier: GPL-2.0

#if defined(CONFIG_ARM64) && IS_ENABLED(CONFIG_KVM)
#include <linux/kvm_host.h>
#include <asm/kvm_emulate.h>

/*
 * kvm_make_request() is inline and checks at build time that its request
 * number is a constant; KVM_REQ_* are statement expressions, which bindgen
 * cannot evaluate. One helper per request keeps both.
 */
__rust_helper void rust_helper_kvm_make_request_suspend(struct kvm_vcpu *vcpu)
{
	kvm_make_request(KVM_REQ_SUSPEND, vcpu);
}

__rust_helper void rust_helper_kvm_make_request_vcpu_reset(struct kvm_vcpu *vcpu)
{
	kvm_make_request(KVM_REQ_VCPU_RESET, vcpu);
}

__rust_helper void rust_helper_kvm_make_all_cpus_request_sleep(struct kvm *kvm)
{
	kvm_make_all_cpus_request(kvm, KVM_REQ_SLEEP);
}

__rust_helper void rust_helper_kvm_vcpu_kick(struct kvm_vcpu *vcpu)
{
	kvm_vcpu_kick(vcpu);
}

__rust_helper struct kvm_vcpu *rust_helper_kvm_get_vcpu(struct kvm *kvm, int i)
{
	return kvm_get_vcpu(kvm, i);
}

__rust_helper bool rust_helper_kvm_vcpu_has_feature(struct kvm *kvm, int feature)
{
	if (feature < 0 || feature >= KVM_VCPU_MAX_FEATURES)
		return false;
	return kvm_vcpu_has_feature(kvm, feature);
}

__rust_helper bool rust_helper_kvm_test_arch_flag(struct kvm *kvm, unsigned int flag)
{
	if (flag >= BITS_PER_LONG)
		return false;
	return test_bit(flag, &kvm->arch.flags);
}

__rust_helper unsigned long rust_helper_vcpu_get_reg(const struct kvm_vcpu *vcpu,
						     u8 reg_num)
{
	return vcpu_get_reg(vcpu, reg_num);
}

__rust_helper void rust_helper_vcpu_set_reg(struct kvm_vcpu *vcpu, u8 reg_num,
					    unsigned long val)
{
	vcpu_set_reg(vcpu, reg_num, val);
}

__rust_helper bool rust_helper_vcpu_mode_is_32bit(const struct kvm_vcpu *vcpu)
{
	return vcpu_mode_is_32bit(vcpu);
}

__rust_helper bool rust_helper_kvm_vcpu_is_be(struct kvm_vcpu *vcpu)
{
	return kvm_vcpu_is_be(vcpu);
}

__rust_helper unsigned long rust_helper_kvm_vcpu_get_mpidr_aff(struct kvm_vcpu *vcpu)
{
	return kvm_vcpu_get_mpidr_aff(vcpu);
}
#endif
