// SPDX-License-Identifier: GPL-2.0-only
/*
 * vcpu_suspend - Tests for userspace-driven vCPU suspend on arm64:
 * KVM_MP_STATE_SUSPENDED and the KVM_SYSTEM_EVENT_WAKEUP exit.
 *
 * While a vCPU is in KVM_MP_STATE_SUSPENDED, KVM_RUN emulates WFI. A wakeup
 * event (here: the vCPU's IRQ line, KVM_ARM_IRQ_TYPE_CPU, on a VM without an
 * in-kernel irqchip) makes KVM_RUN exit with KVM_SYSTEM_EVENT_WAKEUP and a
 * zeroed payload; anything else that ends the wait (a signal) makes it fail
 * with EINTR. The state is sticky until userspace sets another one.
 *
 * The vgic_* cases do the same with an in-kernel vGICv3, as VMMs run guests:
 * an SPI (from KVM_IRQ_LINE or through irqfd), the guest's own virtual timer
 * and an SGI from another vCPU wake the vCPU; an interrupt the guest's GIC
 * state masks does not. Whether a
 * vCPU is waiting is read from KVM's "blocking" statistic.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include <linux/sizes.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "kvm_test_harness.h"
#include "arch_timer.h"
#include "gic.h"
#include "gic_v3.h"
#include "vgic.h"

/* How long a vCPU must stay in KVM_RUN to count as blocked. */
#define BLOCKED_MS		200
/* How long to wait for KVM_RUN to return once it should. */
#define RETURN_TIMEOUT_MS	5000
/* At most this share of wall time may a blocked vCPU thread spend on CPU. */
#define MAX_BLOCKED_CPU_PERCENT	10

#define GUEST_COOKIE		0x5a5a5a5a12345678ul
#define STAGE_SERROR_READY	0x5e00
#define STAGE_SERROR_TAKEN	0x5e01

static void guest_code(u64 cookie)
{
	GUEST_SYNC(cookie);
	GUEST_SYNC(cookie ^ 0xff);
	GUEST_DONE();
}

static const char *mp_state_name(u32 state)
{
	switch (state) {
	case KVM_MP_STATE_RUNNABLE:	return "RUNNABLE";
	case KVM_MP_STATE_STOPPED:	return "STOPPED";
	case KVM_MP_STATE_SUSPENDED:	return "SUSPENDED";
	default:			return "(not an arm64 state)";
	}
}

static u32 get_mp_state(struct kvm_vcpu *vcpu)
{
	struct kvm_mp_state mp_state;

	vcpu_mp_state_get(vcpu, &mp_state);
	return mp_state.mp_state;
}

static void set_mp_state(struct kvm_vcpu *vcpu, u32 state)
{
	struct kvm_mp_state mp_state = { .mp_state = state };

	vcpu_mp_state_set(vcpu, &mp_state);
}

static void assert_mp_state(struct kvm_vcpu *vcpu, u32 expected)
{
	u32 got = get_mp_state(vcpu);

	TEST_ASSERT(got == expected,
		    "KVM_GET_MP_STATE: expected %s (%u), got %s (%u)",
		    mp_state_name(expected), expected, mp_state_name(got), got);
}

/* Raise or lower the vCPU's IRQ line; needs a VM without a vGIC. */
static void set_irq_line(struct kvm_vcpu *vcpu, int level)
{
	struct kvm_irq_level irq_level = {
		.irq = (KVM_ARM_IRQ_TYPE_CPU << KVM_ARM_IRQ_TYPE_SHIFT) |
		       (vcpu->id << KVM_ARM_IRQ_VCPU_SHIFT) |
		       KVM_ARM_IRQ_CPU_IRQ,
		.level = level,
	};

	vm_ioctl(vcpu->vm, KVM_IRQ_LINE, &irq_level);
}

/* Fill the system_event payload with garbage that KVM must overwrite. */
static void scribble_system_event(struct kvm_run *run)
{
	memset(&run->system_event, 0xa5, sizeof(run->system_event));
}

static void assert_wakeup_exit(struct kvm_vcpu *vcpu, int ret, int err)
{
	struct kvm_run *run = vcpu->run;
	unsigned int i;

	TEST_ASSERT(ret == 0, "KVM_RUN: expected 0, got %d (errno %d: %s)",
		    ret, err, strerror(err));
	TEST_ASSERT(run->exit_reason == KVM_EXIT_SYSTEM_EVENT,
		    "exit_reason: expected KVM_EXIT_SYSTEM_EVENT (%u), got %s (%u)",
		    KVM_EXIT_SYSTEM_EVENT, exit_reason_str(run->exit_reason),
		    run->exit_reason);
	TEST_ASSERT(run->system_event.type == KVM_SYSTEM_EVENT_WAKEUP,
		    "system_event.type: expected KVM_SYSTEM_EVENT_WAKEUP (%u), got %u",
		    KVM_SYSTEM_EVENT_WAKEUP, run->system_event.type);
	TEST_ASSERT(run->system_event.ndata == 0,
		    "system_event.ndata: expected 0, got %u",
		    run->system_event.ndata);
	for (i = 0; i < ARRAY_SIZE(run->system_event.data); i++)
		TEST_ASSERT(run->system_event.data[i] == 0,
			    "system_event.data[%u]: expected 0, got 0x%llx",
			    i, run->system_event.data[i]);
}

