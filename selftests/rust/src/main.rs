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
//!        vcpu_suspend_rs --stress SECONDS [VCPUS]  bounded stress, KTAP
//!        vcpu_suspend_rs --fuzz [SEED [STEPS]]  random operations checked
//!                                    against the model, KTAP

// On a host, only the unit tests use these.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
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
mod stress;
#[cfg(target_arch = "aarch64")]
mod vgic;
#[cfg(target_arch = "aarch64")]
mod vm;

use ktap::Ktap;
#[cfg(target_arch = "aarch64")]
use ktap::Outcome;

#[cfg(target_arch = "aarch64")]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--bench-smoke") {
        if let Err(e) = vm::install_signal_handler() {
            println!("# {e}");
            std::process::exit(1);
        }
        std::process::exit(bench::run_smoke());
    }
    if args.first().map(String::as_str) == Some("--stress") {
        let num = |i: usize, default: usize| match args.get(i).map(|a| a.parse::<usize>()) {
            None => Some(default),
            Some(Ok(n)) if n > 0 => Some(n),
            Some(_) => None,
        };
        let (Some(secs), Some(vcpus)) = (num(1, 10), num(2, 8)) else {
            eprintln!("vcpu_suspend_rs: --stress takes positive SECONDS and VCPUS");
            std::process::exit(2);
        };
        if let Err(e) = vm::install_signal_handler() {
            println!("# {e}");
            std::process::exit(1);
        }
        std::process::exit(stress::run_stress(secs as u64, vcpus));
    }
    if args.first().map(String::as_str) == Some("--fuzz") {
        let arg = |i: usize| args.get(i).map(|a| a.parse::<u64>());
        let seed = match arg(1) {
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs()),
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                eprintln!("vcpu_suspend_rs: --fuzz takes a numeric SEED");
                std::process::exit(2);
            }
        };
        let steps = match arg(2) {
            None => 2000,
            Some(Ok(n)) if n > 0 => n,
            Some(_) => {
                eprintln!("vcpu_suspend_rs: --fuzz takes a positive number of STEPS");
                std::process::exit(2);
            }
        };
        if let Err(e) = vm::install_signal_handler() {
            println!("# {e}");
            std::process::exit(1);
        }
        std::process::exit(fuzz::run_fuzz(seed, steps));
    }
    if args.first().map(String::as_str) == Some("--bench") {
        let cycles = match args.get(1).map(|a| a.parse::<usize>()) {
            None => 1000,
            Some(Ok(n)) if n > 0 => n,
            Some(_) => {
                eprintln!("vcpu_suspend_rs: --bench takes a positive number of cycles");
                std::process::exit(2);
            }
        };
        let r = vm::install_signal_handler().and_then(|()| bench::run_bench(cycles));
        if let Err(e) = r {
            eprintln!("vcpu_suspend_rs: bench failed: {e}");
            std::process::exit(1);
        }
        return;
    }
    if args.first().map(String::as_str) == Some("--demo") {
        let r = vm::install_signal_handler().and_then(|()| demo::run_demo());
        if let Err(e) = r {
            eprintln!("vcpu_suspend_rs: demo failed: {e}");
            std::process::exit(1);
        }
        return;
    }
    let unknown: Vec<&String> = args
        .iter()
        .filter(|a| !cases::CASES.iter().any(|(n, _)| n == a))
        .collect();
    if !unknown.is_empty() {
        let names: Vec<&str> = cases::CASES.iter().map(|(n, _)| *n).collect();
        eprintln!(
            "vcpu_suspend_rs: no such case: {unknown:?}; cases: {}",
            names.join(" ")
        );
        std::process::exit(2);
    }
    let selected: Vec<_> = cases::CASES
        .iter()
        .filter(|(n, _)| args.is_empty() || args.iter().any(|a| a == n))
        .collect();

    print!("{}", Ktap::header(selected.len()));
    let mut k = Ktap::default();
    let kvm_ok = std::path::Path::new("/dev/kvm").exists();
    if kvm_ok {
        if let Err(e) = vm::install_signal_handler() {
            println!("# {e}");
            std::process::exit(1);
        }
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
    std::process::exit(k.exit_code());
}

#[cfg(not(target_arch = "aarch64"))]
fn main() {
    print!("{}", Ktap::header(0));
    println!("# SKIP vcpu_suspend_rs tests arm64 KVM; this is not aarch64");
    std::process::exit(4);
}
