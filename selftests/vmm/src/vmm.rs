// SPDX-License-Identifier: GPL-2.0
//! The VMM on kvm-ioctls: VM, memory (vm-memory), kernel (linux-loader),
//! device tree (vm-fdt), vGICv3, one thread per vCPU, the 16550 and PL031
//! (vm-superio) on MMIO exits, the RTC alarm's timer thread, PSCI
//! SYSTEM_SUSPEND through `KVM_MP_STATE_SUSPENDED`, and a watchdog that
//! bounds every wait.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kvm_bindings::{
    kvm_create_device, kvm_device_attr, kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_V3, kvm_enable_cap,
    kvm_mp_state, kvm_userspace_memory_region, kvm_vcpu_init, KVM_ARM_IRQ_TYPE_SHIFT,
    KVM_ARM_IRQ_TYPE_SPI, KVM_ARM_VCPU_POWER_OFF, KVM_ARM_VCPU_PSCI_0_2,
    KVM_CAP_ARM_SYSTEM_SUSPEND, KVM_DEV_ARM_VGIC_CTRL_INIT, KVM_DEV_ARM_VGIC_GRP_ADDR,
    KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, KVM_REG_ARM64, KVM_REG_ARM64_SYSREG,
    KVM_REG_ARM_CORE, KVM_REG_SIZE_U64, KVM_SYSTEM_EVENT_RESET, KVM_SYSTEM_EVENT_SHUTDOWN,
    KVM_SYSTEM_EVENT_SUSPEND, KVM_SYSTEM_EVENT_WAKEUP, KVM_VGIC_V3_ADDR_TYPE_DIST,
    KVM_VGIC_V3_ADDR_TYPE_REDIST,
};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use linux_loader::loader::{pe::PE, KernelLoader};
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};
use vm_superio::serial::NoEvents as SerialNoEvents;
use vm_superio::{Serial, Trigger};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};
use vmm_sys_util::signal::{register_signal_handler, SIGRTMIN};

use suspend_vmm::fdt::{self, FdtConfig};
use suspend_vmm::layout::*;
use suspend_vmm::psci::{self, mp_name, Decision};
use suspend_vmm::rtc::{host_secs, RtcDevice, RTCICR, RTCIMSC, RTCLR, RTCMR};
use suspend_vmm::serial_out::LineOut;
use suspend_vmm::vlog;

use crate::opts::Opts;

// The PSCI logic's mp_state numbers are KVM's.
const _: () = {
    assert!(psci::MP_STATE_RUNNABLE == kvm_bindings::KVM_MP_STATE_RUNNABLE);
    assert!(psci::MP_STATE_STOPPED == kvm_bindings::KVM_MP_STATE_STOPPED);
    assert!(psci::MP_STATE_SUSPENDED == kvm_bindings::KVM_MP_STATE_SUSPENDED);
};

/// What the guest prints for its verdict.
const GUEST_PASS: &str = "SUSPEND-TEST: PASS";
const GUEST_FAIL: &str = "SUSPEND-TEST: FAIL";

/// The UART's interrupt: an eventfd bound to its SPI with irqfd.
struct IrqFd(EventFd);

impl Trigger for IrqFd {
    type E = std::io::Error;
    fn trigger(&self) -> std::io::Result<()> {
        self.0.write(1)
    }
}

type GuestOut = LineOut<Box<dyn FnMut(&str) + Send>>;
type Uart = Serial<IrqFd, SerialNoEvents, GuestOut>;

/// What happened, for the verdict and the timings.
#[derive(Default)]
struct Obs {
    guest_pass: bool,
    guest_fail: Option<String>,
    first_console: Option<f64>,
    init_started: Option<f64>,
    suspend_calls: u32,
    denied: u32,
    suspended_at: Option<Instant>,
    in_suspended_run: bool,
    alarm_fired_at: Option<Instant>,
    spi_raised_at: Option<Instant>,
    wakeup_at: Option<Instant>,
    wakeup_after_spi: bool,
    eintr_while_suspended: u32,
    suspended_vcpu: usize,
    resumed_at: Option<Instant>,
    shutdown_by: Option<usize>,
    failure: Option<String>,
}

/// A vCPU's state as its own thread read it while parked.
#[derive(Debug, Clone)]
struct Report {
    mp_state: Result<u32, String>,
    pc: Result<u64, String>,
}

struct Park {
    requested: bool,
    reports: Vec<Option<Report>>,
}

struct RtcSide {
    dev: RtcDevice,
    /// The level KVM has for the RTC's SPI.
    level: bool,
}

