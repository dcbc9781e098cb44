// SPDX-License-Identifier: GPL-2.0
//! Test VMs on rust-vmm's kvm-ioctls: one memory slot of guest code, either
//! no in-kernel irqchip (so `KVM_ARM_IRQ_TYPE_CPU` lines are wakeup events)
//! or an in-kernel vGICv3 (`crate::vgic`), and helpers that turn KVM's
//! answers into values the cases compare.
//!
//! Where kvm-ioctls falls short it is said at the place; everything else
//! goes through its types and ioctls.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::os::fd::FromRawFd;
use std::os::unix::fs::FileExt;
use std::sync::mpsc;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use kvm_bindings::{
    kvm_enable_cap, kvm_mp_state, kvm_userspace_memory_region, kvm_vcpu_init, KVM_ARM_IRQ_CPU_IRQ,
    KVM_ARM_IRQ_NUM_MASK, KVM_ARM_IRQ_NUM_SHIFT, KVM_ARM_IRQ_TYPE_CPU, KVM_ARM_IRQ_TYPE_MASK,
    KVM_ARM_IRQ_TYPE_SHIFT, KVM_ARM_IRQ_VCPU2_MASK, KVM_ARM_IRQ_VCPU2_SHIFT, KVM_ARM_IRQ_VCPU_MASK,
    KVM_ARM_IRQ_VCPU_SHIFT, KVM_ARM_VCPU_POWER_OFF, KVM_ARM_VCPU_PSCI_0_2,
    KVM_CAP_ARM_SYSTEM_SUSPEND, KVM_EXIT_INTR, KVM_EXIT_SYSTEM_EVENT, KVM_REG_ARM64,
    KVM_REG_ARM64_SYSREG, KVM_REG_ARM_CORE, KVM_REG_SIZE_U64,
};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use vmm_sys_util::ioctl::ioctl;
use vmm_sys_util::ioctl_io_nr;
use vmm_sys_util::signal::{register_signal_handler, SIGRTMIN};

use crate::guest::{self, GUEST_BASE, GUEST_SIZE};
use crate::vgic::Vgic;

/// A test failure: what was expected and what came.
pub type TestResult<T = ()> = Result<T, String>;

/// Fails with `msg` unless `cond`.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> TestResult {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

/// Names an `mp_state` value.
pub fn mp_name(state: u32) -> &'static str {
    match state {
        kvm_bindings::KVM_MP_STATE_RUNNABLE => "RUNNABLE",
        kvm_bindings::KVM_MP_STATE_STOPPED => "STOPPED",
        kvm_bindings::KVM_MP_STATE_SUSPENDED => "SUSPENDED",
        _ => "(not an arm64 state)",
    }
}

/// What one `KVM_RUN` gave, owned, so that it outlives the borrow of the vCPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// `KVM_EXIT_MMIO` write of `data` (little endian) to `addr`.
    Mmio {
        /// Guest physical address.
        addr: u64,
        /// The value written.
        data: u64,
    },
    /// `KVM_EXIT_SYSTEM_EVENT`, with the raw `ndata` and whether all of
    /// `data[]` is zero, read from `kvm_run` itself.
    SystemEvent {
        /// `system_event.type`.
        kind: u32,
        /// `system_event.ndata`.
        ndata: u32,
        /// Whether every `system_event.data[i]` is 0.
        data_zero: bool,
    },
    /// `KVM_RUN` failed with `EINTR`; `exit_reason` is what `kvm_run` says.
    Eintr {
        /// `kvm_run.exit_reason` after the failure.
        exit_reason: u32,
    },
    /// Anything else.
    Other(String),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Mmio { addr, data } => {
                write!(f, "KVM_EXIT_MMIO, write of {data:#x} to {addr:#x}")
            }
            Exit::SystemEvent {
                kind,
                ndata,
                data_zero,
            } => {
                let name = match *kind {
                    kvm_bindings::KVM_SYSTEM_EVENT_WAKEUP => "KVM_SYSTEM_EVENT_WAKEUP",
                    kvm_bindings::KVM_SYSTEM_EVENT_SUSPEND => "KVM_SYSTEM_EVENT_SUSPEND",
                    _ => "?",
                };
                let data = if *data_zero { "zero" } else { "not zero" };
                write!(
                    f,
                    "KVM_EXIT_SYSTEM_EVENT, type {kind} ({name}), ndata {ndata}, data {data}"
                )
            }
            Exit::Eintr { exit_reason } => write!(f, "-1/EINTR, exit_reason {exit_reason}"),
            Exit::Other(s) => f.write_str(s),
        }
    }
}

