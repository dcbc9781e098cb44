// SPDX-License-Identifier: GPL-2.0
//! vcpu_suspend_rs: KVM selftest of arm64 userspace vCPU suspend
//! (`KVM_MP_STATE_SUSPENDED`, `KVM_SYSTEM_EVENT_WAKEUP`) written on rust-vmm's
//! kvm-ioctls, as a Rust VMM would drive it. Prints KTAP like kselftest;
//! exits 0 when every case passed, 1 on a failure, 4 when all were skipped.
//!
//! Usage: vcpu_suspend_rs [CASE...]   (default: every case)
//!        vcpu_suspend_rs --demo      narrate one PSCI SYSTEM_SUSPEND cycle
//!        vcpu_suspend_rs --bench [N] measure both implementations (A/B kernel)
//!        vcpu_suspend_rs --bench-smoke  a few cycles of each, KTAP
//!        vcpu_suspend_rs --exit-bench [N]  time N in-kernel hypercall
//!                                    exits (any kernel), one line
//!        vcpu_suspend_rs --psci-bench [N]  AFFINITY_INFO and the CPU_ON
//!                                    round trip, Rust PSCI vs C (A/B kernel)
//!        vcpu_suspend_rs --psci-bench-smoke  a few rounds of each, KTAP
//!        vcpu_suspend_rs --stress SECONDS [VCPUS]  bounded stress, KTAP
//!        vcpu_suspend_rs --fuzz [SEED [STEPS]]  random operations checked
//!                                    against the model, KTAP
//!        vcpu_suspend_rs --psci-diff [SEED [CALLS]]  random PSCI calls on
//!                                    the C and the Rust PSCI, compared, KTAP

// On a host, only the unit tests use these.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
mod exit_bench;
// Its re-exports too: the sequences' users are aarch64 only.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code, unused_imports))]
mod guest;
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
mod ktap;
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
mod model;
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
mod psci;
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
mod rng;

#[cfg(target_arch = "aarch64")]
mod bench;
#[cfg(target_arch = "aarch64")]
mod cases;
#[cfg(target_arch = "aarch64")]
mod demo;
#[cfg(target_arch = "aarch64")]
mod fuzz;
#[cfg(target_arch = "aarch64")]
mod psci_bench;
#[cfg(target_arch = "aarch64")]
mod psci_call;
#[cfg(target_arch = "aarch64")]
mod psci_cases;
#[cfg(target_arch = "aarch64")]
mod psci_diff;
#[cfg(target_arch = "aarch64")]
mod serror_cases;
#[cfg(target_arch = "aarch64")]
mod stress;
#[cfg(target_arch = "aarch64")]
mod vgic;
#[cfg(target_arch = "aarch64")]
mod vgic_cases;
#[cfg(target_arch = "aarch64")]
mod vm;

use ktap::Ktap;
#[cfg(target_arch = "aarch64")]
use ktap::Outcome;

