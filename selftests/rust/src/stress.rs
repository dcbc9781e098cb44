// SPDX-License-Identifier: GPL-2.0
//! `vcpu_suspend_rs --stress SECONDS [VCPUS]`: several vCPUs cycle
//! suspend -> wake -> resume for a bounded time while other threads inject
//! their interrupts at random moments, signal their threads, and read their
//! states. Checks that no wakeup is lost (each injected IRQ ends in exactly
//! one WAKEUP, and no KVM_RUN waits past a watchdog bound), that every EINTR
//! leaves the vCPU SUSPENDED, that no WAKEUP comes before its IRQ was
//! raised (a signal is no wakeup), and that every resume reaches the guest.
//! Prints KTAP (one result) and the cycles per second.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use kvm_bindings::{kvm_mp_state, KVM_MP_STATE_RUNNABLE, KVM_MP_STATE_SUSPENDED};
use kvm_ioctls::VmFd;

use crate::guest::{self, MMIO_REPORT};
use crate::ktap::{Ktap, Outcome};
use crate::rng::Rng;
use crate::vm::{
    expect_mmio, give_up, irq_line_raw, kick_thread, kick_until_returned, run, spawn_kickable,
    wait_until, Exit, TestResult, TestVm, VmOpts,
};

/// No suspended vCPU may stay without its WAKEUP longer after its IRQ line
/// was raised.
const WATCHDOG: Duration = Duration::from_secs(2);

/// The injector must raise a requested line within this bound; past it the
/// test itself is starved, which says nothing about KVM.
const INJECTOR_BOUND: Duration = Duration::from_secs(10);

/// After the end, how long the vCPU threads get to finish their cycle
/// (their lines raised, their threads signalled) before the process gives
/// up on them.
const STOP_BOUND: Duration = Duration::from_secs(10);

/// Meanwhile, how often their lines are raised and their threads signalled
/// again.
const STOP_RESIGNAL: Duration = Duration::from_millis(10);

/// How many `KVM_RUN`s begun after the line was up must end in `EINTR`
/// (besides the [`WATCHDOG`] time) before the wakeup counts as lost.
const LOST_AFTER_EINTRS: u32 = 3;

/// Counters shared by all threads.
#[derive(Default)]
struct Counters {
    cycles: AtomicU64,
    injected: AtomicU64,
    wakeups: AtomicU64,
    eintr: AtomicU64,
    reads: AtomicU64,
    lost: AtomicU64,
}

/// The IRQ line of one vCPU, as the stress drives it.
#[derive(Default)]
struct Line {
    /// The line is being raised for the vCPU's current request (set before
    /// `KVM_IRQ_LINE`, so that a WAKEUP never precedes it).
    raised: AtomicBool,
    /// The vCPU's request number, and when `KVM_IRQ_LINE` raising the line
    /// for that request returned (`None` while it has not). The number
    /// keeps a late answer to the previous request from counting.
    up: Mutex<(u64, Option<Instant>)>,
}

impl Line {
    /// A new request: returns its number.
    fn request(&self) -> u64 {
        let mut up = self.up.lock().unwrap_or_else(|e| e.into_inner());
        up.0 += 1;
        up.1 = None;
        up.0
    }

    /// The line is up for request `n` if that is still the current one, or
    /// for the current one whatever it is (`None`).
    fn set_up(&self, n: Option<u64>) {
        let mut up = self.up.lock().unwrap_or_else(|e| e.into_inner());
        if n.is_none_or(|n| up.0 == n) && up.1.is_none() {
            up.1 = Some(Instant::now());
        }
    }

    /// When the line went up for the current request.
    fn up_at(&self) -> Option<Instant> {
        self.up.lock().unwrap_or_else(|e| e.into_inner()).1
    }
}

// The ioctl request of `KVM_GET_MP_STATE`, as kvm-ioctls defines it
// internally (not exported).
vmm_sys_util::ioctl_ior_nr!(KVM_GET_MP_STATE, kvm_bindings::KVMIO, 0x98, kvm_mp_state);