/* KVM_RUN in the calling thread; the guest must report stage @stage. */
static void run_expect_sync(struct kvm_vcpu *vcpu, u64 arg)
{
	struct ucall uc;
	u64 cmd;

	vcpu_run(vcpu);
	cmd = get_ucall(vcpu, &uc);
	if (cmd == UCALL_ABORT)
		REPORT_GUEST_ASSERT(uc);
	TEST_ASSERT(cmd == UCALL_SYNC,
		    "guest: expected UCALL_SYNC (%u), got ucall %lu, exit_reason %s",
		    UCALL_SYNC, cmd, exit_reason_str(vcpu->run->exit_reason));
	TEST_ASSERT(uc.args[1] == arg,
		    "guest: expected GUEST_SYNC(0x%lx), got GUEST_SYNC(0x%lx)",
		    arg, uc.args[1]);
}

/*
 * KVM_RUN in a thread of its own, so that the test can watch it block,
 * measure its CPU time, interrupt it with a signal or wake it up.
 */
struct runner {
	struct kvm_vcpu *vcpu;
	pthread_t thread;
	atomic_bool done;
	int ret;
	int err;
};

static void sigusr1_handler(int sig)
{
}

static void *runner_fn(void *arg)
{
	struct runner *r = arg;

	r->ret = __vcpu_run(r->vcpu);
	r->err = errno;
	atomic_store(&r->done, true);
	return NULL;
}

static void runner_start(struct runner *r, struct kvm_vcpu *vcpu)
{
	struct sigaction sa = { .sa_handler = sigusr1_handler };

	/* No SA_RESTART: KVM_RUN must see the signal and return EINTR. */
	TEST_ASSERT(!sigaction(SIGUSR1, &sa, NULL), "sigaction failed");
	r->vcpu = vcpu;
	r->ret = 0;
	r->err = 0;
	atomic_store(&r->done, false);
	TEST_ASSERT(!pthread_create(&r->thread, NULL, runner_fn, r),
		    "pthread_create failed");
}

static u64 now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static bool runner_wait(struct runner *r, unsigned int ms)
{
	u64 end = now_ns(CLOCK_MONOTONIC) + ms * 1000000ul;

	while (!atomic_load(&r->done) && now_ns(CLOCK_MONOTONIC) < end)
		usleep(1000);
	return atomic_load(&r->done);
}

/*
 * Wait until the vCPU of @r is in kvm_vcpu_block(), as KVM's "blocking"
 * statistic says (set before its first check for a wakeup event): from then
 * on, an event that ends KVM_RUN came while it was on its way to sleep or
 * asleep, not before KVM_RUN began. vcpu_get_stat() reads the binary stats
 * fd that the library opened when it created the vCPU: unlike a vCPU ioctl,
 * that does not wait for the vcpu->mutex KVM_RUN holds.
 */
static void wait_blocking(struct runner *r, const char *what)
{
	u64 end = now_ns(CLOCK_MONOTONIC) + RETURN_TIMEOUT_MS * 1000000ul;

	while (!atomic_load(&r->done) && !vcpu_get_stat(r->vcpu, blocking) &&
	       now_ns(CLOCK_MONOTONIC) < end)
		usleep(1000);
	TEST_ASSERT(!atomic_load(&r->done),
		    "%s: expected KVM_RUN to block, it returned %d (errno %d), exit_reason %s, system_event.type %u",
		    what, r->ret, r->err, exit_reason_str(r->vcpu->run->exit_reason),
		    r->vcpu->run->system_event.type);
	TEST_ASSERT(vcpu_get_stat(r->vcpu, blocking),
		    "%s: KVM_RUN neither returned nor blocked in %u ms",
		    what, RETURN_TIMEOUT_MS);
}

/*
 * For a vCPU that waits without kvm_vcpu_block() (a STOPPED one): it is
 * still in KVM_RUN after BLOCKED_MS.
 */
static void assert_blocked(struct runner *r, const char *what)
{
	TEST_ASSERT(!runner_wait(r, BLOCKED_MS),
		    "%s: expected KVM_RUN to block, it returned %d (errno %d), exit_reason %s, system_event.type %u",
		    what, r->ret, r->err, exit_reason_str(r->vcpu->run->exit_reason),
		    r->vcpu->run->system_event.type);
}

static void runner_join(struct runner *r, const char *what)
{
	TEST_ASSERT(runner_wait(r, RETURN_TIMEOUT_MS),
		    "%s: KVM_RUN still blocked after %u ms", what, RETURN_TIMEOUT_MS);
	pthread_join(r->thread, NULL);
}

/*
 * Signal the KVM_RUN thread until it returns: a signal sent before it has
 * entered KVM_RUN would be lost, so keep sending.
 */
static void runner_interrupt(struct runner *r)
{
	unsigned int waited;

	for (waited = 0; waited < RETURN_TIMEOUT_MS && !atomic_load(&r->done);
	     waited += 50) {
		pthread_kill(r->thread, SIGUSR1);
		runner_wait(r, 50);
	}
	runner_join(r, "after SIGUSR1");
}

/*
 * KVM_RUN with a wakeup event already pending: WAKEUP, at once. Run in a
 * thread, so that a KVM that keeps waiting is a failure, not a hang.
 */
static void run_expect_wakeup(struct kvm_vcpu *vcpu)
{
	struct runner r;
	bool in_time;

	scribble_system_event(vcpu->run);
	runner_start(&r, vcpu);
	in_time = runner_wait(&r, RETURN_TIMEOUT_MS);
	if (!in_time)
		runner_interrupt(&r);
	TEST_ASSERT(in_time,
		    "a wakeup event is pending, yet KVM_RUN still waited after %u ms; a signal then gave %d (errno %d), mp_state %s",
		    RETURN_TIMEOUT_MS, r.ret, r.err,
		    mp_state_name(get_mp_state(vcpu)));
	runner_join(&r, "with a wakeup event pending");
	assert_wakeup_exit(vcpu, r.ret, r.err);
}

