// SPDX-License-Identifier: GPL-2.0
//! `KVM_RUN` in a thread of its own ([`RunThread`]): started, watched,
//! signalled and joined by the test, with the time and CPU time each run
//! took; and the clocks they are measured with.

use std::cell::{Cell, RefCell};
use std::sync::mpsc;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use kvm_ioctls::VcpuFd;

use super::{
    give_up, give_up_on_kvm_run, kick_thread, kick_until_returned, run, spawn_kickable, Exit,
    TestResult, VcpuStats, BLOCKED, RESIGNAL, RETURN_TIMEOUT,
};

/// The counter frequency, `CNTFRQ_EL0`, which the guest's timer and
/// virtual count share.
pub fn cntfrq() -> u64 {
    let f: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effect; Linux lets EL0 read it.
    unsafe { std::arch::asm!("mrs {}, cntfrq_el0", out(reg) f) };
    f
}

/// CPU time the calling thread has used.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out parameter.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// What one `KVM_RUN` of a [`RunThread`] gave, and when.
#[derive(Debug)]
pub struct Ran {
    /// What `KVM_RUN` gave.
    pub exit: Exit,
    /// Just before the ioctl.
    pub entered: Instant,
    /// Just after it returned.
    pub returned: Instant,
    /// CPU time of the vCPU thread during the ioctl.
    pub cpu: Duration,
}

impl Ran {
    /// Wall time of the `KVM_RUN`.
    pub fn wall(&self) -> Duration {
        self.returned.saturating_duration_since(self.entered)
    }
}

/// The result of a `KVM_RUN` done in a thread of its own.
#[derive(Debug)]
pub struct BlockedRun {
    /// What `KVM_RUN` gave.
    pub exit: Exit,
    /// Whether it waited in `KVM_RUN` before the test poked it.
    pub blocked: bool,
    /// CPU time of the vCPU thread during `KVM_RUN`.
    pub cpu: Duration,
    /// Wall time of `KVM_RUN`.
    pub wall: Duration,
}

impl BlockedRun {
    /// `ran`, which waited in `KVM_RUN` before the test poked it if `blocked`.
    pub fn new(ran: Ran, blocked: bool) -> Self {
        BlockedRun {
            wall: ran.wall(),
            exit: ran.exit,
            blocked,
            cpu: ran.cpu,
        }
    }
}

/// The vCPU runner of the cases and the bench: a scoped thread
/// that runs `KVM_RUN` on one vCPU each time it is started and reports what
/// it gave, which the test can watch and signal meanwhile.
///
/// Dropped while its `KVM_RUN` runs (a case that fails with `?` before
/// [`RunThread::join`]), it signals the thread until `KVM_RUN` returns, or
/// gives up: leaving the scope joins the thread, and nothing else would end
/// that `KVM_RUN`.
pub struct RunThread<'scope> {
    /// Starts a run; `None` once [`RunThread::join`] ended the thread.
    go: Option<mpsc::Sender<()>>,
    ran: mpsc::Receiver<Ran>,
    /// The started run's result once it came, until `finish()` takes it.
    last: RefCell<Option<Ran>>,
    /// The thread ended (it panicked: it runs until `go` is dropped).
    gone: Cell<bool>,
    /// A started `KVM_RUN` has not been seen to return.
    running: Cell<bool>,
    tid: libc::pthread_t,
    /// `None` once [`RunThread::join`] joined the thread.
    handle: Option<ScopedJoinHandle<'scope, ()>>,
}

impl<'scope> RunThread<'scope> {
    /// Starts a thread of scope `s` that runs `KVM_RUN` on `vcpu` on each
    /// [`RunThread::start`].
    pub fn idle(s: &'scope Scope<'scope, '_>, vcpu: &'scope mut VcpuFd) -> TestResult<Self> {
        let (go, go_rx) = mpsc::channel::<()>();
        let (ran_tx, ran) = mpsc::channel();
        let (handle, tid) = spawn_kickable(s, move || {
            while go_rx.recv().is_ok() {
                let cpu0 = thread_cpu();
                let entered = Instant::now();
                let exit = run(vcpu);
                let returned = Instant::now();
                let cpu = thread_cpu().saturating_sub(cpu0);
                let ran = Ran {
                    exit,
                    entered,
                    returned,
                    cpu,
                };
                if ran_tx.send(ran).is_err() {
                    break;
                }
            }
        })?;
        Ok(RunThread {
            go: Some(go),
            ran,
            last: RefCell::new(None),
            gone: Cell::new(false),
            running: Cell::new(false),
            tid,
            handle: Some(handle),
        })
    }

    /// Starts `KVM_RUN` on `vcpu` in a thread of scope `s`.
    pub fn spawn(s: &'scope Scope<'scope, '_>, vcpu: &'scope mut VcpuFd) -> TestResult<Self> {
        let t = Self::idle(s, vcpu)?;
        t.start()?;
        Ok(t)
    }

    /// Starts one `KVM_RUN`.
    pub fn start(&self) -> TestResult {
        self.go
            .as_ref()
            .ok_or_else(|| "vCPU thread ended".to_string())?
            .send(())
            .map_err(|_| "vCPU thread died".to_string())?;
        self.running.set(true);
        Ok(())
    }

