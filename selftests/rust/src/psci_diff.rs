// SPDX-License-Identifier: GPL-2.0
//! `vcpu_suspend_rs --psci-diff SEED CALLS`: a differential fuzzer of KVM's
//! PSCI. A seeded sequence of CALLS SMCCC calls, made by the vCPUs of VMs
//! of 2-4 vCPUs (PSCI 0.1 to 1.3, with and without
//! `KVM_CAP_ARM_SYSTEM_SUSPEND`), runs once on the C implementation and
//! once on the Rust one (`/sys/kernel/debug/kvm/suspend_impl`, a fresh VM
//! each), and the two records are compared call by call: the caller's
//! x0-x3, what `KVM_RUN` gave, and every vCPU's mp_state, PC and x0 (read
//! after each call, which applies a CPU_ON's reset at once: the target's
//! entry point and context id show in the CPU_ON's record).
//!
//! The guest is the call loop (`guest::call_loop_x0_entry()`, x0-x3 set
//! by the host) at `GUEST_BASE`, with a second entry point for CPU_ON
//! that reports x0 and goes to the loop, and a vector table at IPA 0 (VBAR_EL1's reset
//! value) in a read-only slot: a vCPU that CPU_ON started at an entry
//! point that is no code (memory is zero, UDF) or outside memory takes an
//! exception, reports it and goes back to the loop. Each call runs with the
//! caller's IRQ line raised (mostly), so that CPU_SUSPEND returns; a
//! CPU_OFF's (or a CPU_SUSPEND's with nothing pending) sleeping `KVM_RUN`
//! is signalled once seen asleep (`psci_call::run_watched`). SYSTEM_OFF,
//! RESET, RESET2, OFF2 stop every vCPU: once none is runnable the trace
//! goes on in a new VM. Prints one KTAP result.

use std::time::Instant;

use kvm_bindings::{kvm_userspace_memory_region, KVM_MEM_READONLY};

use crate::bench::{select, IMPL_FILE};
use crate::guest::{self, GUEST_BASE};
use crate::ktap::{Ktap, Outcome};
use crate::psci::fid;
use crate::psci_call::{args_of, mp_short, run_watched, set_args, show_args, states};
use crate::psci_cases::PSCI_VERSION_REG;
use crate::rng::Rng;
use crate::vm::{pc_reg, xreg, Exit, TestResult, TestVm, VmOpts};

/// Size of the read-only slot at IPA 0 that holds the vector table.
const LOW_SIZE: u64 = 0x1_0000;
/// The PSCI versions a VM may get: 0.1 (no `KVM_ARM_VCPU_PSCI_0_2`),
/// KVM's default (1.3, `None`), or one set in the firmware register.
const VERSIONS: [Option<u64>; 7] = [
    Some(0x1),
    None,
    Some(0x2),
    Some(0x1_0000),
    Some(0x1_0001),
    Some(0x1_0002),
    Some(0x1_0003),
];

/// A VM of the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct VmConfig {
    vcpus: usize,
    version: Option<u64>,
    system_suspend: bool,
    others_off: bool,
}

impl VmConfig {
    fn random(rng: &mut Rng) -> Self {
        VmConfig {
            vcpus: 2 + rng.below(3) as usize,
            version: VERSIONS[rng.below(VERSIONS.len() as u64) as usize],
            system_suspend: rng.below(2) == 0,
            others_off: rng.below(2) == 0,
        }
    }
}

/// The read-only slot's memory: a mapping of `LOW_SIZE` bytes.
struct LowMem(*mut libc::c_void);

impl Drop for LowMem {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `DiffVm::new()`, of LOW_SIZE bytes;
        // the VM that used it was dropped before (field order of DiffVm).
        unsafe { libc::munmap(self.0, LOW_SIZE as usize) };
    }
}

/// A test VM with the vector table's slot. `vm` is dropped before `low`.
struct DiffVm {
    vm: TestVm,
    _low: LowMem,
}