static void assert_eintr(struct runner *r)
{
	struct kvm_run *run = r->vcpu->run;

	TEST_ASSERT(r->ret == -1 && r->err == EINTR,
		    "KVM_RUN after a signal: expected -1/EINTR, got %d (errno %d: %s), exit_reason %s, system_event.type %u",
		    r->ret, r->err, strerror(r->err),
		    exit_reason_str(run->exit_reason), run->system_event.type);
	TEST_ASSERT(run->exit_reason == KVM_EXIT_INTR,
		    "exit_reason after a signal: expected KVM_EXIT_INTR, got %s",
		    exit_reason_str(run->exit_reason));
}

KVM_ONE_VCPU_TEST_SUITE(vcpu_suspend);

/* a. KVM_SET_MP_STATE(SUSPENDED) is accepted and KVM_GET_MP_STATE reports it. */
KVM_ONE_VCPU_TEST(vcpu_suspend, set_get_suspended, guest_code)
{
	assert_mp_state(vcpu, KVM_MP_STATE_RUNNABLE);
	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	assert_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	/* Suspending a suspended vCPU is not an error either. */
	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	assert_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
}

/* b. A suspended vCPU blocks in KVM_RUN and uses almost no CPU. */
KVM_ONE_VCPU_TEST(vcpu_suspend, blocks_without_cpu, guest_code)
{
	u64 cpu0, cpu1, wall0, wall1;
	struct runner r;
	clockid_t clock;

	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	runner_start(&r, vcpu);
	TEST_ASSERT(!pthread_getcpuclockid(r.thread, &clock),
		    "pthread_getcpuclockid failed");
	wait_blocking(&r, "suspended, nothing pending");

	cpu0 = now_ns(clock);
	wall0 = now_ns(CLOCK_MONOTONIC);
	usleep(5 * BLOCKED_MS * 1000);
	cpu1 = now_ns(clock);
	wall1 = now_ns(CLOCK_MONOTONIC);
	TEST_ASSERT(!atomic_load(&r.done), "KVM_RUN returned while nothing was pending");

	ksft_print_msg("blocked vCPU thread: %lu us CPU in %lu us\n",
		       (cpu1 - cpu0) / 1000, (wall1 - wall0) / 1000);
	TEST_ASSERT((cpu1 - cpu0) * 100 <= (wall1 - wall0) * MAX_BLOCKED_CPU_PERCENT,
		    "blocked vCPU thread used %lu us CPU in %lu us, expected at most %u%%",
		    (cpu1 - cpu0) / 1000, (wall1 - wall0) / 1000,
		    MAX_BLOCKED_CPU_PERCENT);

	runner_interrupt(&r);
	assert_eintr(&r);
}

/*
 * c. An interrupt made pending while the vCPU is blocked wakes it up:
 *    KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_WAKEUP, and a payload that KVM
 *    zeroed even though userspace had scribbled on it.
 */
KVM_ONE_VCPU_TEST(vcpu_suspend, irq_wakes_with_zeroed_event, guest_code)
{
	struct runner r;

	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	scribble_system_event(vcpu->run);
	runner_start(&r, vcpu);
	wait_blocking(&r, "suspended, nothing pending");

	set_irq_line(vcpu, 1);
	runner_join(&r, "after raising the IRQ line");
	assert_wakeup_exit(vcpu, r.ret, r.err);
	assert_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
}

/*
 * d. A signal with no wakeup event pending: KVM_RUN fails with EINTR, there
 *    is no WAKEUP exit, and the vCPU is still suspended.
 */
KVM_ONE_VCPU_TEST(vcpu_suspend, signal_gives_eintr, guest_code)
{
	struct runner r;

	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	runner_start(&r, vcpu);
	wait_blocking(&r, "suspended, nothing pending");
	runner_interrupt(&r);
	assert_eintr(&r);
	assert_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);

	/* Still suspended, not merely reporting it: a wakeup still exits. */
	set_irq_line(vcpu, 1);
	run_expect_wakeup(vcpu);
}

/*
 * e. Suspend is sticky: without RUNNABLE, every KVM_RUN exits with WAKEUP
 *    while the event is pending, and blocks again once it is withdrawn.
 */
KVM_ONE_VCPU_TEST(vcpu_suspend, sticky, guest_code)
{
	struct runner r;
	int i;

	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	set_irq_line(vcpu, 1);
	for (i = 0; i < 3; i++) {
		run_expect_wakeup(vcpu);
		assert_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	}

	set_irq_line(vcpu, 0);
	runner_start(&r, vcpu);
	wait_blocking(&r, "still suspended, IRQ line lowered");
	runner_interrupt(&r);
	assert_eintr(&r);
	assert_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
}

/*
 * f. RUNNABLE resumes the guest at its next instruction, with its registers
 *    as they were when it was suspended.
 */
#define NR_CORE_REGS	34	/* x0-x30, sp, pc, pstate */

static u64 core_reg_id(int i)
{
	if (i < 31)
		return ARM64_CORE_REG(regs.regs[i]);
	if (i == 31)
		return ARM64_CORE_REG(regs.sp);
	if (i == 32)
		return ARM64_CORE_REG(regs.pc);
	return ARM64_CORE_REG(regs.pstate);
}

