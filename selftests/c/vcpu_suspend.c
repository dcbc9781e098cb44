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
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "kvm_test_harness.h"

/* How long a vCPU must stay in KVM_RUN to count as blocked. */
#define BLOCKED_MS		200
/* How long to wait for KVM_RUN to return once it should. */
#define RETURN_TIMEOUT_MS	5000
/* At most this share of wall time may a blocked vCPU thread spend on CPU. */
#define MAX_BLOCKED_CPU_PERCENT	10

#define GUEST_COOKIE		0x5a5a5a5a12345678ul

static void guest_code(uint64_t cookie)
{
	GUEST_SYNC(cookie);
	GUEST_SYNC(cookie ^ 0xff);
	GUEST_DONE();
}

static const char *mp_state_name(uint32_t state)
{
	switch (state) {
	case KVM_MP_STATE_RUNNABLE:	return "RUNNABLE";
	case KVM_MP_STATE_STOPPED:	return "STOPPED";
	case KVM_MP_STATE_SUSPENDED:	return "SUSPENDED";
	default:			return "(not an arm64 state)";
	}
}

static uint32_t get_mp_state(struct kvm_vcpu *vcpu)
{
	struct kvm_mp_state mp_state;

	vcpu_mp_state_get(vcpu, &mp_state);
	return mp_state.mp_state;
}

static void set_mp_state(struct kvm_vcpu *vcpu, uint32_t state)
{
	struct kvm_mp_state mp_state = { .mp_state = state };

	vcpu_mp_state_set(vcpu, &mp_state);
}

static void assert_mp_state(struct kvm_vcpu *vcpu, uint32_t expected)
{
	uint32_t got = get_mp_state(vcpu);

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

/* KVM_RUN in the calling thread; a wakeup event must already be pending. */
static void run_expect_wakeup(struct kvm_vcpu *vcpu)
{
	int ret;

	scribble_system_event(vcpu->run);
	ret = __vcpu_run(vcpu);
	assert_wakeup_exit(vcpu, ret, errno);
}

/* KVM_RUN in the calling thread; the guest must report stage @stage. */
static void run_expect_sync(struct kvm_vcpu *vcpu, uint64_t arg)
{
	struct ucall uc;
	uint64_t cmd;

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

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static bool runner_wait(struct runner *r, unsigned int ms)
{
	uint64_t end = now_ns(CLOCK_MONOTONIC) + ms * 1000000ul;

	while (!atomic_load(&r->done) && now_ns(CLOCK_MONOTONIC) < end)
		usleep(1000);
	return atomic_load(&r->done);
}

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
	uint64_t cpu0, cpu1, wall0, wall1;
	struct runner r;
	clockid_t clock;

	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	runner_start(&r, vcpu);
	TEST_ASSERT(!pthread_getcpuclockid(r.thread, &clock),
		    "pthread_getcpuclockid failed");
	assert_blocked(&r, "suspended, nothing pending");

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
	assert_blocked(&r, "suspended, nothing pending");

	set_irq_line(vcpu, 1);
	runner_join(&r, "after raising the IRQ line");
	assert_wakeup_exit(vcpu, r.ret, r.err);
	assert_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
}

/*
 * d. A signal with no wakeup event pending: KVM_RUN fails with EINTR, there
 *    is no WAKEUP exit, and the vCPU is still suspended (the bug found in the
 *    review of v4 of the series that added this API).
 */
KVM_ONE_VCPU_TEST(vcpu_suspend, signal_gives_eintr, guest_code)
{
	struct runner r;

	set_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
	runner_start(&r, vcpu);
	assert_blocked(&r, "suspended, nothing pending");
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
	assert_blocked(&r, "still suspended, IRQ line lowered");
	runner_interrupt(&r);
	assert_eintr(&r);
	assert_mp_state(vcpu, KVM_MP_STATE_SUSPENDED);
}

/*
 * f. RUNNABLE resumes the guest at its next instruction, with its registers
 *    as they were when it was suspended.
 */
#define NR_CORE_REGS	34	/* x0-x30, sp, pc, pstate */

static uint64_t core_reg_id(int i)
{
	if (i < 31)
		return ARM64_CORE_REG(regs.regs[i]);
	if (i == 31)
		return ARM64_CORE_REG(regs.sp);
	if (i == 32)
		return ARM64_CORE_REG(regs.pc);
	return ARM64_CORE_REG(regs.pstate);
}

static void get_core_regs(struct kvm_vcpu *vcpu, uint64_t regs[NR_CORE_REGS])
{
	int i;

	for (i = 0; i < NR_CORE_REGS; i++)
		vcpu_get_reg(vcpu, core_reg_id(i), &regs[i]);
}

static void assert_core_regs(struct kvm_vcpu *vcpu,
			     const uint64_t expected[NR_CORE_REGS])
{
	uint64_t got[NR_CORE_REGS];
	int i;

	get_core_regs(vcpu, got);
	for (i = 0; i < NR_CORE_REGS; i++)
		TEST_ASSERT(got[i] == expected[i],
			    "core register %d: expected 0x%lx, got 0x%lx",
			    i, expected[i], got[i]);
}

KVM_ONE_VCPU_TEST(vcpu_suspend, runnable_resumes, guest_code)
{
	uint64_t regs[NR_CORE_REGS];

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
static const uint32_t invalid_states[] = {
	KVM_MP_STATE_UNINITIALIZED, KVM_MP_STATE_INIT_RECEIVED,
	KVM_MP_STATE_HALTED, KVM_MP_STATE_SIPI_RECEIVED,
	KVM_MP_STATE_CHECK_STOP, KVM_MP_STATE_OPERATING, KVM_MP_STATE_LOAD,
	KVM_MP_STATE_AP_RESET_HOLD, KVM_MP_STATE_SUSPENDED + 1, 0x7fffffff,
	0xffffffff,
};

static void assert_invalid_rejected(struct kvm_vcpu *vcpu, uint32_t from)
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

/* h. STOPPED <-> SUSPENDED <-> RUNNABLE, as 6.12's C implementation does. */
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

int main(int argc, char *argv[])
{
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_MP_STATE));

	return test_harness_run(argc, argv);
}