/// `KVM_GET_MP_STATE` on a raw vCPU fd. Raw because the vCPU's `VcpuFd`
/// belongs to the thread that runs it (`run()` takes `&mut`), while this is
/// issued from a reader thread at the same time.
fn get_mp_state_raw(fd: i32) -> Result<u32, i32> {
    let mut mp = kvm_mp_state::default();
    // SAFETY: `fd` is an open vCPU fd for the whole stress run, and `mp` is
    // the `struct kvm_mp_state` the ioctl writes.
    let rc = unsafe {
        vmm_sys_util::ioctl::ioctl_with_mut_ref(
            &std::os::fd::BorrowedFd::borrow_raw(fd),
            KVM_GET_MP_STATE(),
            &mut mp,
        )
    };
    if rc == 0 {
        Ok(mp.mp_state)
    } else {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

/// One vCPU's loop until `stop`; returns its first broken invariant.
fn vcpu_loop(
    vm: &VmFd,
    line: &Line,
    i: usize,
    vcpu: &mut kvm_ioctls::VcpuFd,
    wake: &mpsc::Sender<(usize, u64)>,
    stop: &AtomicBool,
    c: &Counters,
) -> TestResult {
    while !stop.load(Ordering::Relaxed) {
        vcpu.set_mp_state(kvm_mp_state {
            mp_state: KVM_MP_STATE_SUSPENDED,
        })
        .map_err(|e| format!("vCPU {i}: KVM_SET_MP_STATE(SUSPENDED): {e}"))?;
        let n = line.request();
        wake.send((i, n)).map_err(|_| "injector gone".to_string())?;
        let asked = Instant::now();
        // KVM_RUNs that began after the line was up and still ended in
        // EINTR. With the line held, KVM_RUN gives the WAKEUP unless a
        // signal was already pending when it began; so several of these
        // mean KVM does not see the line.
        let mut eintr_after_up = 0u32;
        // When the line was lowered and raised again (see below).
        let mut probed: Option<Instant> = None;
        loop {
            let up_before_run = line.up_at().is_some();
            match run(vcpu) {
                e if e.is_clean_wakeup() => {
                    if !line.raised.swap(false, Ordering::SeqCst) {
                        return Err(format!(
                            "vCPU {i}: WAKEUP before its IRQ was raised (after {} EINTRs)",
                            c.eintr.load(Ordering::Relaxed)
                        ));
                    }
                    if probed.is_some() {
                        c.lost.fetch_add(1, Ordering::Relaxed);
                    }
                    break;
                }
                Exit::Eintr { .. } => {
                    c.eintr.fetch_add(1, Ordering::Relaxed);
                    let s = vcpu
                        .get_mp_state()
                        .map_err(|e| format!("KVM_GET_MP_STATE: {e}"))?
                        .mp_state;
                    if s != KVM_MP_STATE_SUSPENDED {
                        return Err(format!(
                            "vCPU {i}: after EINTR the state is {s}, expected SUSPENDED"
                        ));
                    }
                    if up_before_run {
                        eintr_after_up += 1;
                    }
                }
                other => return Err(format!("vCPU {i}: while suspended, KVM_RUN gave {other:?}")),
            }
            let Some(up) = line.up_at() else {
                if asked.elapsed() > INJECTOR_BOUND {
                    return Err(format!(
                        "vCPU {i}: the injector did not raise the line {INJECTOR_BOUND:?} after the request (test starved)"
                    ));
                }
                continue;
            };
            match probed {
                None if up.elapsed() > WATCHDOG && eintr_after_up >= LOST_AFTER_EINTRS => {
                    // Tell a line KVM has dropped (re-raising it wakes the
                    // vCPU) from a vCPU that does not wake on a line KVM
                    // holds (re-raising changes nothing).
                    println!(
                        "# vCPU {i}: no WAKEUP {:?} after its line went up, {eintr_after_up} KVM_RUNs begun since then ended in EINTR; lowering and raising the line again",
                        up.elapsed()
                    );
                    irq_line_raw(vm, i, false)?;
                    irq_line_raw(vm, i, true)?;
                    probed = Some(Instant::now());
                }
                Some(p) if p.elapsed() > WATCHDOG => {
                    return Err(format!(
                        "vCPU {i}: no WAKEUP {WATCHDOG:?} after its IRQ line was raised, nor {WATCHDOG:?} after it was raised again: lost wakeup"
                    ));
                }
                _ => {}
            }
        }
        c.wakeups.fetch_add(1, Ordering::Relaxed);
        irq_line_raw(vm, i, false)?;
        vcpu.set_mp_state(kvm_mp_state {
            mp_state: KVM_MP_STATE_RUNNABLE,
        })
        .map_err(|e| format!("vCPU {i}: KVM_SET_MP_STATE(RUNNABLE): {e}"))?;
        // Signals may interrupt the resumed run too; the guest's next store
        // must come eventually.
        loop {
            match run(vcpu) {
                Exit::Eintr { .. } => continue,
                exit => {
                    expect_mmio(&exit, MMIO_REPORT, 7)
                        .map_err(|e| format!("vCPU {i}: resume: {e}"))?;
                    break;
                }
            }
        }
        c.cycles.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Runs the stress for `secs` seconds with `nvcpus` vCPUs.
pub fn run_stress(secs: u64, nvcpus: usize) -> i32 {
    print!("{}", Ktap::header(1));
    let outcome = match stress(Duration::from_secs(secs), nvcpus) {
        Ok(line) => {
            println!("# {line}");
            Outcome::Pass
        }
        Err(e) => Outcome::Fail(e.to_string()),
    };
    let mut ktap = Ktap::default();
    print!("{}", ktap.record("stress_suspend_wake_resume", outcome));
    ktap.exit_code()
}

fn stress(duration: Duration, nvcpus: usize) -> TestResult<String> {
    let code = guest::mmio_loop();
    let mut vm = TestVm::new(
        &code,
        VmOpts {
            vcpus: nvcpus,
            ..Default::default()
        },
    )?;
    let fds: Vec<i32> = vm.vcpus.iter().map(|v| v.as_raw_fd()).collect();
    let mut vcpus = std::mem::take(&mut vm.vcpus);
    let vm_fd = &vm.vm;
    let lines: Vec<Line> = (0..nvcpus).map(|_| Line::default()).collect();
    let lines = &lines;
    let c = Counters::default();
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let (wake_tx, wake_rx) = mpsc::channel::<(usize, u64)>();
    let result = std::thread::scope(|s| -> TestResult {
        // Injector: raises each requested IRQ line after a random delay.
        let cref = &c;
        let injector = s.spawn(move || -> TestResult {
            let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
            while let Ok((i, n)) = wake_rx.recv() {
                std::thread::sleep(Duration::from_micros(rng.next() % 1000));
                lines[i].raised.store(true, Ordering::SeqCst);
                irq_line_raw(vm_fd, i, true)?;
                lines[i].set_up(Some(n));
                cref.injected.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        });
        // Reader: KVM_GET_MP_STATE on random vCPUs; any state it sees must
        // be one of the two this stress sets.
        let reader = s.spawn(|| -> TestResult {
            let mut rng = Rng::new(0x2545_f491_4f6c_dd1d);
            while !stop.load(Ordering::Relaxed) {
                let i = (rng.next() % fds.len() as u64) as usize;
                match get_mp_state_raw(fds[i]) {
                    Ok(KVM_MP_STATE_SUSPENDED | KVM_MP_STATE_RUNNABLE) => {}
                    Ok(s) => return Err(format!("reader: vCPU {i} in state {s}")),
                    Err(e) => return Err(format!("reader: KVM_GET_MP_STATE errno {e}")),
                }
                c.reads.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(200));
            }
            Ok(())
        });
        // The vCPU threads: each runs its own loop of KVM_RUNs and checks
        // (not the one-run RunThread), signalled below. Started after the
        // injector, so that those already running finish their cycle when
        // a later one cannot start.
        let (mut handles, mut tids) = (Vec::new(), Vec::new());
        for (i, vcpu) in vcpus.iter_mut().enumerate() {
            let (wake, stop, c) = (wake_tx.clone(), &stop, &c);
            let (h, tid) = spawn_kickable(s, move || {
                let r = vcpu_loop(vm_fd, &lines[i], i, vcpu, &wake, stop, c);
                stop.store(true, Ordering::Relaxed);
                r
            })
            .inspect_err(|_| stop.store(true, Ordering::Relaxed))?;
            handles.push(h);
            tids.push(tid);
        }
        drop(wake_tx);
        // Signaller (this thread): signals random vCPU threads until the end.
        let mut rng = Rng::new(0x1234_5678_9abc_def1);
        while start.elapsed() < duration && !stop.load(Ordering::Relaxed) {
            let t = tids[(rng.next() % tids.len() as u64) as usize];
            // SAFETY: the vCPU threads are not joined before the scope ends.
            unsafe { kick_thread(t) }?;
            std::thread::sleep(Duration::from_millis(2 + rng.next() % 5));
        }
        stop.store(true, Ordering::Relaxed);
        // Let every vCPU thread finish its cycle: raise every line, and keep
        // signalling, so that a lost wakeup still ends in the watchdog's
        // error instead of a hang; past STOP_BOUND the process gives up.
        let all_returned = || handles.iter().all(|h| h.is_finished());
        let raise_and_kick = || -> TestResult {
            for (i, t) in tids.iter().enumerate() {
                lines[i].raised.store(true, Ordering::SeqCst);
                irq_line_raw(vm_fd, i, true)?;
                lines[i].set_up(None);
                // SAFETY: as above.
                unsafe { kick_thread(*t) }?;
            }
            Ok(())
        };
        kick_until_returned(STOP_BOUND, STOP_RESIGNAL, raise_and_kick, |d| {
            wait_until(d, all_returned)
        })?;
        if !all_returned() {
            give_up(&format!(
                "vCPU threads still in KVM_RUN {} s after the end",
                STOP_BOUND.as_secs()
            ));
        }
        let mut first_err = Ok(());
        for h in handles {
            let r = h.join().map_err(|_| "vCPU thread panicked".to_string())?;
            if first_err.is_ok() {
                first_err = r;
            }
        }
        injector
            .join()
            .map_err(|_| "injector panicked".to_string())??;
        reader.join().map_err(|_| "reader panicked".to_string())??;
        first_err
    });
    result?;
    let secs = start.elapsed().as_secs_f64();
    let (cycles, injected, wakeups) = (
        c.cycles.load(Ordering::Relaxed),
        c.injected.load(Ordering::Relaxed),
        c.wakeups.load(Ordering::Relaxed),
    );
    let lost = c.lost.load(Ordering::Relaxed);
    if lost > 0 {
        return Err(format!(
            "{lost} lost wakeups in {cycles} cycles: each time, KVM held no raised line until the line was lowered and raised again"
        ));
    }
    // Each vCPU may end with one request whose IRQ came only in the final
    // raise-all, so injected may trail wakeups by at most the vCPU count.
    if wakeups > injected + nvcpus as u64 || injected > wakeups + nvcpus as u64 {
        return Err(format!(
            "{injected} IRQs injected but {wakeups} WAKEUPs seen"
        ));
    }
    Ok(format!(
        "{nvcpus} vCPUs, {secs:.1} s: {cycles} suspend/wake/resume cycles ({:.0}/s), {injected} IRQs, {wakeups} WAKEUPs, {} EINTRs all SUSPENDED, {} concurrent GET_MP_STATE",
        cycles as f64 / secs,
        c.eintr.load(Ordering::Relaxed),
        c.reads.load(Ordering::Relaxed)
    ))
}