impl DiffVm {
    fn new(c: VmConfig) -> TestResult<Self> {
        let vm = TestVm::new(
            &guest::call_loop_x0_entry(),
            VmOpts {
                vcpus: c.vcpus,
                system_suspend: c.system_suspend,
                others_off: c.others_off,
                psci_0_1: c.version == Some(1),
                ..Default::default()
            },
        )?;
        // SAFETY: a fresh anonymous private mapping; no Rust object aliases it.
        let low = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                LOW_SIZE as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if low == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()));
        }
        let this = DiffVm {
            vm,
            _low: LowMem(low),
        };
        let bytes = guest::to_bytes(&guest::vector_table(0, GUEST_BASE));
        // SAFETY: `low` is LOW_SIZE writable bytes; the table is 2 KiB.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), low.cast::<u8>(), bytes.len()) };
        let region = kvm_userspace_memory_region {
            slot: 1,
            flags: KVM_MEM_READONLY,
            guest_phys_addr: 0,
            memory_size: LOW_SIZE,
            userspace_addr: low as u64,
        };
        // SAFETY: the mapping outlives the VM (`LowMem` drops after it).
        unsafe { this.vm.vm.set_user_memory_region(region) }
            .map_err(|e| format!("KVM_SET_USER_MEMORY_REGION (vectors): {e}"))?;
        if let Some(v) = c.version.filter(|&v| v != 1) {
            this.vm.set_reg(0, PSCI_VERSION_REG, v)?;
        }
        Ok(this)
    }
}

/// One call of the trace: which runnable vCPU makes it (an index into the
/// runnable ones, modulo their number), x0-x3, whether its IRQ line is up.
#[derive(Debug, Clone, Copy)]
struct Call {
    pick: u64,
    args: [u64; 4],
    irq: bool,
}

/// The ids psci.c answers other than CPU_ON, CPU_OFF and AFFINITY_INFO.
const LISTED: [u32; 14] = [
    fid::PSCI_VERSION,
    fid::CPU_SUSPEND,
    fid::CPU_SUSPEND64,
    fid::MIGRATE_INFO_TYPE,
    fid::SYSTEM_OFF,
    fid::SYSTEM_RESET,
    fid::PSCI_FEATURES,
    fid::SYSTEM_SUSPEND,
    fid::SYSTEM_SUSPEND64,
    fid::SYSTEM_RESET2,
    fid::SYSTEM_RESET2_64,
    fid::SYSTEM_OFF2,
    fid::SYSTEM_OFF2_64,
    fid::SMCCC_VERSION,
];

/// One of `ids`.
fn one_of(rng: &mut Rng, ids: &[u32]) -> u32 {
    ids[rng.below(ids.len() as u64) as usize]
}

/// An id of PSCI's two ranges, 0x00-0x1f.
fn psci_range(rng: &mut Rng) -> u32 {
    one_of(rng, &[0x8400_0000, 0xc400_0000]) | rng.below(0x20) as u32
}

/// A function id: mostly PSCI's and KVM's, sometimes anything near them.
fn random_fid(rng: &mut Rng) -> u64 {
    let f = match rng.below(20) {
        0..=3 => one_of(rng, &[fid::CPU_ON, fid::CPU_ON64, fid::KVM_0_1_CPU_ON]),
        4..=5 => one_of(rng, &[fid::CPU_OFF, fid::KVM_0_1_CPU_OFF]),
        6..=7 => one_of(rng, &[fid::AFFINITY_INFO, fid::AFFINITY_INFO64]),
        8..=11 => one_of(rng, &LISTED),
        12..=14 => psci_range(rng),
        15 => fid::KVM_0_1_BASE + rng.below(5) as u32,
        16 => one_of(rng, &[fid::SMCCC_VERSION, fid::SMCCC_ARCH_FEATURES]),
        17 => one_of(rng, &[0x8400_0000, 0xc400_0000]) | rng.below(0x1_0000) as u32,
        18 => fid::PSCI_FEATURES,
        _ => rng.next() as u32,
    };
    let high = if rng.below(8) == 0 {
        rng.next() << 32
    } else {
        0
    };
    u64::from(f) | high
}