struct Shared {
    vm: VmFd,
    opts: Opts,
    uart: Mutex<Uart>,
    rtc: Mutex<RtcSide>,
    rtc_cv: Condvar,
    obs: Arc<Mutex<Obs>>,
    stop: AtomicBool,
    park: Mutex<Park>,
    park_cv: Condvar,
    tids: Mutex<Vec<Option<libc::pthread_t>>>,
    exited: Mutex<Vec<bool>>,
    mmio_complaints: Mutex<u32>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn core_reg(offset: usize) -> u64 {
    KVM_REG_ARM64 | KVM_REG_SIZE_U64 | u64::from(KVM_REG_ARM_CORE) | (offset / 4) as u64
}
fn xreg(n: usize) -> u64 {
    core_reg(n * 8)
}
fn pc_reg() -> u64 {
    core_reg(32 * 8)
}
fn pstate_reg() -> u64 {
    core_reg(33 * 8)
}
/// SCTLR_EL1: op0 3, op1 0, CRn 1, CRm 0, op2 0.
fn sctlr_el1_reg() -> u64 {
    KVM_REG_ARM64 | KVM_REG_SIZE_U64 | u64::from(KVM_REG_ARM64_SYSREG) | (3 << 14) | (1 << 7)
}

fn get_reg(vcpu: &VcpuFd, id: u64) -> Result<u64, String> {
    let mut b = [0u8; 8];
    vcpu.get_one_reg(id, &mut b)
        .map_err(|e| format!("KVM_GET_ONE_REG {id:#x}: {e}"))?;
    Ok(u64::from_le_bytes(b))
}

fn set_reg(vcpu: &VcpuFd, id: u64, v: u64) -> Result<(), String> {
    vcpu.set_one_reg(id, &v.to_le_bytes())
        .map(|_| ())
        .map_err(|e| format!("KVM_SET_ONE_REG {id:#x} = {v:#x}: {e}"))
}

fn kick_signal() -> libc::c_int {
    SIGRTMIN() + 1
}

extern "C" fn on_kick(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl Shared {
    fn fail(&self, msg: String) {
        vlog!("FAIL", "{msg}");
        let mut o = lock(&self.obs);
        if o.failure.is_none() {
            o.failure = Some(msg);
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn kick(&self, i: usize) {
        if let Some(tid) = lock(&self.tids)[i] {
            // SAFETY: tid is the pthread id of a vCPU thread, which is only
            // joined (and its id freed) after the last kick.
            unsafe { libc::pthread_kill(tid, kick_signal()) };
        }
    }

    fn stop_all(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.park_cv.notify_all();
        self.rtc_cv.notify_all();
    }

    /// Where a vCPU thread looks whether it must stop or park: a parked
    /// thread publishes its mp_state and PC (it is out of KVM_RUN, so the
    /// vCPU ioctls do not wait for it) and waits. Returns true to exit.
    fn park_point(&self, idx: usize, vcpu: &VcpuFd) -> bool {
        let mut p = lock(&self.park);
        if p.requested {
            p.reports[idx] = Some(Report {
                mp_state: vcpu
                    .get_mp_state()
                    .map(|s| s.mp_state)
                    .map_err(|e| e.to_string()),
                pc: get_reg(vcpu, pc_reg()),
            });
            self.park_cv.notify_all();
        }
        loop {
            if self.stopping() {
                return true;
            }
            if !p.requested {
                p.reports[idx] = None;
                return false;
            }
            p = self
                .park_cv
                .wait_timeout(p, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Parks every vCPU thread but `me`, kicking them out of KVM_RUN, and
    /// returns their reports (None: no report within `bound`).
    fn park_others(&self, me: Option<usize>, bound: Duration) -> Vec<(usize, Option<Report>)> {
        let n = self.opts.vcpus;
        {
            let mut p = lock(&self.park);
            p.requested = true;
            p.reports.iter_mut().for_each(|r| *r = None);
        }
        let t = Instant::now();
        loop {
            let missing: Vec<usize> = {
                let p = lock(&self.park);
                let ex = lock(&self.exited);
                (0..n)
                    .filter(|&i| Some(i) != me && p.reports[i].is_none() && !ex[i])
                    .collect()
            };
            if missing.is_empty() || t.elapsed() > bound {
                break;
            }
            for i in missing {
                self.kick(i);
            }
            let p = lock(&self.park);
            drop(
                self.park_cv
                    .wait_timeout(p, Duration::from_millis(20))
                    .unwrap_or_else(|e| e.into_inner()),
            );
        }
        let p = lock(&self.park);
        (0..n)
            .filter(|&i| Some(i) != me)
            .map(|i| (i, p.reports[i].clone()))
            .collect()
    }

    fn unpark(&self) {
        lock(&self.park).requested = false;
        self.park_cv.notify_all();
    }

    fn mmio_read(&self, idx: usize, addr: u64, data: &mut [u8]) {
        data.fill(0);
        if (UART_BASE..UART_BASE + 8).contains(&addr) {
            data[0] = lock(&self.uart).read((addr - UART_BASE) as u8);
        } else if (RTC_BASE..RTC_BASE + RTC_SIZE).contains(&addr) {
            let mut d = [0u8; 4];
            lock(&self.rtc).dev.read((addr - RTC_BASE) as u16, &mut d);
            let n = data.len().min(4);
            data[..n].copy_from_slice(&d[..n]);
        } else {
            self.complain(idx, "read", addr, data.len());
        }
    }

    fn mmio_write(&self, idx: usize, addr: u64, data: &[u8]) {
        if (UART_BASE..UART_BASE + 8).contains(&addr) {
            if let Err(e) = lock(&self.uart).write((addr - UART_BASE) as u8, data[0]) {
                self.fail(format!("UART write: {e:?}"));
            }
        } else if (RTC_BASE..RTC_BASE + RTC_SIZE).contains(&addr) {
            let mut d = [0u8; 4];
            let n = data.len().min(4);
            d[..n].copy_from_slice(&data[..n]);
            let off = (addr - RTC_BASE) as u16;
            let now = host_secs();
            let mut r = lock(&self.rtc);
            r.dev.write(off, &d, now);
            let v = u32::from_le_bytes(d);
            match off {
                RTCMR => {
                    let counter = r.dev.value_at(now);
                    vlog!(
                        "RTC",
                        "vCPU{idx} wrote RTCMR = {v} (counter {counter}: {})",
                        if r.dev.armed() {
                            format!("alarm in {} s", i64::from(v) - counter)
                        } else {
                            "not ahead of the counter, no alarm".into()
                        }
                    )
                }
                RTCIMSC => vlog!("RTC", "vCPU{idx} wrote RTCIMSC = {v:#x}"),
                RTCICR => vlog!("RTC", "vCPU{idx} wrote RTCICR = {v:#x} (clear)"),
                RTCLR => vlog!("RTC", "vCPU{idx} wrote RTCLR = {v}"),
                _ => {}
            }
            self.update_rtc_line(&mut r);
            drop(r);
            self.rtc_cv.notify_all();
        } else {
            self.complain(idx, "write", addr, data.len());
        }
    }

    fn complain(&self, idx: usize, what: &str, addr: u64, len: usize) {
        let mut n = lock(&self.mmio_complaints);
        *n += 1;
        if *n <= 10 {
            vlog!(
                "VMM",
                "vCPU{idx}: MMIO {what} of {len} bytes at {addr:#x}: no device there, ignored"
            );
        }
    }

    /// Makes KVM's level of the RTC SPI follow RTCMIS.
    fn update_rtc_line(&self, r: &mut RtcSide) {
        let want = r.dev.line();
        if want == r.level {
            return;
        }
        let intid = spi_intid(RTC_SPI);
        if want && self.opts.no_rtc_irq {
            if !r.level {
                vlog!(
                    "RTC",
                    "alarm interrupt due (RTCMIS set) but NOT raising SPI {intid} (--no-rtc-irq)"
                );
            }
            return;
        }
        let irq = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | intid;
        // Noted before the ioctl: the vCPU may see its WAKEUP before
        // KVM_IRQ_LINE has returned here.
        let t = Instant::now();
        let before = if want {
            lock(&self.obs).spi_raised_at.replace(t)
        } else {
            None
        };
        vlog!(
            "RTC",
            "KVM_IRQ_LINE(SPI INTID {intid}, level {}): {}",
            u8::from(want),
            if want {
                "raising the alarm interrupt"
            } else {
                "lowering the alarm interrupt (the guest cleared it)"
            }
        );
        match self.vm.set_irq_line(irq, want) {
            Ok(()) => {
                r.level = want;
                vlog!("RTC", "KVM_IRQ_LINE -> ok in {:.3} ms", ms(t.elapsed()));
            }
            Err(e) => {
                if want {
                    lock(&self.obs).spi_raised_at = before;
                }
                self.fail(format!("KVM_IRQ_LINE(INTID {intid}, {want}): {e}"))
            }
        }
    }

    /// The RTC's timer thread: fires the alarm when the counter reaches
    /// RTCMR.
    fn rtc_thread(&self) {
        let mut r = lock(&self.rtc);
        while !self.stopping() {
            let wait = match r.dev.deadline() {
                None => Duration::from_millis(200),
                Some(d) => {
                    let at = UNIX_EPOCH + Duration::from_secs(d.max(0) as u64);
                    match at.duration_since(SystemTime::now()) {
                        Ok(left) if !left.is_zero() => left.min(Duration::from_millis(200)),
                        _ => {
                            if r.dev.poll(host_secs()) {
                                lock(&self.obs).alarm_fired_at = Some(Instant::now());
                                vlog!(
                                    "RTC",
                                    "alarm: the counter reached RTCMR = {} (RTCRIS.AI set)",
                                    r.dev.mr()
                                );
                                self.update_rtc_line(&mut r);
                            }
                            Duration::from_millis(1)
                        }
                    }
                }
            };
            r = self
                .rtc_cv
                .wait_timeout(r, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn vcpu_thread(&self, idx: usize, mut vcpu: VcpuFd) {
        // SAFETY: pthread_self() has no preconditions.
        lock(&self.tids)[idx] = Some(unsafe { libc::pthread_self() });
        if let Err(e) = self.vcpu_loop(idx, &mut vcpu) {
            self.fail(format!("vCPU{idx}: {e}"));
            self.stop_all();
        }
        lock(&self.exited)[idx] = true;
        self.park_cv.notify_all();
    }

    fn vcpu_loop(&self, idx: usize, vcpu: &mut VcpuFd) -> Result<(), String> {
        loop {
            if self.park_point(idx, vcpu) {
                return Ok(());
            }
            let event = match vcpu.run() {
                Ok(VcpuExit::MmioRead(addr, data)) => {
                    self.mmio_read(idx, addr, data);
                    None
                }
                Ok(VcpuExit::MmioWrite(addr, data)) => {
                    self.mmio_write(idx, addr, data);
                    None
                }
                Ok(VcpuExit::SystemEvent(kind, _)) => Some(kind),
                Ok(VcpuExit::Intr) => None,
                Ok(other) => return Err(format!("unexpected exit {other:?}")),
                Err(e) if e.errno() == libc::EINTR => None,
                Err(e) => return Err(format!("KVM_RUN: {e}")),
            };
            match event {
                None => {}
                Some(KVM_SYSTEM_EVENT_SHUTDOWN) => {
                    vlog!(
                        "KVM",
                        "vCPU{idx} KVM_EXIT_SYSTEM_EVENT KVM_SYSTEM_EVENT_SHUTDOWN (PSCI SYSTEM_OFF)"
                    );
                    lock(&self.obs).shutdown_by = Some(idx);
                    self.stop_all();
                    return Ok(());
                }
                Some(KVM_SYSTEM_EVENT_RESET) => {
                    return Err("KVM_SYSTEM_EVENT_RESET: the guest rebooted".into())
                }
                Some(KVM_SYSTEM_EVENT_SUSPEND) => self.system_suspend(idx, vcpu)?,
                Some(KVM_SYSTEM_EVENT_WAKEUP) => {
                    return Err("KVM_SYSTEM_EVENT_WAKEUP from a vCPU that was not suspended".into())
                }
                Some(k) => return Err(format!("KVM_EXIT_SYSTEM_EVENT of unknown type {k}")),
            }
        }
    }

    /// PSCI SYSTEM_SUSPEND from vCPU `idx` (KVM_SYSTEM_EVENT_SUSPEND).
    fn system_suspend(&self, idx: usize, vcpu: &mut VcpuFd) -> Result<(), String> {
        let fid = get_reg(vcpu, xreg(0))?;
        let entry = get_reg(vcpu, xreg(1))?;
        let ctx = get_reg(vcpu, xreg(2))?;
        vlog!(
            "KVM",
            "vCPU{idx} KVM_EXIT_SYSTEM_EVENT KVM_SYSTEM_EVENT_SUSPEND: PSCI function {fid:#x} entry={entry:#x} ctx={ctx:#x}"
        );
        if !psci::is_system_suspend(fid) {
            return Err(format!(
                "SUSPEND exit with x0 = {fid:#x}, not SYSTEM_SUSPEND"
            ));
        }
        lock(&self.obs).suspend_calls += 1;

        // Every other vCPU must be OFF (DEN0022D 5.19.2). Their threads sit
        // in KVM_RUN, which holds the vCPU: park them to ask.
        let reports = self.park_others(Some(idx), Duration::from_secs(2));
        let mut states = Vec::new();
        for (i, r) in &reports {
            match r {
                Some(Report {
                    mp_state: Ok(s),
                    pc,
                }) => {
                    vlog!(
                        "KVM",
                        "vCPU{i} KVM_GET_MP_STATE -> {} ({s}), pc {}",
                        mp_name(*s),
                        pc.as_ref()
                            .map_or_else(|e| e.clone(), |p| format!("{p:#x}"))
                    );
                    states.push((*i, *s));
                }
                Some(Report {
                    mp_state: Err(e), ..
                }) => {
                    vlog!("KVM", "vCPU{i} KVM_GET_MP_STATE failed: {e}; counted as on");
                    states.push((*i, u32::MAX));
                }
                None => {
                    vlog!(
                        "VMM",
                        "vCPU{i} did not leave KVM_RUN within 2 s; counted as on"
                    );
                    states.push((*i, u32::MAX));
                }
            }
        }
        let mut decision = psci::decide_system_suspend(idx, &states);
        self.unpark();
        let first = lock(&self.obs).suspend_calls == 1;
        if self.opts.deny_first && first && decision == Decision::Suspend {
            vlog!(
                "VMM",
                "--deny-first: answering DENIED although every other vCPU is OFF"
            );
            decision = Decision::Denied(Vec::new());
        }
        if let Decision::Denied(busy) = decision {
            set_reg(vcpu, xreg(0), psci::PSCI_RET_DENIED as u64)?;
            lock(&self.obs).denied += 1;
            let why = if busy.is_empty() {
                "injected by --deny-first".to_string()
            } else {
                format!(
                    "vCPU(s) {:?} not OFF",
                    busy.iter().map(|b| b.0).collect::<Vec<_>>()
                )
            };
            vlog!(
                "VMM",
                "PSCI DENIED (-3 in x0, DEN0022D 5.19.2): {why}; vCPU{idx} runs on"
            );
            return Ok(());
        }
        vlog!("VMM", "every other vCPU is OFF: suspend vCPU{idx}");

        let t = Instant::now();
        vcpu.set_mp_state(kvm_mp_state {
            mp_state: psci::MP_STATE_SUSPENDED,
        })
        .map_err(|e| format!("KVM_SET_MP_STATE(SUSPENDED): {e}"))?;
        let got = vcpu
            .get_mp_state()
            .map_err(|e| format!("KVM_GET_MP_STATE: {e}"))?
            .mp_state;
        vlog!(
            "KVM",
            "vCPU{idx} KVM_SET_MP_STATE(SUSPENDED) -> ok in {:.3} ms; KVM_GET_MP_STATE -> {}",
            ms(t.elapsed()),
            mp_name(got)
        );
        if got != psci::MP_STATE_SUSPENDED {
            return Err(format!("mp_state is {} after SET(SUSPENDED)", mp_name(got)));
        }
        {
            let mut o = lock(&self.obs);
            o.suspended_at = Some(Instant::now());
            o.in_suspended_run = true;
            o.suspended_vcpu = idx;
        }
        loop {
            vlog!(
                "VMM",
                "vCPU{idx} KVM_RUN (suspended: blocks until a wakeup event)"
            );
            let t0 = Instant::now();
            let r = match vcpu.run() {
                Ok(VcpuExit::SystemEvent(kind, data)) => Ok((kind, data.len())),
                Ok(other) => Err(format!("{other:?}")),
                Err(e) => Err(if e.errno() == libc::EINTR {
                    "EINTR".to_string()
                } else {
                    format!("error {e}")
                }),
            };
            let blocked = t0.elapsed();
            match r {
                Ok((KVM_SYSTEM_EVENT_WAKEUP, ndata)) => {
                    let now = Instant::now();
                    let mut o = lock(&self.obs);
                    o.wakeup_at = Some(now);
                    o.in_suspended_run = false;
                    let since_spi = o.spi_raised_at.map(|s| now.duration_since(s));
                    o.wakeup_after_spi = o.spi_raised_at.is_some_and(|s| s <= now);
                    drop(o);
                    vlog!(
                        "KVM",
                        "vCPU{idx} KVM_RUN blocked {:.1} ms -> KVM_EXIT_SYSTEM_EVENT KVM_SYSTEM_EVENT_WAKEUP (ndata {ndata}); {}",
                        ms(blocked),
                        match since_spi {
                            Some(d) => format!("{:.1} ms after the RTC SPI was raised", ms(d)),
                            None => "the RTC SPI was never raised!".into(),
                        }
                    );
                    break;
                }
                Err(e) if e == "EINTR" => {
                    let st = vcpu.get_mp_state().map(|s| s.mp_state);
                    lock(&self.obs).eintr_while_suspended += 1;
                    vlog!(
                        "KVM",
                        "vCPU{idx} KVM_RUN blocked {:.1} ms -> EINTR (signal); mp_state {}",
                        ms(blocked),
                        st.map_or_else(|e| e.to_string(), |s| mp_name(s).to_string())
                    );
                    if self.park_point(idx, vcpu) {
                        vlog!("VMM", "vCPU{idx} stops while suspended");
                        return Ok(());
                    }
                }
                Ok((kind, _)) => {
                    return Err(format!(
                        "suspended KVM_RUN gave system event {kind}, not WAKEUP"
                    ))
                }
                Err(e) => return Err(format!("suspended KVM_RUN gave {e}, not WAKEUP")),
            }
        }

        // Resume as PSCI says: a warm reset into the entry point.
        let sctlr = get_reg(vcpu, sctlr_el1_reg())?;
        let res = psci::resume_state(fid, entry, ctx, sctlr);
        set_reg(vcpu, pc_reg(), res.pc)?;
        set_reg(vcpu, xreg(0), res.x0)?;
        set_reg(vcpu, pstate_reg(), res.pstate)?;
        set_reg(vcpu, sctlr_el1_reg(), res.sctlr)?;
        let t = Instant::now();
        vcpu.set_mp_state(kvm_mp_state {
            mp_state: psci::MP_STATE_RUNNABLE,
        })
        .map_err(|e| format!("KVM_SET_MP_STATE(RUNNABLE): {e}"))?;
        lock(&self.obs).resumed_at = Some(Instant::now());
        vlog!(
            "VMM",
            "resume vCPU{idx} at entry {:#x}, x0 = {:#x}, PSTATE {:#x} (EL1h, DAIF masked), SCTLR_EL1 {sctlr:#x} -> {:#x} (MMU, D-cache off); KVM_SET_MP_STATE(RUNNABLE) -> ok in {:.3} ms",
            res.pc,
            res.x0,
            res.pstate,
            res.sctlr,
            ms(t.elapsed())
        );
        Ok(())
    }

    /// Kicks every vCPU out of KVM_RUN and prints their mp_state and PC.
    fn report_stuck(&self) {
        let reports = self.park_others(None, Duration::from_secs(5));
        for (i, r) in reports {
            match r {
                Some(r) => vlog!(
                    "VMM",
                    "vCPU{i}: mp_state {}, pc {}",
                    r.mp_state
                        .as_ref()
                        .map_or_else(|e| e.clone(), |s| mp_name(*s).to_string()),
                    r.pc.as_ref()
                        .map_or_else(|e| e.clone(), |p| format!("{p:#x}"))
                ),
                None => vlog!(
                    "VMM",
                    "vCPU{i}: {}",
                    if lock(&self.exited)[i] {
                        "thread already ended"
                    } else {
                        "still in KVM_RUN 5 s after the signal"
                    }
                ),
            }
        }
    }
}

fn guest_line(obs: &Mutex<Obs>, line: &str) {
    let t = suspend_vmm::log::now_ms();
    {
        let mut o = lock(obs);
        o.first_console.get_or_insert(t);
        if line.contains("SUSPEND-TEST: init") {
            o.init_started.get_or_insert(t);
        }
        if line.contains(GUEST_PASS) {
            o.guest_pass = true;
        }
        if line.contains(GUEST_FAIL) {
            o.guest_fail = Some(line.to_string());
        }
    }
    suspend_vmm::log::line("L2", line);
}

fn read_file(path: &str, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read the {what} {path}: {e}"))
}

fn setup(opts: &Opts) -> Result<(Arc<Shared>, Vec<VcpuFd>, GuestMemoryMmap), String> {
    let kvm = Kvm::new().map_err(|e| format!("cannot open /dev/kvm: {e}"))?;
    let vm = kvm.create_vm().map_err(|e| format!("KVM_CREATE_VM: {e}"))?;
    vm.enable_cap(&kvm_enable_cap {
        cap: KVM_CAP_ARM_SYSTEM_SUSPEND,
        ..Default::default()
    })
    .map_err(|e| format!("KVM_ENABLE_CAP(KVM_CAP_ARM_SYSTEM_SUSPEND): {e}"))?;

    // Memory.
    let ram_size = opts.mem_mib << 20;
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(RAM_BASE), ram_size as usize)])
        .map_err(|e| format!("guest memory of {} MiB: {e}", opts.mem_mib))?;
    for (slot, region) in mem.iter().enumerate() {
        let host = region
            .get_host_address(vm_memory::MemoryRegionAddress(0))
            .map_err(|e| format!("guest memory: {e}"))?;
        let r = kvm_userspace_memory_region {
            slot: slot as u32,
            flags: 0,
            guest_phys_addr: region.start_addr().0,
            memory_size: region.len(),
            userspace_addr: host as u64,
        };
        // SAFETY: the region is mapped for as long as `mem` lives, which
        // outlives the VM (run() drops the VM's users before it).
        unsafe { vm.set_user_memory_region(r) }
            .map_err(|e| format!("KVM_SET_USER_MEMORY_REGION: {e}"))?;
    }

    // Kernel, initrd, device tree.
    let mut kfile = File::open(&opts.kernel)
        .map_err(|e| format!("cannot open the kernel {}: {e}", opts.kernel))?;
    let mut hdr = [0u8; 64];
    std::io::Read::read_exact(&mut kfile, &mut hdr)
        .map_err(|e| format!("{}: too short for an arm64 Image: {e}", opts.kernel))?;
    if &hdr[56..60] != b"ARM\x64" {
        return Err(format!(
            "{}: not an arm64 Image (no ARM\\x64 magic)",
            opts.kernel
        ));
    }
    let image_size = u64::from_le_bytes(hdr[16..24].try_into().unwrap());
    let initrd = read_file(&opts.initrd, "initrd")?;
    let lay = boot_layout(ram_size, image_size, initrd.len() as u64)?;
    let loaded = PE::load(&mem, Some(GuestAddress(lay.kernel_base)), &mut kfile, None)
        .map_err(|e| format!("loading {}: {e}", opts.kernel))?;
    mem.write_slice(&initrd, GuestAddress(lay.initrd_start))
        .map_err(|e| format!("writing the initrd: {e}"))?;
    let mut cmdline =
        "console=ttyS0 earlycon rdinit=/init quiet loglevel=4 no_console_suspend kunit.enable=0 panic=-1".to_string();
    cmdline.push_str(&format!(" alarm={}", opts.alarm));
    if opts.deny_first {
        cmdline.push_str(" deny_first=1");
    }
    if !opts.cmdline_extra.is_empty() {
        cmdline.push(' ');
        cmdline.push_str(&opts.cmdline_extra);
    }
    let blob = fdt::build(&FdtConfig {
        vcpus: opts.vcpus,
        ram_size,
        cmdline: cmdline.clone(),
        initrd: Some((lay.initrd_start, lay.initrd_end)),
    })
    .map_err(|e| format!("device tree: {e}"))?;
    mem.write_slice(&blob, GuestAddress(lay.fdt_addr))
        .map_err(|e| format!("writing the device tree: {e}"))?;
    vlog!(
        "VMM",
        "RAM {} MiB at {RAM_BASE:#x}; Image at {:#x} ({} KiB, {} KiB with BSS); initrd at {:#x} ({} KiB); DTB at {:#x} ({} bytes)",
        opts.mem_mib,
        loaded.kernel_load.0,
        (loaded.kernel_end - loaded.kernel_load.0) >> 10,
        image_size >> 10,
        lay.initrd_start,
        initrd.len() >> 10,
        lay.fdt_addr,
        blob.len()
    );
    vlog!("VMM", "kernel command line: {cmdline}");

    // vCPUs: PSCI 0.2+, all but vCPU 0 powered off (Linux brings them up
    // with PSCI CPU_ON, which KVM handles).
    let mut kvi = kvm_vcpu_init::default();
    vm.get_preferred_target(&mut kvi)
        .map_err(|e| format!("KVM_ARM_PREFERRED_TARGET: {e}"))?;
    kvi.features[0] |= 1 << KVM_ARM_VCPU_PSCI_0_2;
    let mut vcpus = Vec::new();
    for i in 0..opts.vcpus {
        let vcpu = vm
            .create_vcpu(i as u64)
            .map_err(|e| format!("KVM_CREATE_VCPU {i}: {e}"))?;
        let mut k = kvi;
        if i > 0 {
            k.features[0] |= 1 << KVM_ARM_VCPU_POWER_OFF;
        }
        vcpu.vcpu_init(&k)
            .map_err(|e| format!("KVM_ARM_VCPU_INIT {i}: {e}"))?;
        vcpus.push(vcpu);
    }
    set_reg(&vcpus[0], pc_reg(), loaded.kernel_load.0)?;
    set_reg(&vcpus[0], xreg(0), lay.fdt_addr)?;
    for n in 1..4 {
        set_reg(&vcpus[0], xreg(n), 0)?;
    }

    // The in-kernel GICv3.
    let mut cd = kvm_create_device {
        type_: kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_V3,
        fd: 0,
        flags: 0,
    };
    let gic = vm
        .create_device(&mut cd)
        .map_err(|e| format!("KVM_CREATE_DEVICE(VGIC_V3): {e}"))?;
    let dist = GIC_DIST_BASE;
    let redist = GIC_REDIST_BASE;
    let nr_irqs: u32 = GIC_NR_IRQS;
    let attrs = [
        (
            KVM_DEV_ARM_VGIC_GRP_ADDR,
            u64::from(KVM_VGIC_V3_ADDR_TYPE_DIST),
            &dist as *const u64 as u64,
            "distributor address",
        ),
        (
            KVM_DEV_ARM_VGIC_GRP_ADDR,
            u64::from(KVM_VGIC_V3_ADDR_TYPE_REDIST),
            &redist as *const u64 as u64,
            "redistributor address",
        ),
        (
            KVM_DEV_ARM_VGIC_GRP_NR_IRQS,
            0,
            &nr_irqs as *const u32 as u64,
            "number of IRQs",
        ),
        (
            KVM_DEV_ARM_VGIC_GRP_CTRL,
            u64::from(KVM_DEV_ARM_VGIC_CTRL_INIT),
            0,
            "CTRL_INIT",
        ),
    ];
    for (group, attr, addr, what) in attrs {
        gic.set_device_attr(&kvm_device_attr {
            flags: 0,
            group,
            attr,
            addr,
        })
        .map_err(|e| format!("vGICv3 {what}: {e}"))?;
    }
    vlog!(
        "VMM",
        "vGICv3: distributor {dist:#x}, redistributors {redist:#x}, {nr_irqs} IRQs, initialized; {} vCPUs (PSCI 0.2, vCPU 1.. powered off); KVM_CAP_ARM_SYSTEM_SUSPEND enabled",
        opts.vcpus
    );
    // The device fd may go: the vGIC lives with the VM.
    drop(gic);

    // The UART's interrupt through irqfd (GSI n is SPI n).
    let evt = EventFd::new(EFD_NONBLOCK).map_err(|e| format!("eventfd: {e}"))?;
    vm.register_irqfd(&evt, UART_SPI)
        .map_err(|e| format!("KVM_IRQFD for the UART: {e}"))?;

    let obs = Arc::new(Mutex::new(Obs::default()));
    let o2 = obs.clone();
    let out: GuestOut = LineOut::new(Box::new(move |l: &str| guest_line(&o2, l)));
    let uart = Serial::new(IrqFd(evt), out);

    let sh = Arc::new(Shared {
        vm,
        opts: opts.clone(),
        uart: Mutex::new(uart),
        rtc: Mutex::new(RtcSide {
            dev: RtcDevice::new(),
            level: false,
        }),
        rtc_cv: Condvar::new(),
        obs,
        stop: AtomicBool::new(false),
        park: Mutex::new(Park {
            requested: false,
            reports: vec![None; opts.vcpus],
        }),
        park_cv: Condvar::new(),
        tids: Mutex::new(vec![None; opts.vcpus]),
        exited: Mutex::new(vec![false; opts.vcpus]),
        mmio_complaints: Mutex::new(0),
    });
    Ok((sh, vcpus, mem))
}

/// Runs the VM; the process exit code.
pub fn run(opts: Opts) -> i32 {
    let start = Instant::now();
    if let Err(e) = register_signal_handler(kick_signal(), on_kick) {
        vlog!("FAIL", "sigaction: {e}");
        return 1;
    }
    let (sh, vcpus, _mem) = match setup(&opts) {
        Ok(x) => x,
        Err(e) => {
            vlog!("FAIL", "{e}");
            return 1;
        }
    };
    vlog!(
        "VMM",
        "start: deadline {} s, wakeup bound {} s after the alarm{}",
        opts.deadline.as_secs(),
        opts.wake_timeout.as_secs(),
        if opts.no_rtc_irq {
            "; --no-rtc-irq: the RTC's SPI will never be raised"
        } else {
            ""
        }
    );
    let mut handles = Vec::new();
    let s = sh.clone();
    let rtc_handle = std::thread::Builder::new()
        .name("rtc".into())
        .spawn(move || s.rtc_thread());
    for (i, vcpu) in vcpus.into_iter().enumerate() {
        let s = sh.clone();
        match std::thread::Builder::new()
            .name(format!("vcpu{i}"))
            .spawn(move || s.vcpu_thread(i, vcpu))
        {
            Ok(h) => handles.push(h),
            Err(e) => {
                sh.fail(format!("spawning vCPU{i}'s thread: {e}"));
                sh.stop_all();
            }
        }
    }

    // The watchdog.
    let mut stuck = false;
    let mut last_kick = None;
    while !sh.stopping() {
        std::thread::sleep(Duration::from_millis(50));
        if start.elapsed() > opts.deadline {
            sh.fail(format!(
                "no shutdown within the deadline of {} s",
                opts.deadline.as_secs()
            ));
            stuck = true;
            break;
        }
        let o = lock(&sh.obs);
        // A signal is no wakeup: once 1 s into the suspend (again until
        // the vCPU thread reports its EINTR), before the alarm.
        if let (true, Some(s)) = (o.in_suspended_run, o.suspended_at) {
            if opts.signal
                && o.eintr_while_suspended == 0
                && o.alarm_fired_at.is_none()
                && s.elapsed() > Duration::from_secs(1)
                && last_kick.is_none_or(|k: Instant| k.elapsed() > Duration::from_millis(200))
            {
                let i = o.suspended_vcpu;
                drop(o);
                vlog!(
                    "VMM",
                    "signalling suspended vCPU{i}'s thread (a signal is no wakeup)"
                );
                sh.kick(i);
                last_kick = Some(Instant::now());
                continue;
            }
        }
        // Bounded from the later of the suspend and the alarm.
        if let (true, Some(a), Some(s)) = (o.in_suspended_run, o.alarm_fired_at, o.suspended_at) {
            if a.max(s).elapsed() > opts.wake_timeout {
                drop(o);
                sh.fail(format!(
                    "vCPU still suspended {} s after the RTC alarm fired (and after it was suspended): no KVM_SYSTEM_EVENT_WAKEUP",
                    opts.wake_timeout.as_secs()
                ));
                stuck = true;
                break;
            }
        }
    }
    if stuck {
        sh.report_stuck();
    }
    sh.stop_all();
    // Every thread out of KVM_RUN, bounded.
    let t = Instant::now();
    loop {
        let left: Vec<usize> = (0..opts.vcpus).filter(|&i| !lock(&sh.exited)[i]).collect();
        if left.is_empty() {
            break;
        }
        if t.elapsed() > Duration::from_secs(5) {
            sh.fail(format!(
                "vCPU thread(s) {left:?} still in KVM_RUN 5 s after the stop"
            ));
            return finish(&sh, start);
        }
        for i in left {
            sh.kick(i);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for h in handles {
        let _ = h.join();
    }
    if let Ok(h) = rtc_handle {
        let _ = h.join();
    }
    lock(&sh.uart).writer_mut().flush_partial();
    finish(&sh, start)
}

fn finish(sh: &Shared, start: Instant) -> i32 {
    let o = lock(&sh.obs);
    let mut why = Vec::new();
    if let Some(f) = &o.failure {
        why.push(f.clone());
    }
    if let Some(f) = &o.guest_fail {
        why.push(format!("the guest said: {f}"));
    } else if !o.guest_pass {
        why.push("the guest printed no PASS verdict".into());
    }
    if o.suspended_at.is_none() {
        why.push("no vCPU went through KVM_MP_STATE_SUSPENDED".into());
    }
    if o.wakeup_at.is_none() {
        why.push("no KVM_SYSTEM_EVENT_WAKEUP".into());
    } else if !o.wakeup_after_spi {
        why.push("the WAKEUP did not come after the RTC SPI was raised".into());
    }
    if sh.opts.deny_first && (o.denied != 1 || o.suspend_calls != 2) {
        why.push(format!(
            "--deny-first: expected 2 SYSTEM_SUSPEND calls, the first DENIED; got {} call(s), {} DENIED",
            o.suspend_calls, o.denied
        ));
    }
    if sh.opts.signal && o.suspended_at.is_some() && o.eintr_while_suspended == 0 {
        why.push("the signal sent to the suspended vCPU's thread gave no EINTR".into());
    }
    if o.shutdown_by.is_none() {
        why.push("the guest did not shut down (PSCI SYSTEM_OFF)".into());
    }
    let at = |t: Option<Instant>| t.map(|t| ms(t.duration_since(start)));
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0} ms"));
    vlog!(
        "VMM",
        "timings: first console line {}, init started {}, SUSPENDED at {}, alarm at {}, RTC SPI at {}, WAKEUP at {}, resumed at {}, total {:.0} ms",
        f(o.first_console),
        f(o.init_started),
        f(at(o.suspended_at)),
        f(at(o.alarm_fired_at)),
        f(at(o.spi_raised_at)),
        f(at(o.wakeup_at)),
        f(at(o.resumed_at)),
        ms(start.elapsed())
    );
    if let (Some(s), Some(w)) = (o.suspended_at, o.wakeup_at) {
        vlog!(
            "VMM",
            "suspended -> WAKEUP {:.1} ms; {} SYSTEM_SUSPEND call(s), {} DENIED, {} EINTR while suspended",
            ms(w.duration_since(s)),
            o.suspend_calls,
            o.denied,
            o.eintr_while_suspended
        );
    }
    if why.is_empty() {
        vlog!(
            "PASS",
            "the guest suspended to RAM through KVM_MP_STATE_SUSPENDED, its RTC alarm woke it (KVM_SYSTEM_EVENT_WAKEUP), it resumed, passed its checks and powered off"
        );
        0
    } else {
        for w in &why {
            vlog!("FAIL", "{w}");
        }
        1
    }
}
