// SPDX-License-Identifier: GPL-2.0
//! `vcpu_suspend_rs --fuzz [SEED [STEPS]]`: random sequences of
//! `KVM_SET_MP_STATE` (valid and invalid values), `KVM_GET_MP_STATE`,
//! IRQ/FIQ lines up and down (and malformed `KVM_IRQ_LINE`s), `KVM_RUN`
//! with and without `immediate_exit` under a signal sent after a random
//! delay, and VM teardown whatever the vCPU's state, each answer checked
//! against [`crate::model`]. The operations come from SEED alone, so a
//! failure is replayed by the same command; which of the allowed answers a
//! signalled `KVM_RUN` gives depends on timing, and the model allows each.
//! Prints KTAP (one result), the seed, and what was exercised.

use std::collections::VecDeque;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use kvm_bindings::{
    KVM_ARM_IRQ_CPU_FIQ, KVM_ARM_IRQ_CPU_IRQ, KVM_ARM_IRQ_TYPE_CPU, KVM_ARM_IRQ_TYPE_PPI,
    KVM_EXIT_INTR, KVM_MP_STATE_SUSPENDED,
};

use crate::guest::{self, MMIO_REPORT};
use crate::ktap::{Ktap, Outcome};
use crate::model::{Answer, Model, ARM64_STATES, OTHER_STATES};
use crate::rng::Rng;
use kvm_ioctls::VcpuFd;

use crate::vm::{
    give_up_on_kvm_run, kick_thread, kick_until_returned, kvm_arm_irq, mp_name, run,
    scribble_system_event, Exit, TestResult, TestVm, RESIGNAL, RETURN_TIMEOUT,
};

/// How many operations a failure report shows.
const TRACE: usize = 16;

/// `KVM_IRQ_LINE` requests 6.12 rejects with no irqchip, and the errno.
const BAD_LINES: [(&str, u32, i32); 4] = [
    (
        "vCPU 1 (absent)",
        kvm_arm_irq(KVM_ARM_IRQ_TYPE_CPU, 1, KVM_ARM_IRQ_CPU_IRQ),
        libc::EINVAL,
    ),
    (
        "CPU line 2",
        kvm_arm_irq(KVM_ARM_IRQ_TYPE_CPU, 0, KVM_ARM_IRQ_CPU_FIQ + 1),
        libc::EINVAL,
    ),
    (
        "PPI 16 without a vGIC",
        kvm_arm_irq(KVM_ARM_IRQ_TYPE_PPI, 0, 16),
        libc::ENXIO,
    ),
    (
        "type 3",
        kvm_arm_irq(KVM_ARM_IRQ_TYPE_PPI + 1, 0, 0),
        libc::EINVAL,
    ),
];

/// One operation.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// `KVM_SET_MP_STATE(value)`.
    Set(u32),
    /// `KVM_GET_MP_STATE`.
    Get,
    /// `KVM_IRQ_LINE` of vCPU 0's IRQ (or FIQ) line.
    Line { fiq: bool, level: bool },
    /// A malformed `KVM_IRQ_LINE`: index into [`BAD_LINES`].
    BadLine(usize),
    /// `KVM_RUN`, a signal sent after `signal_ms`.
    Run {
        immediate_exit: bool,
        scribble: bool,
        signal_ms: u64,
    },
    /// Close the VM (vCPU in whatever state, lines as they are), make a new one.
    Teardown,
}

impl Op {
    fn random(rng: &mut Rng) -> Op {
        let n = |rng: &mut Rng, len: usize| rng.below(len as u64) as usize;
        match rng.below(100) {
            0..=24 => Op::Set(ARM64_STATES[n(rng, ARM64_STATES.len())]),
            // The other architectures' states, and values beyond them.
            25..=31 => Op::Set(match rng.below(10) {
                0..=7 => OTHER_STATES[n(rng, OTHER_STATES.len())],
                _ => KVM_MP_STATE_SUSPENDED + 1 + rng.below(1 << 31) as u32,
            }),
            32..=39 => Op::Get,
            40..=54 => Op::Line {
                fiq: rng.below(4) == 0,
                level: rng.below(2) == 0,
            },
            55..=59 => Op::BadLine(n(rng, BAD_LINES.len())),
            60..=97 => Op::Run {
                immediate_exit: rng.below(8) == 0,
                scribble: rng.below(2) == 0,
                signal_ms: [0, 1, 5, 20][n(rng, 4)],
            },
            _ => Op::Teardown,
        }
    }
}