/// A target MPIDR: a vCPU's, one no vCPU has, or one with bits outside
/// `MPIDR_HWID_BITMASK`, sometimes with an upper half SMC32 ignores.
fn random_target(rng: &mut Rng, vcpus: usize) -> u64 {
    let t = match rng.below(20) {
        0..=10 => rng.below(vcpus as u64),
        11..=13 => [4, 0xf, 0x100, 0x1_0000, 0x1_0000_0000][rng.below(5) as usize],
        14..=17 => rng.below(vcpus as u64) | [1 << 31, 1 << 24, 1 << 40][rng.below(3) as usize],
        _ => rng.next(),
    };
    if rng.below(6) == 0 {
        t | rng.next() << 32
    } else {
        t
    }
}

/// x2: an affinity level, an entry point (the loop's start, its HVC, other
/// places that are code or not, or beyond memory), or anything.
fn random_x2(rng: &mut Rng) -> u64 {
    let v = match rng.below(10) {
        0..=3 => rng.below(6),
        4..=5 => GUEST_BASE,
        6 => GUEST_BASE + 4 * rng.below(8),
        7 => [0x200, 0x2000, GUEST_BASE + 0x1000, 0x4000_0000, 0x8001][rng.below(5) as usize],
        _ => rng.next(),
    };
    if rng.below(6) == 0 {
        v | rng.next() << 32
    } else {
        v
    }
}

impl Call {
    fn random(rng: &mut Rng, vcpus: usize) -> Self {
        let pick = rng.next();
        let x0 = random_fid(rng);
        let x1 = match x0 as u32 {
            // The id PSCI_FEATURES is asked about: mostly one of PSCI's.
            fid::PSCI_FEATURES | fid::SMCCC_ARCH_FEATURES if rng.below(4) != 0 => {
                u64::from(if rng.below(2) == 0 {
                    one_of(rng, &LISTED)
                } else {
                    psci_range(rng)
                })
            }
            _ if rng.below(5) == 0 => random_fid(rng),
            _ => random_target(rng, vcpus),
        };
        let x2 = match x0 as u32 {
            fid::AFFINITY_INFO | fid::AFFINITY_INFO64 if rng.below(4) != 0 => rng.below(6),
            // Mostly the entry that reports x0, then goes to the loop.
            fid::CPU_ON | fid::CPU_ON64 | fid::KVM_0_1_CPU_ON if rng.below(3) != 0 => {
                GUEST_BASE + guest::X0_ENTRY
            }
            _ => random_x2(rng),
        };
        // The context id: an id (as a first call would take) or anything.
        let x3 = if rng.below(2) == 0 {
            random_fid(rng)
        } else {
            rng.next()
        };
        Call {
            pick,
            args: [x0, x1, x2, x3],
            irq: rng.below(4) != 0,
        }
    }
}

/// What one call gave.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    caller: usize,
    exit: Exit,
    /// `system_event.data[0]` of a system event.
    data0: Option<u64>,
    /// Signalled by the watchdog: `Some(true)` once seen asleep,
    /// `Some(false)` after `RETURN_TIMEOUT`.
    signalled: Option<bool>,
    regs: [u64; 4],
    /// PC and x0 of every vCPU: KVM applies a CPU_ON's reset (entry
    /// point, context id) at the target's next `KVM_GET_ONE_REG`.
    cpus: Vec<(u64, u64)>,
    mp: Vec<u32>,
}

impl std::fmt::Display for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let data0 = self.data0.map(|d| format!(", data[0] {d:#x}"));
        let signalled = match self.signalled {
            Some(true) => " (signalled, seen asleep)",
            Some(false) => " (signalled after RETURN_TIMEOUT)",
            None => "",
        };
        let cpus: Vec<String> = self
            .cpus
            .iter()
            .zip(&self.mp)
            .map(|(&(pc, x0), &m)| format!("{} pc={pc:#x} x0={x0:#x}", mp_short(m)))
            .collect();
        write!(
            f,
            "vCPU {}: {}{}{signalled}; after: {}; vCPUs [{}]",
            self.caller,
            self.exit,
            data0.unwrap_or_default(),
            show_args(&self.regs),
            cpus.join(", ")
        )
    }
}