impl Exit {
    /// Whether this is the `KVM_SYSTEM_EVENT_WAKEUP` exit with a zeroed payload.
    pub fn is_clean_wakeup(&self) -> bool {
        matches!(
            self,
            Exit::SystemEvent {
                kind: kvm_bindings::KVM_SYSTEM_EVENT_WAKEUP,
                ndata: 0,
                data_zero: true
            }
        )
    }
}

/// Fills `system_event` with values KVM must overwrite. `ndata` stays within
/// `data[]`: kvm-ioctls slices `data[..ndata]` without checking, so a larger
/// one would make `VcpuFd::run()` panic on a kernel that did not zero it.
pub fn scribble_system_event(vcpu: &mut VcpuFd) {
    let run = vcpu.get_kvm_run();
    // SAFETY: `system_event` is a member of plain integers in the `kvm_run`
    // union; writing it does not invalidate any other member.
    let ev = unsafe { &mut run.__bindgen_anon_1.system_event };
    ev.type_ = 0xa5a5_a5a5;
    ev.ndata = 16;
    ev.__bindgen_anon_1.data = [0xa5a5_a5a5_a5a5_a5a5; 16];
}

/// Runs the vCPU once and describes the exit.
pub fn run(vcpu: &mut VcpuFd) -> Exit {
    let exit = match vcpu.run() {
        Ok(VcpuExit::MmioWrite(addr, data)) => {
            let mut bytes = [0u8; 8];
            let n = data.len().min(8);
            bytes[..n].copy_from_slice(&data[..n]);
            Exit::Mmio {
                addr,
                data: u64::from_le_bytes(bytes),
            }
        }
        Ok(VcpuExit::SystemEvent(..)) => Exit::Other(String::new()),
        Ok(other) => Exit::Other(format!("{other:?}")),
        Err(e) if e.errno() == libc::EINTR => Exit::Eintr { exit_reason: 0 },
        Err(e) => Exit::Other(format!("KVM_RUN failed: {e}")),
    };
    let run = vcpu.get_kvm_run();
    match exit {
        Exit::Other(s) if s.is_empty() && run.exit_reason == KVM_EXIT_SYSTEM_EVENT => {
            // SAFETY: exit_reason says `system_event` is the live member.
            let ev = unsafe { &run.__bindgen_anon_1.system_event };
            // SAFETY: `data` is an integer view of the same bytes.
            let data = unsafe { ev.__bindgen_anon_1.data };
            Exit::SystemEvent {
                kind: ev.type_,
                ndata: ev.ndata,
                data_zero: data.iter().all(|&d| d == 0),
            }
        }
        Exit::Eintr { .. } => Exit::Eintr {
            exit_reason: run.exit_reason,
        },
        other => other,
    }
}

/// Options for a test VM.
#[derive(Debug, Clone, Copy, Default)]
pub struct VmOpts {
    /// Number of vCPUs (at least 1).
    pub vcpus: usize,
    /// Enable `KVM_CAP_ARM_SYSTEM_SUSPEND` (PSCI SYSTEM_SUSPEND exits).
    pub system_suspend: bool,
    /// Create vCPUs 1.. powered off (`KVM_ARM_VCPU_POWER_OFF`).
    pub others_off: bool,
    /// Give the VM an in-kernel vGICv3 (`crate::vgic::Vgic::new`).
    pub vgic: bool,
    /// Leave `KVM_ARM_VCPU_PSCI_0_2` out: the vCPUs get KVM's PSCI 0.1.
    pub psci_0_1: bool,
}

/// A VM with guest code at `GUEST_BASE` and its vCPUs.
pub struct TestVm {
    /// The VM.
    pub vm: VmFd,
    /// Its vCPUs, all starting at `GUEST_BASE`.
    pub vcpus: Vec<VcpuFd>,
    /// Its vGICv3, if `VmOpts::vgic`.
    pub gic: Option<Vgic>,
    /// What vCPU 0 was given to `KVM_ARM_VCPU_INIT`.
    pub init: kvm_vcpu_init,
    mem: *mut libc::c_void,
    _kvm: Kvm,
}

