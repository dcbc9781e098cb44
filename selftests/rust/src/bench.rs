// SPDX-License-Identifier: GPL-2.0
//! `vcpu_suspend_rs --bench`: measures the suspend path of the kernel's
//! current implementation and of the other one, interleaved in rounds, using
//! the A/B switch of the project's kernel (`/sys/kernel/debug/kvm/suspend_impl`).
//!
//! Prints one JSON object (between `BENCH-JSON-BEGIN`/`END` lines) with every
//! sample in microseconds; `tools/report/bench-report.py` turns it into statistics,
//! ratios and a plot. With `--smoke` it only checks that every cycle of both
//! implementations gave the expected result, as KTAP.

use std::time::{Duration, Instant};

use kvm_bindings::{KVM_MP_STATE_RUNNABLE, KVM_MP_STATE_SUSPENDED};

use crate::guest::{self, MMIO_REPORT};
use crate::ktap::{Ktap, Outcome};
use crate::vm::{
    expect_eintr, expect_mmio, expect_wakeup, irq_line_raw, run, RunThread, TestResult, TestVm,
};

/// The A/B switch of the project's kernel.
pub const IMPL_FILE: &str = "/sys/kernel/debug/kvm/suspend_impl";
/// KVM's halt-polling window, in ns.
pub const HALT_POLL_FILE: &str = "/sys/module/kvm/parameters/halt_poll_ns";
/// The implementations, in the order of the first round.
pub const IMPLS: [&str; 2] = ["rust", "c"];

/// What to measure, and how much.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Samples per metric and implementation (latencies).
    pub cycles: usize,
    /// Rounds to spread them over, alternating which implementation goes first.
    pub rounds: usize,
    /// Samples of CPU use per implementation and halt-polling setting.
    pub cpu_samples: usize,
    /// How long a vCPU waits in KVM_RUN for a CPU-use sample.
    pub cpu_wait: Duration,
}

fn write_file(path: &str, value: &str) -> TestResult {
    std::fs::write(path, value).map_err(|e| format!("write {value:?} to {path}: {e}"))
}

fn read_file(path: &str) -> TestResult<String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("read {path}: {e}"))
}

