// SPDX-License-Identifier: GPL-2.0
//! `vcpu_suspend_rs --psci-bench [N]`: KVM's PSCI, the Rust implementation
//! against the C one in one boot, switched with the A/B switch of the
//! project's kernel (`/sys/kernel/debug/kvm/suspend_impl`, which selects
//! vCPU suspend and PSCI together), in rounds that alternate which one goes
//! first, to cancel drift. Two measures, on a VM of two vCPUs:
//!
//! - `affinity_info`: one AFFINITY_INFO (SMC64, level 0) of the powered-off
//!   vCPU 1, timed by vCPU 0's guest with its virtual count as
//!   `--exit-bench` times SMCCC_VERSION (`guest::hvc_timer_args()`): the
//!   kernel's PSCI call path alone, with no exit to userspace in it.
//! - `cpu_on`: the CPU_ON round trip (`guest::cpu_on_timer()`): vCPU 0's
//!   guest turns vCPU 1 on and counts until vCPU 1's guest code has
//!   stored the round number in a flag of guest memory, first thing; then
//!   vCPU 1 turns itself off (CPU_OFF) and vCPU 0 waits with AFFINITY_INFO
//!   until it is OFF before the next round. Both vCPU threads are in
//!   `KVM_RUN` on the host: the interval holds KVM's CPU_ON, the wakeup of
//!   vCPU 1's thread, its reset and its entry into the guest.
//!
//! Prints one line per measure (see [`line`]); `tools/report/bench-report.py`
//! cannot take them (it reads `--bench`'s JSON, with `--bench`'s metrics):
//!
//! ```text
//! # psci-bench: NAME rust_median_ns=.. c_median_ns=.. ratio=.. n=.. rust_p10_ns=.. c_p10_ns=..
//! ```
//!
//! ratio is the Rust median over the C median. A benchmark reports; it
//! asserts nothing about speed. `--psci-bench-smoke` runs a few rounds of
//! each and fails only when a call did not do what PSCI says, as KTAP.

use std::time::Instant;

use crate::bench::{select, IMPLS};
use crate::exit_bench::{sample_timed_calls, ticks_to_ns, Summary};
use crate::guest::{self, CPU_OFF_ERR_REPORT, CPU_ON_ERR_REPORT, MMIO_REPORT};
use crate::ktap::{Ktap, Outcome};
use crate::psci::fid;
use crate::vm::{cntfrq, ensure, expect_eintr, Exit, RunThread, TestResult, TestVm, VmOpts};

/// vCPU 1's MPIDR (Aff0 1), the target of the calls.
const TARGET: u64 = 1;
/// AFFINITY_INFO's answer for a vCPU that is OFF.
const AFFINITY_OFF: u64 = 1;
/// Rounds of each implementation per measure (fewer if N is smaller).
pub const ROUNDS: usize = 10;
/// CPU_ON round trips taken and dropped before each VM's measured ones.
const CPU_ON_WARMUP: usize = 3;

/// One measure: its name, and what takes `n` samples (ns) of it on the
/// selected implementation, with the counter at `freq` Hz.
struct Measure {
    name: &'static str,
    sample: fn(n: usize, freq: u64, out: &mut Vec<f64>) -> TestResult,
}

const MEASURES: [Measure; 2] = [
    Measure {
        name: "affinity_info",
        sample: sample_affinity_info,
    },
    Measure {
        name: "cpu_on",
        sample: sample_cpu_on,
    },
];

/// A VM of two vCPUs running `code`, vCPU 1 powered off.
fn two_vcpus(code: &[u32]) -> TestResult<TestVm> {
    TestVm::new(
        code,
        VmOpts {
            vcpus: 2,
            others_off: true,
            ..Default::default()
        },
    )
}

/// `n` AFFINITY_INFO calls of vCPU 0 about vCPU 1, which is OFF.
fn sample_affinity_info(n: usize, freq: u64, out: &mut Vec<f64>) -> TestResult {
    let code = guest::hvc_timer_args(fid::AFFINITY_INFO64, &[TARGET, 0]);
    let mut vm = two_vcpus(&code)?;
    let timed = sample_timed_calls(&mut vm.vcpus[0], n, freq, |x0| {
        ensure(x0 == AFFINITY_OFF, || {
            format!("AFFINITY_INFO of the powered-off vCPU 1 returned {x0:#x}, expected OFF ({AFFINITY_OFF})")
        })
    })?;
    out.extend(timed.hvc_ns);
    Ok(())
}

/// What vCPU 1's thread says when a CPU_ON round went wrong.
fn target_state(t1: &RunThread) -> String {
    if !t1.done() {
        return "vCPU 1's thread is still in KVM_RUN".into();
    }
    match t1.finish().map(|ran| ran.exit) {
        Ok(Exit::Mmio { addr, data }) if addr == CPU_OFF_ERR_REPORT => {
            format!("vCPU 1's CPU_OFF returned {data:#x}")
        }
        Ok(exit) => format!("vCPU 1's KVM_RUN returned: {exit}"),
        Err(e) => format!("vCPU 1's thread: {e}"),
    }
}