impl Drop for TestVm {
    fn drop(&mut self) {
        // SAFETY: `mem` is the mapping made in `new()`, of `GUEST_SIZE` bytes;
        // the VM that uses it is dropped with `self` right after.
        unsafe { libc::munmap(self.mem, GUEST_SIZE as usize) };
    }
}

/// Core register id for `KVM_{GET,SET}_ONE_REG` at `offset` in `struct kvm_regs`.
pub fn core_reg(offset: usize) -> u64 {
    KVM_REG_ARM64 | KVM_REG_SIZE_U64 | u64::from(KVM_REG_ARM_CORE) | (offset / 4) as u64
}

/// Id of `regs.regs[n]` (x0-x30).
pub fn xreg(n: usize) -> u64 {
    core_reg(std::mem::offset_of!(kvm_bindings::kvm_regs, regs.regs) + 8 * n)
}
/// Id of `regs.pc`.
pub fn pc_reg() -> u64 {
    core_reg(std::mem::offset_of!(kvm_bindings::kvm_regs, regs.pc))
}
/// Id of `regs.pstate`.
pub fn pstate_reg() -> u64 {
    core_reg(std::mem::offset_of!(kvm_bindings::kvm_regs, regs.pstate))
}
/// Id of `regs.sp`.
pub fn sp_reg() -> u64 {
    core_reg(std::mem::offset_of!(kvm_bindings::kvm_regs, regs.sp))
}

/// The (op0, op1, CRn, CRm, op2) fields of a system register as KVM encodes
/// them, in `KVM_{GET,SET}_ONE_REG` ids and in the vGIC's CPU-interface
/// register attributes alike.
pub fn sysreg_fields([op0, op1, crn, crm, op2]: [u64; 5]) -> u64 {
    use kvm_bindings::{
        KVM_REG_ARM64_SYSREG_CRM_SHIFT, KVM_REG_ARM64_SYSREG_CRN_SHIFT,
        KVM_REG_ARM64_SYSREG_OP0_SHIFT, KVM_REG_ARM64_SYSREG_OP1_SHIFT,
        KVM_REG_ARM64_SYSREG_OP2_SHIFT,
    };
    op0 << KVM_REG_ARM64_SYSREG_OP0_SHIFT
        | op1 << KVM_REG_ARM64_SYSREG_OP1_SHIFT
        | crn << KVM_REG_ARM64_SYSREG_CRN_SHIFT
        | crm << KVM_REG_ARM64_SYSREG_CRM_SHIFT
        | op2 << KVM_REG_ARM64_SYSREG_OP2_SHIFT
}

/// Id of a 64-bit system register for `KVM_{GET,SET}_ONE_REG`.
pub fn sys_reg(reg: [u64; 5]) -> u64 {
    KVM_REG_ARM64 | KVM_REG_SIZE_U64 | u64::from(KVM_REG_ARM64_SYSREG) | sysreg_fields(reg)
}

/// `KVM_REG_ARM_TIMER_CVAL`: the guest's `CNTV_CVAL_EL0`. The uapi encodes
/// it as (3, 3, 14, 0, 2), swapped with `KVM_REG_ARM_TIMER_CNT`, for ABI
/// compatibility; bindgen cannot evaluate the `ARM64_SYS_REG()` macro.
pub const TIMER_CVAL: [u64; 5] = [3, 3, 14, 0, 2];
/// `KVM_REG_ARM_TIMER_CNT`: the guest's virtual count, `CNTVCT_EL0`.
pub const TIMER_CNT: [u64; 5] = [3, 3, 14, 3, 2];

impl TestVm {
    /// A VM with one vCPU running `code`.
    pub fn one(code: &[u32]) -> TestResult<Self> {
        Self::new(
            code,
            VmOpts {
                vcpus: 1,
                ..Default::default()
            },
        )
    }