/// What the command line asks for.
#[cfg(target_arch = "aarch64")]
enum Mode {
    /// `[CASE...]`: these cases, KTAP.
    Cases(Vec<&'static cases::Case>),
    /// `--demo`.
    Demo,
    /// `--bench [CYCLES]`.
    Bench(usize),
    /// `--bench-smoke`.
    BenchSmoke,
    /// `--exit-bench [N]`.
    ExitBench(usize),
    /// `--psci-bench [N]`.
    PsciBench(usize),
    /// `--psci-bench-smoke`.
    PsciBenchSmoke,
    /// `--stress SECONDS [VCPUS]`.
    Stress(u64, usize),
    /// `--fuzz [SEED [STEPS]]`.
    Fuzz(u64, u64),
    /// `--psci-diff [SEED [CALLS]]`.
    PsciDiff(u64, u64),
}

#[cfg(target_arch = "aarch64")]
impl Mode {
    /// Parses the arguments; an error is the usage message.
    fn parse(args: &[String]) -> Result<Mode, String> {
        let arg = |i: usize| args.get(i).map(String::as_str);
        let positive = |i: usize, default: usize| match arg(i).map(str::parse::<usize>) {
            None => Some(default),
            Some(Ok(n)) if n > 0 => Some(n),
            Some(_) => None,
        };
        Ok(match arg(0) {
            Some("--bench-smoke") => Mode::BenchSmoke,
            Some("--psci-bench-smoke") => Mode::PsciBenchSmoke,
            Some("--psci-bench") => Mode::PsciBench(
                positive(1, 200).ok_or("--psci-bench takes a positive number of samples")?,
            ),
            Some("--stress") => {
                let (Some(secs), Some(vcpus)) = (positive(1, 10), positive(2, 8)) else {
                    return Err("--stress takes positive SECONDS and VCPUS".into());
                };
                Mode::Stress(secs as u64, vcpus)
            }
            Some(m @ ("--fuzz" | "--psci-diff")) => {
                let seed = match arg(1).map(str::parse::<u64>) {
                    None => std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(1, |d| d.as_secs()),
                    Some(Ok(n)) => n,
                    Some(Err(_)) => return Err(format!("{m} takes a numeric SEED")),
                };
                let steps = match arg(2).map(str::parse::<u64>) {
                    None => 2000,
                    Some(Ok(n)) if n > 0 => n,
                    Some(_) => return Err(format!("{m} takes a positive number")),
                };
                if m == "--fuzz" {
                    Mode::Fuzz(seed, steps)
                } else {
                    Mode::PsciDiff(seed, steps)
                }
            }
            Some("--bench") => {
                Mode::Bench(positive(1, 1000).ok_or("--bench takes a positive number of cycles")?)
            }
            Some("--exit-bench") => Mode::ExitBench(
                positive(1, 2000).ok_or("--exit-bench takes a positive number of hypercalls")?,
            ),
            Some("--demo") => Mode::Demo,
            _ => {
                let unknown: Vec<&String> = args
                    .iter()
                    .filter(|a| !cases::CASES.iter().any(|(n, _)| n == a))
                    .collect();
                if !unknown.is_empty() {
                    let names: Vec<&str> = cases::CASES.iter().map(|(n, _)| *n).collect();
                    return Err(format!(
                        "no such case: {unknown:?}; cases: {}",
                        names.join(" ")
                    ));
                }
                Mode::Cases(
                    cases::CASES
                        .iter()
                        .filter(|(n, _)| args.is_empty() || args.iter().any(|a| a == n))
                        .collect(),
                )
            }
        })
    }
}

/// Installs the signal handler, or ends the process as a KTAP run does.
#[cfg(target_arch = "aarch64")]
fn signal_handler_or_exit() {
    if let Err(e) = vm::install_signal_handler() {
        println!("# {e}");
        std::process::exit(1);
    }
}

/// The exit code of a mode that is not KTAP: 0, or 1 with `what failed`.
#[cfg(target_arch = "aarch64")]
fn exit_code(what: &str, r: vm::TestResult) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("vcpu_suspend_rs: {what} failed: {e}");
            1
        }
    }
}

/// Runs `selected`, KTAP; returns the exit code.
#[cfg(target_arch = "aarch64")]
fn run_cases(selected: Vec<&cases::Case>) -> i32 {
    print!("{}", Ktap::header(selected.len()));
    let mut k = Ktap::default();
    let kvm_ok = std::path::Path::new("/dev/kvm").exists();
    if kvm_ok {
        signal_handler_or_exit();
    }
    for (name, case) in selected {
        let outcome = if !kvm_ok {
            Outcome::Skip("no /dev/kvm".into())
        } else {
            match case() {
                Ok(()) => Outcome::Pass,
                Err(e) => Outcome::Fail(e),
            }
        };
        print!("{}", k.record(&format!("vcpu_suspend_rs.{name}"), outcome));
    }
    print!("{}", k.totals());
    k.exit_code()
}

#[cfg(target_arch = "aarch64")]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = Mode::parse(&args).unwrap_or_else(|usage| {
        eprintln!("vcpu_suspend_rs: {usage}");
        std::process::exit(2)
    });
    let code = match mode {
        Mode::Cases(selected) => run_cases(selected),
        Mode::Demo => exit_code(
            "demo",
            vm::install_signal_handler().and_then(|()| demo::run_demo()),
        ),
        Mode::Bench(cycles) => exit_code(
            "bench",
            vm::install_signal_handler().and_then(|()| bench::run_bench(cycles)),
        ),
        Mode::ExitBench(n) => exit_code(
            "exit-bench",
            vm::install_signal_handler().and_then(|()| exit_bench::run_exit_bench(n)),
        ),
        Mode::PsciBench(n) => exit_code(
            "psci-bench",
            vm::install_signal_handler().and_then(|()| psci_bench::run_psci_bench(n)),
        ),
        Mode::PsciBenchSmoke => {
            signal_handler_or_exit();
            psci_bench::run_smoke()
        }
        Mode::BenchSmoke => {
            signal_handler_or_exit();
            bench::run_smoke()
        }
        Mode::Stress(secs, vcpus) => {
            signal_handler_or_exit();
            stress::run_stress(secs, vcpus)
        }
        Mode::Fuzz(seed, steps) => {
            signal_handler_or_exit();
            fuzz::run_fuzz(seed, steps)
        }
        Mode::PsciDiff(seed, calls) => {
            signal_handler_or_exit();
            psci_diff::run_psci_diff(seed, calls)
        }
    };
    std::process::exit(code);
}

#[cfg(not(target_arch = "aarch64"))]
fn main() {
    print!("{}", Ktap::header(0));
    println!("# SKIP vcpu_suspend_rs tests arm64 KVM; this is not aarch64");
    std::process::exit(4);
}