/// `system_event.data[0]` of vCPU `i` after `exit`, if a system event.
fn event_data0(vm: &mut TestVm, i: usize, exit: &Exit) -> Option<u64> {
    let Exit::SystemEvent { .. } = exit else {
        return None;
    };
    let run = vm.vcpus[i].get_kvm_run();
    // SAFETY: the exit says `system_event` is the live member; `data` is
    // an integer view of its bytes.
    Some(unsafe { run.__bindgen_anon_1.system_event.__bindgen_anon_1.data[0] })
}

/// Makes `call` from a runnable vCPU of `vm`, or returns `None` if none is.
fn make_call(vm: &mut TestVm, call: &Call) -> TestResult<Option<Record>> {
    let runnable: Vec<usize> = states(vm)?
        .iter()
        .enumerate()
        .filter(|(_, &s)| s == kvm_bindings::KVM_MP_STATE_RUNNABLE)
        .map(|(i, _)| i)
        .collect();
    if runnable.is_empty() {
        return Ok(None);
    }
    let i = runnable[(call.pick % runnable.len() as u64) as usize];
    set_args(vm, i, call.args)?;
    if call.irq {
        vm.irq_line(i, true)?;
    }
    let w = run_watched(&mut vm.vcpus[i])?;
    if call.irq {
        vm.irq_line(i, false)?;
    }
    Ok(Some(Record {
        caller: i,
        data0: event_data0(vm, i, &w.exit),
        exit: w.exit,
        signalled: w.signalled.then_some(w.asleep),
        regs: args_of(vm, i)?,
        cpus: (0..vm.vcpus.len())
            .map(|j| Ok((vm.get_reg(j, pc_reg())?, vm.get_reg(j, xreg(0))?)))
            .collect::<TestResult<_>>()?,
        mp: states(vm)?,
    }))
}

/// One step of the trace, as printed: the VM it ran in and the call.
#[derive(Debug, Clone)]
struct Step {
    vm: VmConfig,
    call: Call,
    record: Record,
}

/// Runs the trace of `seed` on the implementation selected now.
fn trace(seed: u64, calls: u64) -> TestResult<(Vec<Step>, u64)> {
    let mut rng = Rng::new(seed);
    let mut config = VmConfig::random(&mut rng);
    let mut vm = DiffVm::new(config)?;
    let mut vms = 1;
    let mut steps = Vec::with_capacity(calls as usize);
    while (steps.len() as u64) < calls {
        if rng.below(64) == 0 {
            config = VmConfig::random(&mut rng);
            vm = DiffVm::new(config)?;
            vms += 1;
        }
        let call = Call::random(&mut rng, config.vcpus);
        let record = match make_call(&mut vm.vm, &call)? {
            Some(r) => r,
            None => {
                // Every vCPU is off: the trace goes on in a new VM.
                config = VmConfig::random(&mut rng);
                vm = DiffVm::new(config)?;
                vms += 1;
                make_call(&mut vm.vm, &call)?.ok_or("a new VM has no runnable vCPU")?
            }
        };
        steps.push(Step {
            vm: config,
            call,
            record,
        });
    }
    Ok((steps, vms))
}

/// What the trace exercised, from the C one's records.
fn summary(steps: &[Step]) -> String {
    let count = |p: &dyn Fn(&Record) -> bool| steps.iter().filter(|s| p(&s.record)).count();
    let report = |r: &Record, v: i64| {
        r.exit
            == Exit::Mmio {
                addr: guest::CALL_REPORT,
                data: v as u64,
            }
    };
    format!(
        "x0 reported: {} SUCCESS/ON, {} OFF, {} NOT_SUPPORTED, {} INVALID_PARAMS, {} ALREADY_ON; {} system events, {} x0-entry reports, {} vector reports, {} signalled",
        count(&|r| report(r, 0)),
        count(&|r| report(r, 1)),
        count(&|r| report(r, -1)),
        count(&|r| report(r, -2)),
        count(&|r| report(r, -4)),
        count(&|r| matches!(r.exit, Exit::SystemEvent { .. })),
        count(&|r| matches!(r.exit, Exit::Mmio { addr, .. } if addr == guest::X0_REPORT)),
        count(&|r| matches!(r.exit, Exit::Mmio { addr, .. } if addr >= guest::VECTOR_REPORT)),
        count(&|r| r.signalled.is_some()),
    )
}

