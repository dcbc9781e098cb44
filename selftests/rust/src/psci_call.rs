// SPDX-License-Identifier: GPL-2.0
//! What the PSCI cases and the PSCI differential fuzzer share: a `KVM_RUN`
//! in the calling thread bounded by a watchdog thread, which also ends the
//! run of a vCPU that went to sleep in the kernel (a CPU_OFF, a CPU_SUSPEND
//! with nothing pending), and SMCCC calls made from the guest's call loop
//! (`guest::call_loop()`) with x0-x3 set by the host.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use kvm_bindings::{KVM_MP_STATE_RUNNABLE, KVM_MP_STATE_STOPPED, KVM_MP_STATE_SUSPENDED};
use kvm_ioctls::VcpuFd;

use crate::vm::{
    give_up_on_kvm_run, kick_thread, kick_until_returned, mp_name, run, xreg, Exit, TestResult,
    TestVm, RESIGNAL, RETURN_TIMEOUT,
};

/// How often the watchdog looks at the vCPU thread.
const POLL: Duration = Duration::from_millis(1);
/// How many looks in a row must find it asleep before it is signalled: a
/// run that returns soon may sleep briefly on a lock; a CPU_OFF's does not
/// wake up by itself.
const ASLEEP_LOOKS: u32 = 5;

/// The scheduler state of thread `tid` of this process, from
/// `/proc/self/task/TID/stat` (`R`, `S`, `D`...), read through `file`.
fn thread_state(file: &File) -> Option<u8> {
    let mut buf = [0u8; 256];
    let n = file.read_at(&mut buf, 0).ok()?;
    let text = &buf[..n];
    // "tid (comm) S ...": the comm may hold spaces and parentheses.
    let close = text.iter().rposition(|&c| c == b')')?;
    text.get(close + 2).copied()
}

/// What a watched `KVM_RUN` gave.
#[derive(Debug)]
pub struct Watched {
    /// What `KVM_RUN` gave.
    pub exit: Exit,
    /// Whether the watchdog signalled it: it slept in the kernel
    /// (`asleep`), or it ran past `RETURN_TIMEOUT`.
    pub signalled: bool,
    /// Whether the thread was seen asleep before it was signalled.
    pub asleep: bool,
}

/// `KVM_RUN` on `vcpu` in this thread; a watchdog thread signals it once
/// it has been asleep in the kernel for `ASLEEP_LOOKS` looks, or once it
/// ran `RETURN_TIMEOUT`, then until it returns (ending the process if it
/// does not within `RETURN_TIMEOUT` again). In this thread, not in a new
/// one each time: KVM would take its pid-change path on every run.
pub fn run_watched(vcpu: &mut VcpuFd) -> TestResult<Watched> {
    // SAFETY: no preconditions; gettid() cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    let stat = File::open(format!("/proc/self/task/{tid}/stat"))
        .map_err(|e| format!("open /proc/self/task/{tid}/stat: {e}"))?;
    // SAFETY: pthread_self() has no preconditions.
    let me = unsafe { libc::pthread_self() };
    let (returned_tx, returned_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let watchdog = s.spawn(move || -> TestResult<(bool, bool)> {
            let mut returned = false;
            let mut wait = |d| {
                returned =
                    returned || returned_rx.recv_timeout(d) != Err(RecvTimeoutError::Timeout);
                returned
            };
            let start = Instant::now();
            let mut looks = 0;
            while looks < ASLEEP_LOOKS && start.elapsed() < RETURN_TIMEOUT {
                if wait(POLL) {
                    return Ok((false, false));
                }
                looks = if thread_state(&stat) == Some(b'S') {
                    looks + 1
                } else {
                    0
                };
            }
            // SAFETY: `me` is the thread in `KVM_RUN`, which joins this
            // one (at the end of the scope) before it can end.
            let kick = || unsafe { kick_thread(me) };
            let kicks = kick_until_returned(RETURN_TIMEOUT, RESIGNAL, kick, &mut wait)?;
            if !wait(Duration::ZERO) {
                give_up_on_kvm_run();
            }
            Ok((kicks > 0, looks >= ASLEEP_LOOKS))
        });
        let exit = run(vcpu);
        drop(returned_tx);
        let (signalled, asleep) = watchdog
            .join()
            .map_err(|_| "watchdog thread panicked".to_string())??;
        Ok(Watched {
            exit,
            signalled,
            asleep,
        })
    })
}

/// Short names of the arm64 mp_states, for traces.
pub fn mp_short(state: u32) -> &'static str {
    match state {
        KVM_MP_STATE_RUNNABLE => "ON",
        KVM_MP_STATE_STOPPED => "OFF",
        KVM_MP_STATE_SUSPENDED => "SUSP",
        _ => "?",
    }
}

/// `KVM_GET_MP_STATE` of every vCPU.
pub fn states(vm: &TestVm) -> TestResult<Vec<u32>> {
    vm.vcpus
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.get_mp_state()
                .map(|s| s.mp_state)
                .map_err(|e| format!("KVM_GET_MP_STATE of vCPU {i}: {e}"))
        })
        .collect()
}

/// The mp_states of every vCPU, for a message.
pub fn show_states(s: &[u32]) -> String {
    let each: Vec<String> = s
        .iter()
        .enumerate()
        .map(|(i, &m)| format!("vCPU {i} {}", mp_name(m)))
        .collect();
    each.join(", ")
}

/// Fails unless every vCPU's mp_state is as in `want`, naming all of them.
pub fn expect_states(vm: &TestVm, want: &[u32], after: &str) -> TestResult {
    let got = states(vm)?;
    crate::vm::ensure(got == want, || {
        format!(
            "after {after}: expected mp_states [{}], got [{}]",
            show_states(want),
            show_states(&got)
        )
    })
}

/// x0-x3 of vCPU `i`.
pub fn args_of(vm: &TestVm, i: usize) -> TestResult<[u64; 4]> {
    let mut r = [0u64; 4];
    for (n, v) in r.iter_mut().enumerate() {
        *v = vm.get_reg(i, xreg(n))?;
    }
    Ok(r)
}

/// Sets x0-x3 of vCPU `i`.
pub fn set_args(vm: &TestVm, i: usize, args: [u64; 4]) -> TestResult {
    for (n, v) in args.into_iter().enumerate() {
        vm.set_reg(i, xreg(n), v)?;
    }
    Ok(())
}

/// x0-x3 for a message: the function id, then the arguments.
pub fn show_args(a: &[u64; 4]) -> String {
    format!(
        "x0={:#x} x1={:#x} x2={:#x} x3={:#x}",
        a[0], a[1], a[2], a[3]
    )
}

/// x0 for a message: hex, and signed as PSCI return values are.
pub fn show_ret(v: u64) -> String {
    format!("{v:#x} ({})", v as i64)
}