    /// Whether `KVM_RUN` has returned.
    pub fn done(&self) -> bool {
        self.wait(Duration::ZERO)
    }

    /// Waits up to `d` for `KVM_RUN` to return; true if it has.
    pub fn wait(&self, d: Duration) -> bool {
        let mut last = self.last.borrow_mut();
        if last.is_none() && !self.gone.get() {
            match self.ran.recv_timeout(d) {
                Ok(ran) => *last = Some(ran),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => self.gone.set(true),
            }
        }
        let returned = last.is_some() || self.gone.get();
        if returned {
            self.running.set(false);
        }
        returned
    }

    /// Sends the thread one signal.
    pub fn signal(&self) -> TestResult {
        // SAFETY: `tid` is the thread of `self.handle`, which is not joined
        // yet (only `join()` joins it, and it consumes `self`), so the id is
        // still valid even if it has exited.
        unsafe { kick_thread(self.tid) }
    }

    /// Signals the thread until `KVM_RUN` returns, for at most
    /// `RETURN_TIMEOUT`; returns how many signals it sent.
    pub fn interrupt(&self) -> TestResult<u32> {
        kick_until_returned(RETURN_TIMEOUT, RESIGNAL, || self.signal(), |d| self.wait(d))
    }

    /// Takes what the started `KVM_RUN` gave once it returned. One that
    /// should have returned but still waits after `RETURN_TIMEOUT` is
    /// signalled and fails with what it then gave; if even signals do not
    /// end it, the process gives up.
    pub fn finish(&self) -> TestResult<Ran> {
        let late = !self.wait(RETURN_TIMEOUT);
        if late {
            self.interrupt()?;
        }
        if !self.done() {
            give_up_on_kvm_run();
        }
        let ran = self
            .last
            .borrow_mut()
            .take()
            .ok_or_else(|| "vCPU thread panicked".to_string())?;
        if late {
            return Err(format!(
                "KVM_RUN still waited {RETURN_TIMEOUT:?} after it should have returned; a signal then gave {}",
                ran.exit
            ));
        }
        Ok(ran)
    }

    /// [`RunThread::finish`], then ends the thread.
    pub fn join(mut self) -> TestResult<Ran> {
        let ran = self.finish()?;
        drop(self.go.take());
        if let Some(handle) = self.handle.take() {
            handle
                .join()
                .map_err(|_| "vCPU thread panicked".to_string())?;
        }
        Ok(ran)
    }
}

impl Drop for RunThread<'_> {
    fn drop(&mut self) {
        if self.running.get() && !self.done() && (self.interrupt().is_err() || !self.done()) {
            give_up("a failed case left its vCPU thread in KVM_RUN, and signals did not end it");
        }
    }
}

/// Runs `vcpu` once in a thread, so that a `KVM_RUN` that should return
/// but keeps waiting is a failure after `RETURN_TIMEOUT` (ended by a
/// signal, see [`RunThread::finish`]), not a hang.
pub fn run_bounded(vcpu: &mut VcpuFd, what: &str) -> TestResult<Exit> {
    std::thread::scope(|s| {
        RunThread::spawn(s, vcpu)
            .and_then(RunThread::join)
            .map(|r| r.exit)
            .map_err(|e| format!("{what}: {e}"))
    })
}

/// How a test tells that a vCPU waits in `KVM_RUN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waits {
    /// In `kvm_vcpu_block()`, as a suspended vCPU does: KVM's "blocking"
    /// statistic says so, and an event after that came while it waited.
    Blocking,
    /// Elsewhere (a STOPPED vCPU sleeps without `kvm_vcpu_block()`): still
    /// in `KVM_RUN` after `BLOCKED`.
    Sleeping,
}

impl RunThread<'_> {
    /// Waits until the vCPU waits in `KVM_RUN` as `how` says, or `KVM_RUN`
    /// returned, or `RETURN_TIMEOUT` passed; true if it waits.
    pub fn wait_waiting(&self, how: Waits, stats: &VcpuStats) -> TestResult<bool> {
        match how {
            Waits::Sleeping => Ok(!self.wait(BLOCKED)),
            Waits::Blocking => {
                let deadline = Instant::now() + RETURN_TIMEOUT;
                while !self.done() && !stats.blocking()? && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(!self.done() && stats.blocking()?)
            }
        }
    }
}

/// Runs `vcpu` in a thread; once it waits in `KVM_RUN` (as `how` tells),
/// calls `poke`, which returns true if it made a wakeup event pending, false
/// to have the thread signalled instead.
pub fn run_in_thread(
    vcpu: &mut VcpuFd,
    how: Waits,
    poke: impl FnOnce() -> TestResult<bool>,
) -> TestResult<BlockedRun> {
    let stats = VcpuStats::new(vcpu)?;
    std::thread::scope(|s| {
        let t = RunThread::spawn(s, vcpu)?;
        let blocked = t.wait_waiting(how, &stats)?;
        if blocked && !poke()? {
            t.interrupt()?;
        }
        t.join().map(|ran| BlockedRun::new(ran, blocked))
    })
}