/// Selects an implementation and checks the kernel took it.
pub fn select(imp: &str) -> TestResult {
    write_file(IMPL_FILE, imp)?;
    let now = read_file(IMPL_FILE)?;
    if now == imp {
        Ok(())
    } else {
        Err(format!("{IMPL_FILE}: wrote {imp}, reads {now}"))
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// How long the vCPU thread gets to block in KVM_RUN before it is poked:
/// beyond KVM's default halt-polling window (0.5 ms on arm64).
const SETTLE: Duration = Duration::from_millis(2);

/// Samples of one implementation.
#[derive(Debug, Default)]
pub struct Samples {
    /// IRQ raised by another thread -> KVM_RUN returned WAKEUP (us).
    pub wakeup: Vec<f64>,
    /// Signal sent -> KVM_RUN returned EINTR (us).
    pub signal: Vec<f64>,
    /// SET_MP_STATE(RUNNABLE) -> the guest's next MMIO exit (us).
    pub resume: Vec<f64>,
    /// CPU time of a vCPU thread suspended for `cpu_wait`, default halt polling (us).
    pub cpu_poll: Vec<f64>,
    /// The same with halt polling off (halt_poll_ns = 0) (us).
    pub cpu_nopoll: Vec<f64>,
}

/// Wakeup and signal latencies: `n` of each.
fn measure_wakeup_signal(n: usize, out: &mut Samples) -> TestResult {
    let mut vm = TestVm::one(&guest::stages())?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    let TestVm {
        vm: vmfd, vcpus, ..
    } = &mut vm;
    std::thread::scope(|s| -> TestResult {
        let t = RunThread::idle(s, &mut vcpus[0])?;
        let (mut wakeups, mut signals) = (0, 0);
        // Samples where the thread entered KVM_RUN only after the poke are
        // not latencies; they are dropped and taken again.
        while wakeups < n || signals < n {
            if wakeups < n {
                t.start()?;
                std::thread::sleep(SETTLE);
                let t0 = Instant::now();
                irq_line_raw(vmfd, 0, true)?;
                let ran = t.finish()?;
                expect_wakeup(&ran.exit)?;
                irq_line_raw(vmfd, 0, false)?;
                if ran.entered < t0 {
                    out.wakeup
                        .push(us(ran.returned.saturating_duration_since(t0)));
                    wakeups += 1;
                }
            }
            if signals < n {
                t.start()?;
                std::thread::sleep(SETTLE);
                let t0 = Instant::now();
                // A second signal means the first one came before KVM_RUN.
                let sent = t.interrupt()?;
                let ran = t.finish()?;
                expect_eintr(&ran.exit)?;
                if ran.entered < t0 && sent == 1 {
                    out.signal
                        .push(us(ran.returned.saturating_duration_since(t0)));
                    signals += 1;
                }
            }
        }
        Ok(())
    })
}

/// Resume latency: `n` samples.
fn measure_resume(n: usize, out: &mut Samples) -> TestResult {
    let mut vm = TestVm::one(&guest::mmio_loop())?;
    for _ in 0..n {
        vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
        vm.irq_line(0, true)?;
        expect_wakeup(&run(&mut vm.vcpus[0]))?;
        vm.irq_line(0, false)?;
        let t0 = Instant::now();
        vm.set_state(0, KVM_MP_STATE_RUNNABLE)?;
        let exit = run(&mut vm.vcpus[0]);
        let t1 = Instant::now();
        expect_mmio(&exit, MMIO_REPORT, 7)?;
        out.resume.push(us(t1 - t0));
    }
    Ok(())
}

/// CPU time of a suspended vCPU thread over `wait`, `n` samples.
fn measure_cpu(n: usize, wait: Duration, out: &mut Vec<f64>) -> TestResult {
    let mut vm = TestVm::one(&guest::stages())?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    std::thread::scope(|s| -> TestResult {
        let t = RunThread::idle(s, &mut vm.vcpus[0])?;
        for _ in 0..n {
            t.start()?;
            std::thread::sleep(wait);
            t.interrupt()?;
            let ran = t.finish()?;
            expect_eintr(&ran.exit)?;
            out.push(us(ran.cpu));
        }
        Ok(())
    })
}

/// Runs every metric for both implementations, interleaved.
pub fn measure(cfg: Config) -> TestResult<Vec<(&'static str, Samples)>> {
    let mut all: Vec<(&'static str, Samples)> =
        IMPLS.iter().map(|i| (*i, Samples::default())).collect();
    let per_round = cfg.cycles.div_ceil(cfg.rounds.max(1));
    let halt_poll = read_file(HALT_POLL_FILE).ok();
    let result = (|| -> TestResult {
        for round in 0..cfg.rounds.max(1) {
            let order: Vec<usize> = if round % 2 == 0 {
                vec![0, 1]
            } else {
                vec![1, 0]
            };
            for i in order {
                let (imp, samples) = &mut all[i];
                select(imp)?;
                measure_wakeup_signal(per_round, samples)?;
                measure_resume(per_round, samples)?;
                let cpu_n = cfg.cpu_samples.div_ceil(cfg.rounds.max(1));
                if let Some(default) = &halt_poll {
                    write_file(HALT_POLL_FILE, default)?;
                }
                measure_cpu(cpu_n, cfg.cpu_wait, &mut samples.cpu_poll)?;
                if halt_poll.is_some() {
                    write_file(HALT_POLL_FILE, "0")?;
                    measure_cpu(cpu_n, cfg.cpu_wait, &mut samples.cpu_nopoll)?;
                }
            }
        }
        Ok(())
    })();
    if let Some(default) = &halt_poll {
        let _ = write_file(HALT_POLL_FILE, default);
    }
    let _ = select("rust");
    result.map(|()| all)
}

fn json_list(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:.3}")).collect();
    format!("[{}]", items.join(","))
}

/// The samples as one JSON object.
pub fn to_json(cfg: Config, halt_poll_ns: &str, all: &[(&str, Samples)]) -> String {
    let impls: Vec<String> = all
        .iter()
        .map(|(imp, s)| {
            format!(
                "\"{imp}\":{{\"wakeup_us\":{},\"signal_us\":{},\"resume_us\":{},\"cpu_us_halt_poll\":{},\"cpu_us_no_halt_poll\":{}}}",
                json_list(&s.wakeup),
                json_list(&s.signal),
                json_list(&s.resume),
                json_list(&s.cpu_poll),
                json_list(&s.cpu_nopoll)
            )
        })
        .collect();
    format!(
        "{{\"cycles\":{},\"rounds\":{},\"cpu_wait_ms\":{},\"halt_poll_ns\":\"{}\",\"impls\":{{{}}}}}",
        cfg.cycles,
        cfg.rounds,
        cfg.cpu_wait.as_millis(),
        halt_poll_ns,
        impls.join(",")
    )
}

/// `--bench [CYCLES]`: measures and prints the JSON.
pub fn run_bench(cycles: usize) -> TestResult {
    let cfg = Config {
        cycles,
        rounds: 10,
        cpu_samples: 20,
        cpu_wait: Duration::from_millis(100),
    };
    let halt_poll = read_file(HALT_POLL_FILE).unwrap_or_else(|_| "unknown".into());
    let t = Instant::now();
    let all = measure(cfg)?;
    println!("# measured in {:.1} s", t.elapsed().as_secs_f64());
    println!("BENCH-JSON-BEGIN");
    println!("{}", to_json(cfg, &halt_poll, &all));
    println!("BENCH-JSON-END");
    Ok(())
}

/// `--bench-smoke`: a few cycles of each implementation; every cycle must
/// give the documented result. KTAP, one result per implementation.
pub fn run_smoke() -> i32 {
    let cfg = Config {
        cycles: 20,
        rounds: 2,
        cpu_samples: 2,
        cpu_wait: Duration::from_millis(20),
    };
    print!("{}", Ktap::header(1));
    let outcome = match measure(cfg) {
        Ok(all) => {
            let counts: Vec<String> = all
                .iter()
                .map(|(i, s)| {
                    format!(
                        "{i}: {} wakeups, {} signals, {} resumes",
                        s.wakeup.len(),
                        s.signal.len(),
                        s.resume.len()
                    )
                })
                .collect();
            println!("# {}", counts.join("; "));
            Outcome::Pass
        }
        Err(e) => Outcome::Fail(e.to_string()),
    };
    let mut ktap = Ktap::default();
    print!(
        "{}",
        ktap.record("bench_smoke_both_implementations", outcome)
    );
    ktap.exit_code()
}