/// The ticks of one CPU_ON round trip, from vCPU 0's report; each `KVM_RUN`
/// of vCPU 0 is bounded by `RETURN_TIMEOUT` (vCPU 0 polls for ever if
/// vCPU 1 never runs).
fn cpu_on_round(i: usize, t0: &RunThread, t1: &RunThread) -> TestResult<u64> {
    t0.start()?;
    let ran = t0.finish().map_err(|e| {
        format!(
            "CPU_ON round {i}: vCPU 0 did not see vCPU 1's flag: {e}; {}",
            target_state(t1)
        )
    })?;
    let ticks = match ran.exit {
        Exit::Mmio { addr, data } if addr == MMIO_REPORT => data,
        Exit::Mmio { addr, data } if addr == CPU_ON_ERR_REPORT => {
            return Err(format!("CPU_ON round {i}: CPU_ON of vCPU 1 returned {data:#x}, expected SUCCESS (0)"))
        }
        other => {
            return Err(format!(
                "CPU_ON round {i}: expected vCPU 0's report of its ticks at {MMIO_REPORT:#x}, got {other:?}"
            ))
        }
    };
    if t1.done() {
        return Err(format!(
            "CPU_ON round {i}: vCPU 1 left KVM_RUN: {}",
            target_state(t1)
        ));
    }
    Ok(ticks)
}

/// `n` CPU_ON round trips of vCPU 0 turning vCPU 1 on, both vCPUs in
/// `KVM_RUN` in threads of their own.
fn sample_cpu_on(n: usize, freq: u64, out: &mut Vec<f64>) -> TestResult {
    let mut vm = two_vcpus(&guest::cpu_on_timer(TARGET))?;
    let (first, rest) = vm.vcpus.split_at_mut(1);
    std::thread::scope(|s| -> TestResult {
        // vCPU 1 starts powered off: its KVM_RUN sleeps until the CPU_ON.
        let t1 = RunThread::spawn(s, &mut rest[0])?;
        let t0 = RunThread::idle(s, &mut first[0])?;
        for i in 0..CPU_ON_WARMUP + n {
            let ticks = cpu_on_round(i, &t0, &t1)?;
            if i >= CPU_ON_WARMUP {
                out.push(ticks_to_ns(ticks, freq));
            }
        }
        // Off, or on its way there: a signal ends its KVM_RUN either way.
        t1.interrupt()?;
        let ran = t1.join().map_err(|e| format!("vCPU 1 at the end: {e}"))?;
        expect_eintr(&ran.exit).map_err(|e| format!("vCPU 1 at the end: {e}"))
    })
}

/// Samples of `m` on both implementations: `[rust, c]` as in `IMPLS`,
/// `n` or a little more each, in `rounds` rounds that alternate which goes
/// first. Ends with the Rust implementation selected, whatever happened.
fn measure(m: &Measure, n: usize, rounds: usize, freq: u64) -> TestResult<[Vec<f64>; 2]> {
    let rounds = rounds.clamp(1, n.max(1));
    let per_round = n.div_ceil(rounds);
    let mut all = [Vec::new(), Vec::new()];
    let result = (|| -> TestResult {
        for round in 0..rounds {
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                select(IMPLS[i])?;
                (m.sample)(per_round, freq, &mut all[i])
                    .map_err(|e| format!("{} on {}: {e}", m.name, IMPLS[i]))?;
            }
        }
        Ok(())
    })();
    let restored = select("rust");
    result.and(restored).map(|()| all)
}

/// The result line of measure `name`: the medians, their ratio (Rust over
/// C), the sample count of each and the 10th percentiles, in ns.
pub fn line(name: &str, rust: &Summary, c: &Summary) -> String {
    format!(
        "# psci-bench: {name} rust_median_ns={:.0} c_median_ns={:.0} ratio={:.3} n={} rust_p10_ns={:.0} c_p10_ns={:.0}",
        rust.median,
        c.median,
        rust.median / c.median,
        rust.n.min(c.n),
        rust.p10,
        c.p10
    )
}

fn counter_freq() -> TestResult<u64> {
    let freq = cntfrq();
    ensure(freq > 0, || "CNTFRQ_EL0 reads 0".to_string())?;
    Ok(freq)
}

/// `--psci-bench N`: `N` samples of each measure and implementation;
/// prints a line per measure.
pub fn run_psci_bench(n: usize) -> TestResult {
    let freq = counter_freq()?;
    let t = Instant::now();
    for m in &MEASURES {
        let [rust, c] = measure(m, n, ROUNDS, freq)?;
        let (Some(rust), Some(c)) = (Summary::of(&rust), Summary::of(&c)) else {
            return Err(format!("{}: no samples", m.name));
        };
        println!("{}", line(m.name, &rust, &c));
    }
    println!(
        "# psci-bench: measured in {:.1} s, {ROUNDS} rounds alternating rust and c, cntfrq_hz={freq}",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `--psci-bench-smoke`: a few samples of each measure on both
/// implementations; KTAP, a result per measure, failed only when a call
/// did not give what PSCI says (or a wait timed out), never on speed.
pub fn run_smoke() -> i32 {
    const N: usize = 8;
    print!("{}", Ktap::header(MEASURES.len()));
    let mut ktap = Ktap::default();
    for m in &MEASURES {
        let outcome = match counter_freq().and_then(|f| measure(m, N, 2, f)) {
            Ok([rust, c]) => {
                println!(
                    "# {}: {} rust and {} c samples",
                    m.name,
                    rust.len(),
                    c.len()
                );
                Outcome::Pass
            }
            Err(e) => Outcome::Fail(e),
        };
        print!(
            "{}",
            ktap.record(&format!("psci_bench_smoke_{}", m.name), outcome)
        );
    }
    print!("{}", ktap.totals());
    ktap.exit_code()
}
