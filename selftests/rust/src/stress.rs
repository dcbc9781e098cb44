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
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kvm_bindings::{kvm_mp_state, KVM_MP_STATE_RUNNABLE, KVM_MP_STATE_SUSPENDED};
use kvm_ioctls::VmFd;

use crate::guest::{self, MMIO_REPORT};
use crate::vm::{expect_mmio, irq_line_raw, kick_thread, run, Exit, TestResult, TestVm, VmOpts};

/// No KVM_RUN of a suspended vCPU with its IRQ raised may take longer.
const WATCHDOG: Duration = Duration::from_secs(2);

/// Counters shared by all threads.
#[derive(Default)]
struct Counters {
    cycles: AtomicU64,
    injected: AtomicU64,
    wakeups: AtomicU64,
    eintr: AtomicU64,
    reads: AtomicU64,
}

/// A small xorshift generator: the stress needs variety, not quality.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
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
    raised: &AtomicBool,
    i: usize,
    vcpu: &mut kvm_ioctls::VcpuFd,
    wake: &mpsc::Sender<usize>,
    stop: &AtomicBool,
    c: &Counters,
) -> TestResult {
    while !stop.load(Ordering::Relaxed) {
        vcpu.set_mp_state(kvm_mp_state {
            mp_state: KVM_MP_STATE_SUSPENDED,
        })
        .map_err(|e| format!("vCPU {i}: KVM_SET_MP_STATE(SUSPENDED): {e}"))?;
        wake.send(i).map_err(|_| "injector gone".to_string())?;
        let asked = Instant::now();
        loop {
            match run(vcpu) {
                e if e.is_clean_wakeup() => {
                    if !raised.swap(false, Ordering::SeqCst) {
                        return Err(format!(
                            "vCPU {i}: WAKEUP before its IRQ was raised (after {} EINTRs)",
                            c.eintr.load(Ordering::Relaxed)
                        ));
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
                }
                other => return Err(format!("vCPU {i}: while suspended, KVM_RUN gave {other:?}")),
            }
            if asked.elapsed() > WATCHDOG {
                return Err(format!(
                    "vCPU {i}: no WAKEUP {WATCHDOG:?} after its IRQ was requested: lost wakeup"
                ));
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
    println!("TAP version 13\n1..1");
    match stress(Duration::from_secs(secs), nvcpus) {
        Ok(line) => {
            println!("# {line}");
            println!("ok 1 stress_suspend_wake_resume");
            0
        }
        Err(e) => {
            println!("# {e}");
            println!("not ok 1 stress_suspend_wake_resume");
            1
        }
    }
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
    // raised[i]: the line of vCPU i is up for its current request.
    let raised: Vec<AtomicBool> = (0..nvcpus).map(|_| AtomicBool::new(false)).collect();
    let raised = &raised;
    let c = Counters::default();
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let (wake_tx, wake_rx) = mpsc::channel::<usize>();
    let result = std::thread::scope(|s| -> TestResult {
        let (tid_tx, tid_rx) = mpsc::channel();
        let mut handles = Vec::new();
        for (i, vcpu) in vcpus.iter_mut().enumerate() {
            let (wake, stop, c, tid_tx) = (wake_tx.clone(), &stop, &c, tid_tx.clone());
            handles.push(s.spawn(move || {
                // SAFETY: pthread_self() has no preconditions.
                let _ = tid_tx.send(unsafe { libc::pthread_self() });
                let r = vcpu_loop(vm_fd, &raised[i], i, vcpu, &wake, stop, c);
                stop.store(true, Ordering::Relaxed);
                r
            }));
        }
        drop(wake_tx);
        let tids: Vec<libc::pthread_t> = (0..nvcpus).filter_map(|_| tid_rx.recv().ok()).collect();
        // Injector: raises each requested IRQ line after a random delay.
        let cref = &c;
        let injector = s.spawn(move || -> TestResult {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            while let Ok(i) = wake_rx.recv() {
                std::thread::sleep(Duration::from_micros(rng.next() % 1000));
                raised[i].store(true, Ordering::SeqCst);
                irq_line_raw(vm_fd, i, true)?;
                cref.injected.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        });
        // Reader: KVM_GET_MP_STATE on random vCPUs; any state it sees must
        // be one of the two this stress sets.
        let reader = s.spawn(|| -> TestResult {
            let mut rng = Rng(0x2545_f491_4f6c_dd1d);
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
        // Signaller (this thread): signals random vCPU threads until the end.
        let mut rng = Rng(0x1234_5678_9abc_def1);
        while start.elapsed() < duration && !stop.load(Ordering::Relaxed) {
            let t = tids[(rng.next() % tids.len() as u64) as usize];
            // SAFETY: the vCPU threads are not joined before the scope ends.
            unsafe { kick_thread(t) }?;
            std::thread::sleep(Duration::from_millis(2 + rng.next() % 5));
        }
        stop.store(true, Ordering::Relaxed);
        // Let every vCPU thread finish its cycle: raise every line, and keep
        // signalling, so that a lost wakeup still ends in the watchdog's
        // error instead of a hang; past 10 s the process gives up.
        let end = Instant::now() + Duration::from_secs(10);
        while handles.iter().any(|h| !h.is_finished()) {
            if Instant::now() > end {
                println!("# vCPU threads still in KVM_RUN 10 s after the end; giving up");
                std::process::exit(1);
            }
            for (i, t) in tids.iter().enumerate() {
                raised[i].store(true, Ordering::SeqCst);
                irq_line_raw(vm_fd, i, true)?;
                // SAFETY: as above.
                unsafe { kick_thread(*t) }?;
            }
            std::thread::sleep(Duration::from_millis(10));
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