    /// Creates the VM, its memory with `code`, and `opts.vcpus` vCPUs.
    pub fn new(code: &[u32], opts: VmOpts) -> TestResult<Self> {
        let kvm = Kvm::new().map_err(|e| format!("open /dev/kvm: {e}"))?;
        let vm = kvm
            .create_vm_with_ipa_size(GUEST_IPA_BITS)
            .map_err(|e| format!("KVM_CREATE_VM({GUEST_IPA_BITS}-bit IPA): {e}"))?;
        if opts.system_suspend {
            let cap = kvm_enable_cap {
                cap: KVM_CAP_ARM_SYSTEM_SUSPEND,
                ..Default::default()
            };
            vm.enable_cap(&cap)
                .map_err(|e| format!("KVM_ENABLE_CAP(ARM_SYSTEM_SUSPEND): {e}"))?;
        }
        // SAFETY: a fresh anonymous private mapping; no Rust object aliases it.
        let mem = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                GUEST_SIZE as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if mem == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        let mut this = TestVm {
            vm,
            vcpus: Vec::new(),
            gic: None,
            init: kvm_vcpu_init::default(),
            mem,
            _kvm: kvm,
        };
        let bytes = guest::to_bytes(code);
        if bytes.len() as u64 > GUEST_SIZE {
            return Err("guest code larger than its memory".into());
        }
        // SAFETY: `mem` is GUEST_SIZE writable bytes, `bytes` fits (checked).
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), mem.cast::<u8>(), bytes.len()) };
        let region = kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: GUEST_BASE,
            memory_size: GUEST_SIZE,
            userspace_addr: mem as u64,
        };
        // SAFETY: the mapping outlives the VM: `TestVm` unmaps it in `drop()`,
        // after which the VM fd (a field) is closed.
        unsafe { this.vm.set_user_memory_region(region) }
            .map_err(|e| format!("KVM_SET_USER_MEMORY_REGION: {e}"))?;

        let mut init = kvm_vcpu_init::default();
        this.vm
            .get_preferred_target(&mut init)
            .map_err(|e| format!("KVM_ARM_PREFERRED_TARGET: {e}"))?;
        if !opts.psci_0_1 {
            init.features[0] |= 1 << KVM_ARM_VCPU_PSCI_0_2;
        }
        for id in 0..opts.vcpus.max(1) {
            let vcpu = this
                .vm
                .create_vcpu(id as u64)
                .map_err(|e| format!("KVM_CREATE_VCPU({id}): {e}"))?;
            let mut vinit = init;
            if opts.others_off && id > 0 {
                vinit.features[0] |= 1 << KVM_ARM_VCPU_POWER_OFF;
            }
            vcpu.vcpu_init(&vinit)
                .map_err(|e| format!("KVM_ARM_VCPU_INIT({id}): {e}"))?;
            vcpu.set_one_reg(pc_reg(), &GUEST_BASE.to_le_bytes())
                .map_err(|e| format!("set PC: {e}"))?;
            this.vcpus.push(vcpu);
        }
        this.init = init;
        if opts.vgic {
            this.gic = Some(Vgic::new(&this.vm, this.vcpus.len())?);
        }
        Ok(this)
    }

    /// The VM's vGIC; fails for a VM made without one.
    pub fn gic(&self) -> TestResult<&Vgic> {
        self.gic
            .as_ref()
            .ok_or_else(|| "the test VM has no vGIC".to_string())
    }

    /// `KVM_SET_MP_STATE`, with the errno on failure.
    pub fn set_mp_state(&self, i: usize, state: u32) -> Result<(), i32> {
        self.vcpus[i]
            .set_mp_state(kvm_mp_state { mp_state: state })
            .map_err(|e| e.errno())
    }

    /// `KVM_SET_MP_STATE` that must succeed.
    pub fn set_state(&self, i: usize, state: u32) -> TestResult {
        self.set_mp_state(i, state).map_err(|e| {
            format!(
                "KVM_SET_MP_STATE({}) on vCPU {i}: errno {e}",
                mp_name(state)
            )
        })
    }

    /// Fails unless vCPU `i` reports `expected` from `KVM_GET_MP_STATE`.
    pub fn expect_state(&self, i: usize, expected: u32) -> TestResult {
        let got = self.vcpus[i]
            .get_mp_state()
            .map_err(|e| format!("KVM_GET_MP_STATE: {e}"))?
            .mp_state;
        ensure(got == expected, || {
            format!(
                "vCPU {i} KVM_GET_MP_STATE: expected {} ({expected}), got {} ({got})",
                mp_name(expected),
                mp_name(got)
            )
        })
    }

    /// Raises or lowers vCPU `i`'s IRQ line (`KVM_ARM_IRQ_TYPE_CPU`).
    pub fn irq_line(&self, i: usize, level: bool) -> TestResult {
        irq_line_raw(&self.vm, i, level)
    }

    /// Reads a 64-bit register of vCPU `i`.
    pub fn get_reg(&self, i: usize, id: u64) -> TestResult<u64> {
        let mut b = [0u8; 8];
        self.vcpus[i]
            .get_one_reg(id, &mut b)
            .map_err(|e| format!("KVM_GET_ONE_REG({id:#x}): {e}"))?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes a 64-bit register of vCPU `i`.
    pub fn set_reg(&self, i: usize, id: u64, value: u64) -> TestResult {
        self.vcpus[i]
            .set_one_reg(id, &value.to_le_bytes())
            .map(|_| ())
            .map_err(|e| format!("KVM_SET_ONE_REG({id:#x}): {e}"))
    }

    /// x0-x30, sp, pc and pstate of vCPU `i`.
    pub fn core_regs(&self, i: usize) -> TestResult<Vec<u64>> {
        let mut ids: Vec<u64> = (0..31).map(xreg).collect();
        ids.extend([sp_reg(), pc_reg(), pstate_reg()]);
        ids.into_iter().map(|id| self.get_reg(i, id)).collect()
    }
}