static void get_core_regs(struct kvm_vcpu *vcpu, u64 regs[NR_CORE_REGS])
{
	int i;

	for (i = 0; i < NR_CORE_REGS; i++)
		regs[i] = vcpu_get_reg(vcpu, core_reg_id(i));
}

static void assert_core_regs(struct kvm_vcpu *vcpu,
			     const u64 expected[NR_CORE_REGS])
{
	u64 got[NR_CORE_REGS];
	int i;

	get_core_regs(vcpu, got);
	for (i = 0; i < NR_CORE_REGS; i++)
		TEST_ASSERT(got[i] == expected[i],
			    "core register %d: expected 0x%lx, got 0x%lx",
			    i, expected[i], got[i]);
}

KVM_ONE_VCPU_TEST(vcpu_suspend, runnable_resumes, guest_code)
{
	u64 regs[NR_CORE_REGS];

	vcpu_args_set(vcpu, 1, GUEST_COOKIE);
	run_expect_sync(vcpu, GUEST_COOKIE);
	/* get_ucall() completed the guest's MMIO access: PC is past it. */
	get_core_regs(vcpu, regs);

	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	set_irq_line(vcpu, 1);
	run_expect_wakeup(vcpu);
	assert_core_regs(vcpu, regs);
	run_expect_wakeup(vcpu);
	assert_core_regs(vcpu, regs);

	set_irq_line(vcpu, 0);
	set_mp_state(vcpu, KVM_MP_STATE_RUNNABLE);
	assert_core_regs(vcpu, regs);
	/*
	 * The guest goes on where it was: its next GUEST_SYNC, computed from
	 * the cookie it kept in its registers or on its stack.
	 */
	run_expect_sync(vcpu, GUEST_COOKIE ^ 0xff);
}

/* g. Values that are no arm64 state give EINVAL and change nothing. */
static const u32 invalid_states[] = {
	KVM_MP_STATE_UNINITIALIZED, KVM_MP_STATE_INIT_RECEIVED,
	KVM_MP_STATE_HALTED, KVM_MP_STATE_SIPI_RECEIVED,
	KVM_MP_STATE_CHECK_STOP, KVM_MP_STATE_OPERATING, KVM_MP_STATE_LOAD,
	KVM_MP_STATE_AP_RESET_HOLD, KVM_MP_STATE_SUSPENDED + 1, 0x7fffffff,
	0xffffffff,
};

static void assert_invalid_rejected(struct kvm_vcpu *vcpu, u32 from)
{
	struct kvm_mp_state mp_state;
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(invalid_states); i++) {
		mp_state.mp_state = invalid_states[i];
		ret = __vcpu_ioctl(vcpu, KVM_SET_MP_STATE, &mp_state);
		TEST_ASSERT(ret == -1 && errno == EINVAL,
			    "KVM_SET_MP_STATE(%u) from %s: expected -1/EINVAL, got %d (errno %d)",
			    invalid_states[i], mp_state_name(from), ret, errno);
		assert_mp_state(vcpu, from);
	}
}

KVM_ONE_VCPU_TEST(vcpu_suspend, invalid_state_einval, guest_code)
{
	vcpu_args_set(vcpu, 1, GUEST_COOKIE);
	assert_invalid_rejected(vcpu, KVM_MP_STATE_RUNNABLE);
	/* Still runnable: the guest runs. */
	run_expect_sync(vcpu, GUEST_COOKIE);

	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	assert_invalid_rejected(vcpu, KVM_MP_STATE_SUSPENDED);
	/* Still suspended: a wakeup event exits. */
	set_irq_line(vcpu, 1);
	run_expect_wakeup(vcpu);

	set_mp_state(vcpu, KVM_MP_STATE_STOPPED);
	assert_invalid_rejected(vcpu, KVM_MP_STATE_STOPPED);
}

/* h. STOPPED <-> SUSPENDED <-> RUNNABLE. */
KVM_ONE_VCPU_TEST(vcpu_suspend, transitions, guest_code)
{
	struct runner r;

	vcpu_args_set(vcpu, 1, GUEST_COOKIE);
	set_irq_line(vcpu, 1);

	/* STOPPED -> SUSPENDED: the wakeup event is now honoured. */
	set_mp_state(vcpu, KVM_MP_STATE_STOPPED);
	assert_mp_state(vcpu, KVM_MP_STATE_STOPPED);
	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	assert_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	run_expect_wakeup(vcpu);

	/* SUSPENDED -> STOPPED: a stopped vCPU sleeps, pending IRQ or not. */
	set_mp_state(vcpu, KVM_MP_STATE_STOPPED);
	assert_mp_state(vcpu, KVM_MP_STATE_STOPPED);
	scribble_system_event(vcpu->run);
	runner_start(&r, vcpu);
	assert_blocked(&r, "stopped, IRQ line raised");
	runner_interrupt(&r);
	assert_eintr(&r);
	assert_mp_state(vcpu, KVM_MP_STATE_STOPPED);

	/* STOPPED -> SUSPENDED -> RUNNABLE: the guest runs. */
	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	set_irq_line(vcpu, 0);
	set_mp_state(vcpu, KVM_MP_STATE_RUNNABLE);
	assert_mp_state(vcpu, KVM_MP_STATE_RUNNABLE);
	run_expect_sync(vcpu, GUEST_COOKIE);

	/* RUNNABLE -> STOPPED -> RUNNABLE: the guest goes on. */
	set_mp_state(vcpu, KVM_MP_STATE_STOPPED);
	set_mp_state(vcpu, KVM_MP_STATE_RUNNABLE);
	run_expect_sync(vcpu, GUEST_COOKIE ^ 0xff);
}

