// SPDX-License-Identifier: GPL-2.0
//! Getting a thread out of `KVM_RUN`: the timeouts, the signal and its
//! handler, kickable threads, bounded waits, and giving up when signals do
//! not end a `KVM_RUN`.

use std::sync::mpsc;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use vmm_sys_util::signal::{register_signal_handler, SIGRTMIN};

use super::TestResult;

/// How long a vCPU must stay in `KVM_RUN` to count as blocked.
pub const BLOCKED: Duration = Duration::from_millis(200);
/// How long `KVM_RUN` may take to return once it should: the cases, the
/// bench and the fuzzer fail a `KVM_RUN` that waits longer (and end the
/// process if signals do not end it within as long again).
pub const RETURN_TIMEOUT: Duration = Duration::from_secs(5);
/// While a thread is signalled out of `KVM_RUN`, how long it gets to return
/// before the signal is sent again (one that came before it entered
/// `KVM_RUN` is lost).
pub const RESIGNAL: Duration = Duration::from_millis(50);

extern "C" fn on_signal(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

/// The signal the tests interrupt `KVM_RUN` with.
fn kick_signal() -> libc::c_int {
    SIGRTMIN()
}

/// Sends `kick_signal()` to the thread `tid`, to interrupt its `KVM_RUN`.
///
/// # Safety
///
/// `tid` must be a thread of this process that has not been joined yet (its
/// id stays valid until then, even after the thread has exited).
pub unsafe fn kick_thread(tid: libc::pthread_t) -> TestResult {
    // SAFETY: the caller guarantees that `tid` is a valid thread id.
    let rc = unsafe { libc::pthread_kill(tid, kick_signal()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("pthread_kill: error {rc}"))
    }
}

/// Installs the (empty) handler for `kick_signal()`, without SA_RESTART.
pub fn install_signal_handler() -> TestResult {
    register_signal_handler(kick_signal(), on_signal).map_err(|e| format!("sigaction: {e}"))
}

/// Spawns `f` in a thread of scope `s` and returns its handle and its id,
/// for [`kick_thread`] (valid until the handle is joined).
pub fn spawn_kickable<'scope, T: Send + 'scope>(
    s: &'scope Scope<'scope, '_>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> TestResult<(ScopedJoinHandle<'scope, T>, libc::pthread_t)> {
    let (tid_tx, tid_rx) = mpsc::channel();
    let handle = s.spawn(move || {
        // SAFETY: pthread_self() has no preconditions.
        let _ = tid_tx.send(unsafe { libc::pthread_self() });
        f()
    });
    let tid = tid_rx.recv().map_err(|_| "vCPU thread died".to_string())?;
    Ok((handle, tid))
}

/// Waits up to `d` for `cond`, looking every millisecond; returns whether
/// it holds.
pub fn wait_until(d: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !cond() && start.elapsed() < d {
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

/// Signals threads out of `KVM_RUN`: calls `kick` (which signals them)
/// until `returned(d)`, which waits up to `d` for them to return, says they
/// have; again after each `every` without a return (a signal that reached a
/// thread before it entered `KVM_RUN` is lost), for at most `bound`.
/// Returns how often it called `kick`; what to do about a thread still in
/// `KVM_RUN` after `bound` is the caller's (see [`give_up`]).
pub fn kick_until_returned(
    bound: Duration,
    every: Duration,
    mut kick: impl FnMut() -> TestResult,
    mut returned: impl FnMut(Duration) -> bool,
) -> TestResult<u32> {
    let deadline = Instant::now() + bound;
    let mut kicks = 0;
    while !returned(Duration::ZERO) && Instant::now() < deadline {
        kick()?;
        kicks += 1;
        returned(every);
    }
    Ok(kicks)
}

/// Ends the process because a thread stays in `KVM_RUN` even under signals:
/// nothing else unblocks a thread in the kernel, and its scope would wait
/// for it forever.
pub fn give_up(what: &str) -> ! {
    println!("# {what}; giving up");
    std::process::exit(1);
}

/// [`give_up`] on a `KVM_RUN` that [`kick_until_returned`] did not end
/// within `RETURN_TIMEOUT`.
pub fn give_up_on_kvm_run() -> ! {
    give_up(&format!(
        "KVM_RUN still blocked after signals for {RETURN_TIMEOUT:?}"
    ))
}