/// The guest physical address space of a test VM, in bits: 40, the C
/// selftests' default (`VM_MODE_P40V48_4K`). `Kvm::create_vm()` asks for
/// the host's limit instead, 52 bits with LPA2, and 7.3 tears a VM's stage 2
/// down in 1 GiB steps over the whole space (`stage2_destroy_range()`: 2^22
/// walks at 52 bits), which under QEMU TCG made every VM's teardown cost a
/// large part of a second, for no coverage of the suspend path.
pub const GUEST_IPA_BITS: u32 = 40;

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

ioctl_io_nr!(KVM_GET_STATS_FD, kvm_bindings::KVMIO, 0xce);
vmm_sys_util::ioctl_iow_nr!(
    KVM_GET_DEVICE_ATTR,
    kvm_bindings::KVMIO,
    0xe2,
    kvm_bindings::kvm_device_attr
);

/// `KVM_GET_DEVICE_ATTR` of a 32-bit vCPU attribute (kvm-ioctls 0.25 has it
/// for device fds only).
pub fn vcpu_attr_u32(vcpu: &VcpuFd, group: u32, attr: u64) -> TestResult<u32> {
    let mut value = 0u32;
    let a = kvm_bindings::kvm_device_attr {
        group,
        attr,
        addr: &mut value as *mut u32 as u64,
        flags: 0,
    };
    // SAFETY: `a` points KVM at `value`, a u32 that lives across the call,
    // which is what a 32-bit attribute writes.
    let rc = unsafe { vmm_sys_util::ioctl::ioctl_with_ref(vcpu, KVM_GET_DEVICE_ATTR(), &a) };
    if rc < 0 {
        return Err(format!(
            "KVM_GET_DEVICE_ATTR({group}, {attr}): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(value)
}

/// A vCPU's binary statistics (`KVM_GET_STATS_FD`; kvm-ioctls 0.25 has no
/// call for it), readable from any thread while the vCPU runs.
pub struct VcpuStats {
    file: File,
    /// (name, offset of the value in the data block).
    descs: Vec<(String, u64)>,
    data_offset: u64,
}

impl VcpuStats {
    /// Opens the statistics of `vcpu` and reads their descriptors.
    pub fn new(vcpu: &VcpuFd) -> TestResult<Self> {
        // SAFETY: KVM_GET_STATS_FD takes no argument and returns a new fd.
        let fd = unsafe { ioctl(vcpu, KVM_GET_STATS_FD()) };
        if fd < 0 {
            return Err(format!(
                "KVM_GET_STATS_FD: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: `fd` is a new file descriptor that nothing else owns.
        let file = unsafe { File::from_raw_fd(fd) };
        let read = |off: u64, len: usize| -> TestResult<Vec<u8>> {
            let mut b = vec![0u8; len];
            file.read_exact_at(&mut b, off)
                .map_err(|e| format!("read of vCPU statistics: {e}"))?;
            Ok(b)
        };
        let u32_at = |b: &[u8], i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        // struct kvm_stats_header, then descriptors of
        // size_of::<kvm_stats_desc>() + name_size bytes each.
        let h = read(0, std::mem::size_of::<kvm_bindings::kvm_stats_header>())?;
        let (name_size, num_desc) = (u32_at(&h, 4) as usize, u32_at(&h, 8) as usize);
        let (desc_offset, data_offset) = (u64::from(u32_at(&h, 16)), u64::from(u32_at(&h, 20)));
        let desc_size = std::mem::size_of::<kvm_bindings::kvm_stats_desc>() + name_size;
        let d = read(desc_offset, desc_size * num_desc)?;
        let descs = d
            .chunks_exact(desc_size)
            .map(|c| {
                let name = &c[std::mem::size_of::<kvm_bindings::kvm_stats_desc>()..];
                let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                (
                    String::from_utf8_lossy(&name[..end]).into_owned(),
                    u64::from(u32_at(c, 8)),
                )
            })
            .collect();
        Ok(VcpuStats {
            file,
            descs,
            data_offset,
        })
    }

    /// The (first) value of statistic `name`.
    pub fn get(&self, name: &str) -> TestResult<u64> {
        let off = self
            .descs
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, off)| off)
            .ok_or_else(|| format!("no vCPU statistic {name:?}"))?;
        let mut b = [0u8; 8];
        self.file
            .read_exact_at(&mut b, self.data_offset + off)
            .map_err(|e| format!("read of vCPU statistic {name}: {e}"))?;
        Ok(u64::from_ne_bytes(b))
    }

    /// Whether the vCPU waits in `kvm_vcpu_block()` (statistic "blocking").
    pub fn blocking(&self) -> TestResult<bool> {
        Ok(self.get("blocking")? != 0)
    }
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

/// The `irq` field of arm64's `KVM_IRQ_LINE` (`struct kvm_irq_level`): line
/// `irq_num` of type `irq_type` (`KVM_ARM_IRQ_TYPE_*`), for vCPU `vcpu_id`
/// where the type has one. It is what `kvm_vm_ioctl_irq_line()` in
/// arch/arm64/kvm/arm.c decodes (and QEMU's `kvm_arm_set_irq()` encodes):
/// each value masked to its field, `vcpu_id` split over the vcpu_index and
/// vcpu2_index fields.
pub const fn kvm_arm_irq(irq_type: u32, vcpu_id: usize, irq_num: u32) -> u32 {
    let vcpu = vcpu_id as u32;
    let vcpu2 = vcpu / (KVM_ARM_IRQ_VCPU_MASK + 1);
    (vcpu2 & KVM_ARM_IRQ_VCPU2_MASK) << KVM_ARM_IRQ_VCPU2_SHIFT
        | (irq_type & KVM_ARM_IRQ_TYPE_MASK) << KVM_ARM_IRQ_TYPE_SHIFT
        | (vcpu & KVM_ARM_IRQ_VCPU_MASK) << KVM_ARM_IRQ_VCPU_SHIFT
        | (irq_num & KVM_ARM_IRQ_NUM_MASK) << KVM_ARM_IRQ_NUM_SHIFT
}

/// Raises or lowers vCPU `i`'s IRQ line (`KVM_ARM_IRQ_TYPE_CPU`) on `vm`.
pub fn irq_line_raw(vm: &VmFd, i: usize, level: bool) -> TestResult {
    let irq = kvm_arm_irq(KVM_ARM_IRQ_TYPE_CPU, i, KVM_ARM_IRQ_CPU_IRQ);
    vm.set_irq_line(irq, level)
        .map_err(|e| format!("KVM_IRQ_LINE: {e}"))
}

/// Fails unless `exit` is the signal's `EINTR` with `KVM_EXIT_INTR`.
pub fn expect_eintr(exit: &Exit) -> TestResult {
    ensure(
        *exit
            == Exit::Eintr {
                exit_reason: KVM_EXIT_INTR,
            },
        || format!("KVM_RUN after a signal: expected EINTR with KVM_EXIT_INTR, got {exit:?}"),
    )
}

/// Fails unless `exit` is a clean `KVM_SYSTEM_EVENT_WAKEUP`.
pub fn expect_wakeup(exit: &Exit) -> TestResult {
    ensure(exit.is_clean_wakeup(), || {
        format!(
            "expected KVM_EXIT_SYSTEM_EVENT/KVM_SYSTEM_EVENT_WAKEUP ({}) with ndata 0 and zero data, got {exit:?}",
            kvm_bindings::KVM_SYSTEM_EVENT_WAKEUP
        )
    })
}

/// Fails unless `exit` is an MMIO write of `value` to `addr`.
pub fn expect_mmio(exit: &Exit, addr: u64, value: u64) -> TestResult {
    ensure(*exit == Exit::Mmio { addr, data: value }, || {
        format!("expected guest MMIO write of {value:#x} to {addr:#x}, got {exit:?}")
    })
}