/// The first call whose records differ, described; `timing` if a
/// watchdog's signal ended either run (which the timing may decide).
struct Divergence {
    what: String,
    timing: bool,
}

/// Both traces, compared: the report line, or the first divergence.
fn diff_once(seed: u64, calls: u64) -> TestResult<Result<String, Divergence>> {
    let start = Instant::now();
    select("c")?;
    let (c, vms) = trace(seed, calls)?;
    let c_time = start.elapsed();
    select("rust")?;
    let (rust, _) = trace(seed, calls)?;
    let compared = c
        .iter()
        .zip(&rust)
        .take_while(|(a, b)| a.record == b.record)
        .count();
    if let (Some(a), Some(b)) = (c.get(compared), rust.get(compared)) {
        let before: Vec<String> = c[compared.saturating_sub(4)..compared]
            .iter()
            .map(|s| format!("  {}: {}", show_args(&s.call.args), s.record))
            .collect();
        return Ok(Err(Divergence {
            what: format!(
                "call {compared} diverges (replay: vcpu_suspend_rs --psci-diff {seed} {calls}); {compared} calls agreed\nVM {:?}, call {} irq {}\nC:    {}\nRust: {}\nthe calls before (C):\n{}",
                a.vm,
                show_args(&a.call.args),
                a.call.irq,
                a.record,
                b.record,
                before.join("\n")
            ),
            timing: a.record.signalled.is_some() || b.record.signalled.is_some(),
        }));
    }
    Ok(Ok(format!(
        "{compared} calls compared, 0 divergences, {vms} VMs, C {:.1} s, both {:.1} s; {}",
        c_time.as_secs_f64(),
        start.elapsed().as_secs_f64(),
        summary(&c)
    )))
}

/// [`diff_once`]; a divergence at a signalled run is printed and the
/// whole comparison made once more, which decides.
fn diff(seed: u64, calls: u64) -> TestResult<String> {
    match diff_once(seed, calls)? {
        Ok(line) => Ok(line),
        Err(d) if d.timing => {
            for line in d.what.lines() {
                println!("# {line}");
            }
            println!("# a watchdog's signal ended one of these runs: comparing again");
            diff_once(seed, calls)?
                .map(|line| format!("{line} (the second time)"))
                .map_err(|d| d.what)
        }
        Err(d) => Err(d.what),
    }
}

/// Runs the differential fuzzer and prints its KTAP; returns the exit code.
pub fn run_psci_diff(seed: u64, calls: u64) -> i32 {
    print!("{}", Ktap::header(1));
    println!("# seed {seed}, {calls} calls (replay: vcpu_suspend_rs --psci-diff {seed} {calls})");
    let outcome = if !std::path::Path::new("/dev/kvm").exists() {
        Outcome::Skip("no /dev/kvm".into())
    } else if !std::path::Path::new(IMPL_FILE).exists() {
        Outcome::Skip(format!("no {IMPL_FILE}: not the A/B kernel"))
    } else {
        let before = std::fs::read_to_string(IMPL_FILE).map(|s| s.trim().to_string());
        let r = diff(seed, calls);
        let restored = before.map_err(|e| e.to_string()).and_then(|b| select(&b));
        match (r, restored) {
            (Ok(line), Ok(())) => {
                println!("# {line}");
                Outcome::Pass
            }
            (Err(e), _) | (Ok(_), Err(e)) => Outcome::Fail(e),
        }
    };
    let mut ktap = Ktap::default();
    print!("{}", ktap.record("psci_diff_c_rust", outcome));
    ktap.exit_code()
}
