// SPDX-License-Identifier: GPL-2.0-only
/*
 * NOT FOR MERGE: arm.c's C implementation of vCPU suspend (the same in 6.12
 * and 7.3), kept next to
 * the Rust one (suspend.rs) to compare the two in one kernel.
 *
 * The same switch chooses between psci.c's kvm_psci_call() (built as
 * kvm_psci_call_c() next to the Rust one) and psci_rust.rs's.
 *
 * kvm-arm.suspend_impl=rust|c on the command line chooses at boot (default
 * rust); /sys/kernel/debug/kvm/suspend_impl shows the choice and, written
 * "rust" or "c", switches at run time. Both implementations keep their
 * state in the same places (mp_state, KVM_REQ_SUSPEND), so a switch is safe
 * at any time.
 */
#include <linux/debugfs.h>
#include <linux/init.h>
#include <linux/jump_label.h>
#include <linux/kvm_host.h>
#include <linux/string.h>

#include <asm/kvm_emulate.h>

#include "suspend_c.h"

DEFINE_STATIC_KEY_FALSE(kvm_suspend_use_c);

void kvm_arm_vcpu_suspend_c(struct kvm_vcpu *vcpu)
{
	WRITE_ONCE(vcpu->arch.mp_state.mp_state, KVM_MP_STATE_SUSPENDED);
	kvm_make_request(KVM_REQ_SUSPEND, vcpu);
	kvm_vcpu_kick(vcpu);
}

static bool kvm_arm_vcpu_suspended_c(struct kvm_vcpu *vcpu)
{
	return READ_ONCE(vcpu->arch.mp_state.mp_state) == KVM_MP_STATE_SUSPENDED;
}

int kvm_vcpu_suspend_c(struct kvm_vcpu *vcpu)
{
	if (!kvm_arm_vcpu_suspended_c(vcpu))
		return 1;

	kvm_vcpu_wfi(vcpu);

	/*
	 * The suspend state is sticky; we do not leave it until userspace
	 * explicitly marks the vCPU as runnable. Request that we suspend again
	 * later.
	 */
	kvm_make_request(KVM_REQ_SUSPEND, vcpu);

	/*
	 * Check to make sure the vCPU is actually runnable. If so, exit to
	 * userspace informing it of the wakeup condition.
	 */
	if (kvm_arch_vcpu_runnable(vcpu)) {
		memset(&vcpu->run->system_event, 0, sizeof(vcpu->run->system_event));
		vcpu->run->system_event.type = KVM_SYSTEM_EVENT_WAKEUP;
		vcpu->run->exit_reason = KVM_EXIT_SYSTEM_EVENT;
		return 0;
	}

	/*
	 * Otherwise, we were unblocked to process a different event, such as a
	 * pending signal. Return 1 and allow kvm_arch_vcpu_ioctl_run() to
	 * process the event.
	 */
	return 1;
}

static const char *suspend_impl_name(void)
{
	return static_branch_unlikely(&kvm_suspend_use_c) ? "c" : "rust";
}

/* Returns 1 for "c", 0 for "rust", -EINVAL otherwise; ignores a newline. */
static int parse_suspend_impl(const char *s)
{
	if (sysfs_streq(s, "c"))
		return 1;
	if (sysfs_streq(s, "rust"))
		return 0;
	return -EINVAL;
}

static int __init set_suspend_impl(char *arg)
{
	int c = parse_suspend_impl(arg);

	if (c < 0)
		pr_warn("kvm-arm.suspend_impl=%s: neither \"rust\" nor \"c\", using rust\n",
			arg);
	else if (c)
		static_branch_enable(&kvm_suspend_use_c);
	return 1;
}
__setup("kvm-arm.suspend_impl=", set_suspend_impl);

static ssize_t suspend_impl_read(struct file *file, char __user *buf,
				 size_t len, loff_t *ppos)
{
	char s[8];
	int n = scnprintf(s, sizeof(s), "%s\n", suspend_impl_name());

	return simple_read_from_buffer(buf, len, ppos, s, n);
}

static ssize_t suspend_impl_write(struct file *file, const char __user *buf,
				  size_t len, loff_t *ppos)
{
	char s[8];
	int c;

	if (len >= sizeof(s))
		return -EINVAL;
	if (copy_from_user(s, buf, len))
		return -EFAULT;
	s[len] = '\0';
	c = parse_suspend_impl(s);
	if (c < 0)
		return c;
	if (c)
		static_branch_enable(&kvm_suspend_use_c);
	else
		static_branch_disable(&kvm_suspend_use_c);
	pr_info("kvm: vCPU suspend: %s implementation\n", suspend_impl_name());
	return len;
}

static const struct file_operations suspend_impl_fops = {
	.read = suspend_impl_read,
	.write = suspend_impl_write,
	.llseek = default_llseek,
};

static int __init suspend_impl_init(void)
{
	struct dentry *kvm_dir = debugfs_lookup("kvm", NULL);

	pr_info("kvm: vCPU suspend: %s implementation\n", suspend_impl_name());
	if (!kvm_dir)
		return 0;
	debugfs_create_file("suspend_impl", 0644, kvm_dir, NULL, &suspend_impl_fops);
	dput(kvm_dir);
	return 0;
}
late_initcall(suspend_impl_init);