/* KVM_RUN with immediate_exit on a suspended vCPU: EINTR, state kept. */
KVM_ONE_VCPU_TEST(vcpu_suspend, immediate_exit, guest_code)
{
	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	set_irq_line(vcpu, 1);
	vcpu_run_complete_io(vcpu);
	assert_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	/* The suspend request survived the immediate exit. */
	run_expect_wakeup(vcpu);
}

/* A suspended vCPU: it must wait in KVM_RUN, and a signal gives EINTR. */
static void expect_blocks_then_eintr(struct kvm_vcpu *vcpu, const char *what)
{
	struct runner r;

	runner_start(&r, vcpu);
	wait_blocking(&r, what);
	TEST_ASSERT(!runner_wait(&r, BLOCKED_MS),
		    "%s: KVM_RUN returned %d (errno %d), exit_reason %s, system_event.type %u",
		    what, r.ret, r.err, exit_reason_str(vcpu->run->exit_reason),
		    vcpu->run->system_event.type);
	runner_interrupt(&r);
	assert_eintr(&r);
	assert_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
}

/*
 * KVM_ARM_VCPU_INIT resets the IRQ lines userspace raised only until the
 * vCPU has first run, as it does HCR_EL2. Before: a suspended vCPU blocks.
 */
KVM_ONE_VCPU_TEST(vcpu_suspend, reinit_before_run_clears_line, guest_code)
{
	set_irq_line(vcpu, 1);
	aarch64_vcpu_setup(vcpu, NULL);
	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	expect_blocks_then_eintr(vcpu, "line raised, then KVM_ARM_VCPU_INIT before the first run");
}

/* After the first run: the raised line stays, a suspended vCPU wakes at once. */
KVM_ONE_VCPU_TEST(vcpu_suspend, reinit_keeps_raised_line, guest_code)
{
	vcpu_args_set(vcpu, 1, GUEST_COOKIE);
	set_irq_line(vcpu, 1);
	run_expect_sync(vcpu, GUEST_COOKIE);
	aarch64_vcpu_setup(vcpu, NULL);

	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	run_expect_wakeup(vcpu);
}

/* Spins with its interrupts masked (as at reset): a raised line stays pending. */
static void guest_spin_code(void)
{
	for (;;)
		asm volatile("yield");
}

/*
 * A line raised while the guest runs, which kicks the vCPU out of the guest
 * and back in, is still raised afterwards: suspended, the vCPU wakes at once.
 * The vCPU's thread must not write HCR_EL2 back over it, as protected mode's
 * copy of the whole register after every run would. A raise that lands
 * while the vCPU happens to be outside the guest is not at risk, so the
 * test raises the line LINE_TRIALS times, lowering it in between.
 */
#define LINE_TRIALS		3

KVM_ONE_VCPU_TEST(vcpu_suspend, line_raised_while_running, guest_spin_code)
{
	struct runner r;
	int trial;

	for (trial = 1; trial <= LINE_TRIALS; trial++) {
		runner_start(&r, vcpu);
		TEST_ASSERT(!runner_wait(&r, BLOCKED_MS),
			    "trial %d: KVM_RUN of a spinning guest returned %d (errno %d), exit_reason %s",
			    trial, r.ret, r.err, exit_reason_str(vcpu->run->exit_reason));
		set_irq_line(vcpu, 1);
		/* Give the kicked vCPU time to leave the guest and enter it again. */
		TEST_ASSERT(!runner_wait(&r, BLOCKED_MS),
			    "trial %d: KVM_RUN of a spinning guest with a masked line returned %d (errno %d), exit_reason %s",
			    trial, r.ret, r.err, exit_reason_str(vcpu->run->exit_reason));
		runner_interrupt(&r);
		assert_eintr(&r);

		set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
		run_expect_wakeup(vcpu);
		set_mp_state(vcpu, KVM_MP_STATE_RUNNABLE);
		set_irq_line(vcpu, 0);
	}
}

/*
 * A virtual SError that the guest has taken is no wakeup event: the vCPU,
 * suspended afterwards, blocks, and KVM no longer reports it pending.
 */
static u64 serrors_taken;

static void guest_serror_handler(struct ex_regs *regs)
{
	WRITE_ONCE(serrors_taken, serrors_taken + 1);
}

static void guest_serror_code(void)
{
	GUEST_SYNC(STAGE_SERROR_READY);
	/*
	 * Injected while masked, KVM pends it in HCR_EL2.VSE rather than
	 * emulating the exception: the guest sees it pending.
	 */
	GUEST_ASSERT(read_sysreg(isr_el1) & ISR_EL1_A);
	local_serror_enable();
	isb();
	local_serror_disable();
	GUEST_SYNC(STAGE_SERROR_TAKEN);
	GUEST_DONE();
}

KVM_ONE_VCPU_TEST(vcpu_suspend, serror_taken_no_wakeup, guest_serror_code)
{
	struct kvm_vcpu_events events = {};

	vm_init_descriptor_tables(vcpu->vm);
	vcpu_init_descriptor_tables(vcpu);
	vm_install_exception_handler(vcpu->vm, VECTOR_ERROR_CURRENT,
				     guest_serror_handler);
	run_expect_sync(vcpu, STAGE_SERROR_READY);
	events.exception.serror_pending = 1;
	vcpu_events_set(vcpu, &events);
	run_expect_sync(vcpu, STAGE_SERROR_TAKEN);
	sync_global_from_guest(vcpu->vm, serrors_taken);
	TEST_ASSERT(serrors_taken, "the guest took no virtual SError");

	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	expect_blocks_then_eintr(vcpu, "suspended after the guest took its SError");
	vcpu_events_get(vcpu, &events);
	TEST_ASSERT(!events.exception.serror_pending,
		    "KVM_GET_VCPU_EVENTS: the SError the guest took (%lu times) is still pending",
		    serrors_taken);
}