/// Counts of what was exercised.
#[derive(Default)]
struct Tally {
    wakeups: u64,
    eintr: u64,
    mmio: u64,
    einval: u64,
    bad_lines: u64,
    teardowns: u64,
    teardowns_suspended: u64,
}

/// `KVM_RUN` on `vcpu` in this thread, which a helper thread signals after
/// `delay`, then until it returns, as [`crate::vm::RunThread`] does the
/// thread it runs. Not in a `RunThread`: the other operations need the
/// vCPU between runs, and a new thread each `KVM_RUN` would make KVM take
/// the vCPU's pid-change path (`synchronize_rcu()` in 6.12) every time,
/// which changes what is fuzzed. Returns what it gave, how long it took,
/// and whether a signal was sent (delivered by the time this returns).
fn run_signalled(vcpu: &mut VcpuFd, delay: Duration) -> TestResult<(Exit, Duration, bool)> {
    // SAFETY: pthread_self() has no preconditions.
    let me = unsafe { libc::pthread_self() };
    let (returned_tx, returned_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let alarm = s.spawn(move || -> TestResult<u32> {
            let mut returned = false;
            let mut wait = |d| {
                returned =
                    returned || returned_rx.recv_timeout(d) != Err(RecvTimeoutError::Timeout);
                returned
            };
            if wait(delay) {
                return Ok(0);
            }
            // SAFETY: `me` is the thread in `KVM_RUN`, which joins this
            // one (at the end of the scope) before it can end.
            let kick = || unsafe { kick_thread(me) };
            let kicks = kick_until_returned(RETURN_TIMEOUT, RESIGNAL, kick, &mut wait)?;
            if !wait(Duration::ZERO) {
                give_up_on_kvm_run();
            }
            Ok(kicks)
        });
        let t0 = Instant::now();
        let exit = run(vcpu);
        let took = t0.elapsed();
        drop(returned_tx);
        let kicks = alarm
            .join()
            .map_err(|_| "alarm thread panicked".to_string())??;
        Ok((exit, took, kicks > 0))
    })
}

/// Runs the fuzzer and prints its KTAP; returns the exit code.
pub fn run_fuzz(seed: u64, steps: u64) -> i32 {
    print!("{}", Ktap::header(1));
    println!("# seed {seed}, {steps} steps (replay: vcpu_suspend_rs --fuzz {seed} {steps})");
    let outcome = match fuzz(seed, steps) {
        Ok(line) => {
            println!("# {line}");
            Outcome::Pass
        }
        Err(e) => Outcome::Fail(e.to_string()),
    };
    let mut ktap = Ktap::default();
    print!("{}", ktap.record("fuzz_against_model", outcome));
    ktap.exit_code()
}

fn fuzz(seed: u64, steps: u64) -> TestResult<String> {
    let start = Instant::now();
    let t = drive(seed, steps)?;
    Ok(format!(
        "{steps} steps in {:.1} s: {} WAKEUPs, {} EINTRs, {} MMIO exits, {} EINVAL from KVM_SET_MP_STATE, {} malformed KVM_IRQ_LINEs, {} VM teardowns ({} with the vCPU SUSPENDED), all as the model says",
        start.elapsed().as_secs_f64(),
        t.wakeups,
        t.eintr,
        t.mmio,
        t.einval,
        t.bad_lines,
        t.teardowns,
        t.teardowns_suspended
    ))
}

/// Classifies a `KVM_RUN` exit for the model, or says why it is wrong in
/// any state.
fn answer(exit: &Exit, immediate_exit: bool) -> Result<Answer, String> {
    match exit {
        Exit::Mmio { addr, data: 7 } if *addr == MMIO_REPORT => Ok(Answer::Mmio),
        e if e.is_clean_wakeup() => Ok(Answer::Wakeup),
        Exit::Eintr { exit_reason } if immediate_exit || *exit_reason == KVM_EXIT_INTR => {
            Ok(Answer::Eintr)
        }
        other => Err(format!("KVM_RUN gave {other}")),
    }
}

