// SPDX-License-Identifier: GPL-2.0
/*
 * suspend_demo - a minimal VMM that walks one vCPU through the suspend UAPI
 * and narrates what it does, what KVM answers and how long it takes.
 *
 * Raw KVM ioctls only, as a VMM would issue them. The guest is five
 * hand-assembled instructions that report two stages by MMIO writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#define GUEST_BASE	0x10000ul
#define GUEST_SIZE	0x10000ul
#define MMIO_ADDR	0x10000000ul

static const uint32_t guest_code[] = {
	0xd2a20001,	/* movz x1, #0x1000, lsl #16	x1 = MMIO_ADDR */
	0xd2800020,	/* movz x0, #1 */
	0xf9000020,	/* str  x0, [x1]		stage 1 */
	0xd2800040,	/* movz x0, #2 */
	0xf9000020,	/* str  x0, [x1]		stage 2 */
	0x14000000,	/* b    . */
};

static int vcpu_fd, vm_fd;
static struct kvm_run *run;
static double t0;

static double now_ms(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void say(const char *who, const char *fmt, ...)
{
	va_list ap;

	printf("[%8.3f ms] %-5s ", now_ms(CLOCK_MONOTONIC) - t0, who);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void die(const char *what)
{
	fprintf(stderr, "suspend_demo: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int xioctl(int fd, unsigned long req, void *arg, const char *name)
{
	int ret = ioctl(fd, req, arg);

	if (ret < 0)
		die(name);
	return ret;
}

static const char *mp_name(uint32_t s)
{
	return s == KVM_MP_STATE_RUNNABLE ? "KVM_MP_STATE_RUNNABLE" :
	       s == KVM_MP_STATE_STOPPED ? "KVM_MP_STATE_STOPPED" :
	       s == KVM_MP_STATE_SUSPENDED ? "KVM_MP_STATE_SUSPENDED" : "?";
}

static void set_mp_state(uint32_t state)
{
	struct kvm_mp_state mp = { .mp_state = state };

	xioctl(vcpu_fd, KVM_SET_MP_STATE, &mp, "KVM_SET_MP_STATE");
	xioctl(vcpu_fd, KVM_GET_MP_STATE, &mp, "KVM_GET_MP_STATE");
	say("VMM", "KVM_SET_MP_STATE(%s) = 0; KVM_GET_MP_STATE says %s",
	    mp_name(state), mp_name(mp.mp_state));
}

static void irq_line(int level)
{
	struct kvm_irq_level irq = {
		.irq = (KVM_ARM_IRQ_TYPE_CPU << KVM_ARM_IRQ_TYPE_SHIFT) |
		       KVM_ARM_IRQ_CPU_IRQ,
		.level = level,
	};

	xioctl(vm_fd, KVM_IRQ_LINE, &irq, "KVM_IRQ_LINE");
}

static uint64_t core_reg(size_t offset)
{
	return KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offset / 4);
}

static uint64_t get_pc(void)
{
	uint64_t pc;
	struct kvm_one_reg reg = {
		.id = core_reg(offsetof(struct kvm_regs, regs.pc)),
		.addr = (uintptr_t)&pc,
	};

	xioctl(vcpu_fd, KVM_GET_ONE_REG, &reg, "KVM_GET_ONE_REG(pc)");
	return pc;
}

/* A helper thread: after @delay_ms, either signal the vCPU thread or raise its IRQ line. */
struct poke {
	pthread_t target;
	unsigned int delay_ms;
	int irq;
	double at;
};

static void *poker(void *arg)
{
	struct poke *p = arg;

	usleep(p->delay_ms * 1000);
	p->at = now_ms(CLOCK_MONOTONIC);
	if (p->irq) {
		say("VMM", "  (other thread) KVM_IRQ_LINE: raise the vCPU's IRQ line");
		irq_line(1);
	} else {
		say("VMM", "  (other thread) send SIGUSR1 to the vCPU thread");
		pthread_kill(p->target, SIGUSR1);
	}
	return NULL;
}

static void on_sigusr1(int sig __attribute__((unused)))
{
}

/* KVM_RUN while another thread pokes the vCPU; report what came back. */
static int run_poked(unsigned int delay_ms, int irq, int *err, double *latency)
{
	struct poke p = { .target = pthread_self(), .delay_ms = delay_ms, .irq = irq };
	double cpu0, cpu1, start, end;
	pthread_t thread;
	int ret;

	if (pthread_create(&thread, NULL, poker, &p))
		die("pthread_create");
	cpu0 = now_ms(CLOCK_THREAD_CPUTIME_ID);
	start = now_ms(CLOCK_MONOTONIC);
	ret = ioctl(vcpu_fd, KVM_RUN, NULL);
	*err = errno;
	end = now_ms(CLOCK_MONOTONIC);
	cpu1 = now_ms(CLOCK_THREAD_CPUTIME_ID);
	pthread_join(thread, NULL);
	*latency = (end - p.at) * 1e3;
	say("KVM", "KVM_RUN returned %d%s%s after %.1f ms, %.3f ms of it on CPU",
	    ret, ret ? " errno " : "", ret ? strerror(*err) : "", end - start,
	    cpu1 - cpu0);
	return ret;
}

static int check(int ok, const char *what)
{
	say(ok ? "ok" : "FAIL", "%s", what);
	return ok ? 0 : 1;
}

int main(void)
{
	struct kvm_userspace_memory_region region;
	struct sigaction sa = { .sa_handler = on_sigusr1 };
	struct kvm_vcpu_init init;
	struct kvm_one_reg reg;
	uint64_t pc = GUEST_BASE, stage1_pc;
	double latency;
	int kvm, ret, err, fails = 0;
	long mmap_size;
	void *mem;

	t0 = now_ms(CLOCK_MONOTONIC);
	sigaction(SIGUSR1, &sa, NULL);	/* no SA_RESTART: KVM_RUN sees EINTR */

	kvm = open("/dev/kvm", O_RDWR);
	if (kvm < 0)
		die("/dev/kvm");
	vm_fd = xioctl(kvm, KVM_CREATE_VM, 0, "KVM_CREATE_VM");
	mem = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	memcpy(mem, guest_code, sizeof(guest_code));
	region = (struct kvm_userspace_memory_region) {
		.guest_phys_addr = GUEST_BASE, .memory_size = GUEST_SIZE,
		.userspace_addr = (uintptr_t)mem,
	};
	xioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");
	vcpu_fd = xioctl(vm_fd, KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU");
	xioctl(vm_fd, KVM_ARM_PREFERRED_TARGET, &init, "KVM_ARM_PREFERRED_TARGET");
	xioctl(vcpu_fd, KVM_ARM_VCPU_INIT, &init, "KVM_ARM_VCPU_INIT");
	reg.id = core_reg(offsetof(struct kvm_regs, regs.pc));
	reg.addr = (uintptr_t)&pc;
	xioctl(vcpu_fd, KVM_SET_ONE_REG, &reg, "KVM_SET_ONE_REG(pc)");
	mmap_size = xioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, NULL, "KVM_GET_VCPU_MMAP_SIZE");
	run = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
	if (run == MAP_FAILED)
		die("mmap(kvm_run)");
	say("VMM", "VM with one vCPU, no in-kernel irqchip; guest code at 0x%lx", GUEST_BASE);

	/* 1. The guest runs up to its first MMIO write. */
	xioctl(vcpu_fd, KVM_RUN, NULL, "KVM_RUN");
	stage1_pc = get_pc();
	say("guest", "MMIO write of %llu to 0x%llx at PC 0x%lx (exit_reason %u = KVM_EXIT_MMIO)",
	    (unsigned long long)*(uint64_t *)run->mmio.data,
	    (unsigned long long)run->mmio.phys_addr, stage1_pc, run->exit_reason);
	fails += check(run->exit_reason == KVM_EXIT_MMIO && run->mmio.data[0] == 1,
		       "the guest reached stage 1");

	/* 2. Suspend it, as a VMM does for PSCI SYSTEM_SUSPEND. */
	set_mp_state(KVM_MP_STATE_SUSPENDED);

	/* 3. Nothing pending: KVM_RUN blocks; a signal ends it with EINTR. */
	say("VMM", "KVM_RUN with no wakeup event pending; SIGUSR1 in 200 ms");
	ret = run_poked(200, 0, &err, &latency);
	fails += check(ret == -1 && err == EINTR,
		       "a signal is no wakeup: EINTR, and the vCPU stays suspended");

	/* 4. An interrupt is a wakeup event: KVM_SYSTEM_EVENT_WAKEUP. */
	say("VMM", "KVM_RUN again; the IRQ line goes up in 300 ms");
	ret = run_poked(300, 1, &err, &latency);
	say("KVM", "exit_reason %u (KVM_EXIT_SYSTEM_EVENT = %u), system_event.type %u (KVM_SYSTEM_EVENT_WAKEUP = %u), ndata %u; %.0f us after the IRQ",
	    run->exit_reason, KVM_EXIT_SYSTEM_EVENT, run->system_event.type,
	    KVM_SYSTEM_EVENT_WAKEUP, run->system_event.ndata, latency);
	fails += check(ret == 0 && run->exit_reason == KVM_EXIT_SYSTEM_EVENT &&
		       run->system_event.type == KVM_SYSTEM_EVENT_WAKEUP,
		       "the interrupt woke the vCPU: KVM_SYSTEM_EVENT_WAKEUP");

	/* 5. Honour the wakeup: resume the guest where it stopped. */
	irq_line(0);
	say("VMM", "KVM_IRQ_LINE: lower the IRQ line (the guest has IRQs masked)");
	set_mp_state(KVM_MP_STATE_RUNNABLE);
	xioctl(vcpu_fd, KVM_RUN, NULL, "KVM_RUN");
	say("guest", "MMIO write of %llu at PC 0x%lx",
	    (unsigned long long)*(uint64_t *)run->mmio.data, get_pc());
	fails += check(run->exit_reason == KVM_EXIT_MMIO && run->mmio.data[0] == 2 &&
		       get_pc() == stage1_pc + 8,
		       "the guest resumed at its next instruction and reached stage 2");

	say(fails ? "FAIL" : "done", "%d of 4 checks failed", fails);
	return fails ? 1 : 0;
}