/*
 * With an in-kernel vGICv3. Guest interrupts stay masked in PSTATE (a
 * suspended vCPU does not run; KVM looks at the GIC state only), so the
 * guest needs no handler.
 */
#define VGIC_NR_IRQS		64
#define WAKE_SPI		(MIN_SPI + 5)
#define WAKE_SGI		3
/* Far enough ahead that the vCPU blocks first, even on a slow emulator. */
#define VTIMER_MS		2000

enum vgic_mask {
	VGIC_UNMASKED,
	VGIC_SPI_DISABLED,	/* GICD_ICENABLER */
	VGIC_DIST_DISABLED,	/* GICD_CTLR without its Group 1 enable */
	VGIC_PMR_MASKED,	/* ICC_PMR_EL1 at or above the SPI's priority */
};

#define STAGE_READY		1
#define STAGE_RESUMED		2
#define STAGE_SGI_SENT		3
/*
 * A PMR that masks the SPI's default priority (0xa0), and the one the
 * selftests' GIC library sets, which does not.
 */
#define PMR_MASKING		0x80
#define PMR_UNMASKING		0xf0

static u32 vtimer_irq;

static void guest_vgic_code(u64 mask)
{
	gic_init(GIC_V3, 1);
	/* KVM resets SPIs edge-triggered; level lets the test lower it. */
	gic_irq_set_config(WAKE_SPI, false);
	gic_irq_enable(WAKE_SPI);
	switch (mask) {
	case VGIC_SPI_DISABLED:
		gic_irq_disable(WAKE_SPI);
		break;
	case VGIC_DIST_DISABLED:
		writel(GICD_CTLR_ARE_NS, GICD_BASE_GVA + GICD_CTLR);
		break;
	case VGIC_PMR_MASKED:
		gic_set_priority_mask(PMR_MASKING);
		break;
	}
	GUEST_SYNC(STAGE_READY);
	GUEST_SYNC(STAGE_RESUMED);
	GUEST_DONE();
}

/*
 * The guest disables its distributor, lets userspace raise the SPI, then
 * enables the distributor again with its own write.
 */
static void guest_dist_reenable_code(void)
{
	gic_init(GIC_V3, 1);
	gic_irq_set_config(WAKE_SPI, false);
	gic_irq_enable(WAKE_SPI);
	writel(GICD_CTLR_ARE_NS, GICD_BASE_GVA + GICD_CTLR);
	GUEST_SYNC(STAGE_READY);
	writel(GICD_CTLR_ARE_NS | GICD_CTLR_ENABLE_G1A, GICD_BASE_GVA + GICD_CTLR);
	GUEST_SYNC(STAGE_RESUMED);
	GUEST_DONE();
}

/* The guest arms its virtual timer @ms ahead, unmasked, and reports. */
static void guest_vtimer_code(void)
{
	gic_init(GIC_V3, 1);
	gic_irq_enable(vtimer_irq);
	timer_set_ctl(VIRTUAL, CTL_IMASK);
	timer_set_cval(VIRTUAL, timer_get_cntct(VIRTUAL) + msec_to_cycles(VTIMER_MS));
	timer_set_ctl(VIRTUAL, CTL_ENABLE);
	GUEST_SYNC(STAGE_READY);
	GUEST_DONE();
}

/* vCPU 1 sends WAKE_SGI to vCPU 0 (Aff0 0) once both are ready. */
static void guest_sgi_code(void)
{
	gic_init(GIC_V3, 2);
	gic_irq_enable(WAKE_SGI);
	GUEST_SYNC(STAGE_READY);
	if (guest_get_vcpuid() == 1) {
		write_sysreg_s((u64)WAKE_SGI << ICC_SGI1R_SGI_ID_SHIFT | BIT(0),
			       SYS_ICC_SGI1R_EL1);
		isb();
		GUEST_SYNC(STAGE_SGI_SENT);
	}
	GUEST_DONE();
}

/*
 * vCPU 0 enables WAKE_SPI (edge-triggered, as KVM resets it, as a UART's
 * irqfd raises it); vCPU 1 then spins with its interrupts masked.
 */
static void guest_irqfd_code(void)
{
	gic_init(GIC_V3, 2);
	if (guest_get_vcpuid() == 0)
		gic_irq_enable(WAKE_SPI);
	GUEST_SYNC(STAGE_READY);
	if (guest_get_vcpuid() == 1)
		for (;;)
			asm volatile("yield");
	GUEST_DONE();
}

static int vgic_setup(struct kvm_vm *vm, unsigned int nr_vcpus)
{
	int gic_fd = vgic_v3_setup(vm, nr_vcpus, VGIC_NR_IRQS);

	__TEST_REQUIRE(gic_fd >= 0, "no in-kernel vGICv3 (%d)", gic_fd);
	return gic_fd;
}

/* The SPI line through KVM_IRQ_LINE (KVM_ARM_IRQ_TYPE_SPI). */
static void set_spi(struct kvm_vm *vm, int level)
{
	kvm_arm_irq_line(vm, WAKE_SPI, level);
}