fn drive(seed: u64, steps: u64) -> TestResult<Tally> {
    let mut rng = Rng::new(seed);
    let code = guest::mmio_loop();
    let mut vm = TestVm::one(&code)?;
    let mut model = Model::default();
    let mut tally = Tally::default();
    let mut trace: VecDeque<String> = VecDeque::with_capacity(TRACE);
    for step in 0..steps {
        let op = Op::random(&mut rng);
        let before = model;
        let r = apply(&mut vm, &mut model, op, &mut tally);
        if trace.len() == TRACE {
            trace.pop_front();
        }
        trace.push_back(format!(
            "step {step}: {op:?} in {} irq={} fiq={}",
            mp_name(before.mp_state),
            before.irq,
            before.fiq
        ));
        if let Err(e) = r {
            let shown: Vec<String> = trace.into_iter().collect();
            return Err(format!(
                "step {step}: {e}\nthe last operations (state before each):\n{}",
                shown.join("\n")
            ));
        }
    }
    Ok(tally)
}

fn apply(vm: &mut TestVm, model: &mut Model, op: Op, t: &mut Tally) -> TestResult {
    match op {
        Op::Set(value) => {
            let got = vm.set_mp_state(0, value);
            let want = model.set_mp_state(value);
            if got != want {
                return Err(format!(
                    "KVM_SET_MP_STATE({value}): expected {want:?}, got {got:?} (errno)"
                ));
            }
            if got.is_err() {
                t.einval += 1;
            }
            // Failed or not, the state is what the model says.
            vm.expect_state(0, model.mp_state)
        }
        Op::Get => vm.expect_state(0, model.mp_state),
        Op::Line { fiq, level } => {
            let line = if fiq {
                KVM_ARM_IRQ_CPU_FIQ
            } else {
                KVM_ARM_IRQ_CPU_IRQ
            };
            let irq = kvm_arm_irq(KVM_ARM_IRQ_TYPE_CPU, 0, line);
            vm.vm
                .set_irq_line(irq, level)
                .map_err(|e| format!("KVM_IRQ_LINE: {e}"))?;
            if fiq {
                model.fiq = level;
            } else {
                model.irq = level;
            }
            Ok(())
        }
        Op::BadLine(i) => {
            let (what, irq, errno) = BAD_LINES[i];
            let got = vm.vm.set_irq_line(irq, true).map_err(|e| e.errno());
            t.bad_lines += 1;
            if got != Err(errno) {
                return Err(format!(
                    "KVM_IRQ_LINE({what}): expected errno {errno}, got {got:?}"
                ));
            }
            vm.expect_state(0, model.mp_state)
        }
        Op::Run {
            immediate_exit,
            scribble,
            signal_ms,
        } => {
            let vcpu = &mut vm.vcpus[0];
            if scribble {
                scribble_system_event(vcpu);
            }
            vcpu.set_kvm_immediate_exit(u8::from(immediate_exit));
            let (exit, took, signalled) = run_signalled(vcpu, Duration::from_millis(signal_ms))?;
            vcpu.set_kvm_immediate_exit(0);
            if took > RETURN_TIMEOUT {
                return Err(format!("KVM_RUN took {took:?}, signals included"));
            }
            let a = answer(&exit, immediate_exit)?;
            if !model.run_allows(immediate_exit, signalled, a) {
                return Err(format!(
                    "KVM_RUN (immediate_exit {immediate_exit}, signalled {signalled}) gave {exit}; the model allows {}",
                    describe(&model.allowed(immediate_exit, signalled))
                ));
            }
            match a {
                Answer::Wakeup => t.wakeups += 1,
                Answer::Eintr => t.eintr += 1,
                Answer::Mmio => t.mmio += 1,
            }
            // No answer changes the state: a WAKEUP leaves it SUSPENDED.
            vm.expect_state(0, model.mp_state)
        }
        Op::Teardown => {
            t.teardowns += 1;
            if model.mp_state == KVM_MP_STATE_SUSPENDED {
                t.teardowns_suspended += 1;
            }
            *vm = TestVm::one(&guest::mmio_loop())?;
            *model = Model::default();
            Ok(())
        }
    }
}

/// The answers the model allows, for a failure message.
fn describe(allowed: &[Answer]) -> String {
    if allowed.is_empty() {
        "no return at all (it must block)".into()
    } else {
        let names: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
        names.join(" or ")
    }
}