/* A suspended vCPU: wait until it blocks, call @wake, expect WAKEUP. */
static void expect_woken_by(struct kvm_vcpu *vcpu, void (*wake)(void *),
			    void *arg, const char *what)
{
	struct runner r;

	scribble_system_event(vcpu->run);
	runner_start(&r, vcpu);
	wait_blocking(&r, what);
	wake(arg);
	runner_join(&r, what);
	assert_wakeup_exit(vcpu, r.ret, r.err);
	assert_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
}

static void raise_spi(void *vm)
{
	set_spi(vm, 1);
}

/* a. An SPI raised with KVM_IRQ_LINE wakes the suspended vCPU. */
KVM_ONE_VCPU_TEST(vcpu_suspend, vgic_spi_wakes, guest_vgic_code)
{
	vgic_setup(vcpu->vm, 1);
	vcpu_args_set(vcpu, 1, VGIC_UNMASKED);
	run_expect_sync(vcpu, STAGE_READY);

	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	expect_woken_by(vcpu, raise_spi, vcpu->vm, "suspended, SPI not raised yet");
}

/*
 * b. The same SPI, masked by the guest's GIC state, does not wake the vCPU;
 *    once userspace unmasks it through the vGIC's registers, it does.
 */
static void vgic_masked_spi(struct kvm_vcpu *vcpu, enum vgic_mask mask)
{
	int gic_fd = vgic_setup(vcpu->vm, 1);
	u64 pmr;
	u32 val;

	vcpu_args_set(vcpu, 1, mask);
	run_expect_sync(vcpu, STAGE_READY);

	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	set_spi(vcpu->vm, 1);
	expect_blocks_then_eintr(vcpu, "suspended, SPI raised but masked");

	/* No vCPU is in KVM_RUN now, so the vGIC's registers may be written. */
	switch (mask) {
	case VGIC_SPI_DISABLED:
		val = BIT(WAKE_SPI % 32);
		kvm_device_attr_set(gic_fd, KVM_DEV_ARM_VGIC_GRP_DIST_REGS,
				    GICD_ISENABLER + WAKE_SPI / 32 * 4, &val);
		break;
	case VGIC_DIST_DISABLED:
		kvm_device_attr_get(gic_fd, KVM_DEV_ARM_VGIC_GRP_DIST_REGS,
				    GICD_CTLR, &val);
		val |= GICD_CTLR_ENABLE_G1A;
		kvm_device_attr_set(gic_fd, KVM_DEV_ARM_VGIC_GRP_DIST_REGS,
				    GICD_CTLR, &val);
		/*
		 * Userspace's write restores the register and nothing else,
		 * so the SPI that became pending while the distributor was
		 * disabled stays unforwarded: the device asserts its line
		 * again. The guest's own write forwards it
		 * (vgic_dist_enabled_by_guest_wakes).
		 */
		set_spi(vcpu->vm, 0);
		set_spi(vcpu->vm, 1);
		break;
	case VGIC_PMR_MASKED:
		pmr = PMR_UNMASKING;
		/* ICC_PMR_EL1 of the vCPU with MPIDR 0: op0 3, op1 0, CRn 4, CRm 6, op2 0 */
		kvm_device_attr_set(gic_fd, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS,
				    3 << 14 | 0 << 11 | 4 << 7 | 6 << 3 | 0, &pmr);
		break;
	default:
		TEST_FAIL("mask %d", mask);
	}
	run_expect_wakeup(vcpu);
	assert_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
}

KVM_ONE_VCPU_TEST(vcpu_suspend, vgic_spi_disabled_no_wakeup, guest_vgic_code)
{
	vgic_masked_spi(vcpu, VGIC_SPI_DISABLED);
}

KVM_ONE_VCPU_TEST(vcpu_suspend, vgic_dist_disabled_no_wakeup, guest_vgic_code)
{
	vgic_masked_spi(vcpu, VGIC_DIST_DISABLED);
}

KVM_ONE_VCPU_TEST(vcpu_suspend, vgic_pmr_masked_no_wakeup, guest_vgic_code)
{
	vgic_masked_spi(vcpu, VGIC_PMR_MASKED);
}

/*
 * An SPI that became pending while the distributor was disabled reaches
 * the vCPU once the guest enables the distributor, as the GIC keeps the
 * pending state: the suspended vCPU wakes, with the line left as it was.
 */
KVM_ONE_VCPU_TEST(vcpu_suspend, vgic_dist_enabled_by_guest_wakes,
		  guest_dist_reenable_code)
{
	vgic_setup(vcpu->vm, 1);
	run_expect_sync(vcpu, STAGE_READY);
	set_spi(vcpu->vm, 1);
	run_expect_sync(vcpu, STAGE_RESUMED);

	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	run_expect_wakeup(vcpu);
	assert_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
}

/*
 * c. The guest's own virtual timer wakes it, with nothing from userspace:
 *    KVM_RUN returns WAKEUP once the timer's compare value has passed.
 */
KVM_ONE_VCPU_TEST(vcpu_suspend, vgic_vtimer_wakes, guest_vtimer_code)
{
	u64 cval, cnt;
	struct runner r;

	vtimer_irq = vcpu_get_vtimer_irq(vcpu);
	sync_global_to_guest(vcpu->vm, vtimer_irq);
	vgic_setup(vcpu->vm, 1);
	run_expect_sync(vcpu, STAGE_READY);

	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	scribble_system_event(vcpu->run);
	runner_start(&r, vcpu);
	wait_blocking(&r, "suspended, virtual timer armed");
	runner_join(&r, "waiting for the guest's virtual timer");
	assert_wakeup_exit(vcpu, r.ret, r.err);
	assert_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);

	cval = vcpu_get_reg(vcpu, KVM_REG_ARM_TIMER_CVAL);
	cnt = vcpu_get_reg(vcpu, KVM_REG_ARM_TIMER_CNT);
	TEST_ASSERT(cnt >= cval,
		    "WAKEUP before the virtual timer fired: CNTVCT 0x%lx < CNTV_CVAL 0x%lx",
		    cnt, cval);
}

/* d. An SGI that vCPU 1's guest code sends wakes suspended vCPU 0. */
struct sgi_sender {
	struct kvm_vcpu *vcpu;
};

static void send_sgi(void *arg)
{
	struct sgi_sender *s = arg;

	run_expect_sync(s->vcpu, STAGE_SGI_SENT);
}

/* Its own VM with two vCPUs; the fixture's is not used. */
TEST_F(vcpu_suspend, vgic_sgi_from_other_vcpu)
{
	struct kvm_vcpu *vcpus[2];
	struct sgi_sender sender;
	struct kvm_vm *vm;

	vm = vm_create_with_vcpus(2, guest_sgi_code, vcpus);
	vgic_setup(vm, 2);
	run_expect_sync(vcpus[0], STAGE_READY);
	run_expect_sync(vcpus[1], STAGE_READY);

	set_mp_state(vcpus[0], KVM_MP_STATE_SUSPENDED);
	sender.vcpu = vcpus[1];
	expect_woken_by(vcpus[0], send_sgi, &sender, "vCPU 0 suspended, no SGI yet");
	kvm_vm_free(vm);
}

/*
 * e. An SPI signalled through irqfd, as a VMM's devices do, wakes suspended
 *    vCPU 0 while vCPU 1 runs its guest. irqfd injects from the eventfd's
 *    wakeup, with interrupts disabled; on a host with ICH_HCR_EL2.TDIR, an
 *    SPI queued while none is in flight (this VM's first) kicks every
 *    vCPU, and one in guest mode takes an IPI, which must not go through
 *    smp_call_function_many() there (a kernel with lockdep and
 *    panic_on_warn dies on it).
 */
static void signal_eventfd(void *arg)
{
	u64 one = 1;

	TEST_ASSERT(write(*(int *)arg, &one, sizeof(one)) == sizeof(one),
		    "eventfd write: %s", strerror(errno));
}

TEST_F(vcpu_suspend, vgic_irqfd_spi_wakes_while_other_runs)
{
	struct kvm_vcpu *vcpus[2];
	struct runner spinner;
	struct kvm_vm *vm;
	int efd, gic_fd;

	vm = vm_create_with_vcpus(2, guest_irqfd_code, vcpus);
	gic_fd = vgic_setup(vm, 2);
	efd = kvm_new_eventfd();
	/* The vGIC's default routing: GSI n is SPI n. */
	kvm_assign_irqfd(vm, WAKE_SPI - MIN_SPI, efd);
	run_expect_sync(vcpus[0], STAGE_READY);
	run_expect_sync(vcpus[1], STAGE_READY);

	runner_start(&spinner, vcpus[1]);
	TEST_ASSERT(!runner_wait(&spinner, BLOCKED_MS),
		    "vCPU 1's spinning guest: KVM_RUN returned %d (errno %d), exit_reason %s",
		    spinner.ret, spinner.err,
		    exit_reason_str(vcpus[1]->run->exit_reason));
	set_mp_state(vcpus[0], KVM_MP_STATE_SUSPENDED);
	expect_woken_by(vcpus[0], signal_eventfd, &efd,
			"vCPU 0 suspended, vCPU 1 spinning, no SPI yet");
	runner_interrupt(&spinner);
	assert_eintr(&spinner);
	close(efd);
	close(gic_fd);
	kvm_vm_free(vm);
}

/*
 * f. Signal, sticky and resume hold with the vGIC as without: a signal
 *    gives EINTR; WAKEUP again and again while the SPI is pending; blocking
 *    again once it is lowered; RUNNABLE resumes the guest where it was.
 */
KVM_ONE_VCPU_TEST(vcpu_suspend, vgic_signal_sticky_resume, guest_vgic_code)
{
	u64 regs[NR_CORE_REGS];
	int i;

	vgic_setup(vcpu->vm, 1);
	vcpu_args_set(vcpu, 1, VGIC_UNMASKED);
	run_expect_sync(vcpu, STAGE_READY);
	get_core_regs(vcpu, regs);

	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	expect_blocks_then_eintr(vcpu, "suspended, nothing pending");

	set_spi(vcpu->vm, 1);
	for (i = 0; i < 3; i++) {
		run_expect_wakeup(vcpu);
		assert_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	}
	set_spi(vcpu->vm, 0);
	expect_blocks_then_eintr(vcpu, "still suspended, SPI lowered");

	assert_core_regs(vcpu, regs);
	set_mp_state(vcpu, KVM_MP_STATE_RUNNABLE);
	run_expect_sync(vcpu, STAGE_RESUMED);
}

int main(int argc, char *argv[])
{
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_MP_STATE));

	/*
	 * The library gives every VM a vGICv3 by default, and with it, on a
	 * host with KVM_CAP_ARM_EL2, vCPUs at EL2. Most cases drive the
	 * vCPU's IRQ line with KVM_ARM_IRQ_TYPE_CPU, which needs a VM without
	 * an in-kernel irqchip; the vgic_* cases create their own vGICv3 once
	 * their vCPUs exist, which a default one would make fail with EEXIST.
	 */
	test_disable_default_vgic();

	return test_harness_run(argc, argv);
}
