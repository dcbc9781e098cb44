// SPDX-License-Identifier: GPL-2.0
//! `vcpu_suspend_rs --exit-bench N`: the cost of one guest exit that KVM
//! handles in the kernel, a hypercall: the guest calls SMCCC_VERSION with
//! `HVC #0`, which KVM answers without leaving `KVM_RUN`, so the round
//! trip is the kernel's exit and entry path alone (the run loop of
//! `kvm_arch_vcpu_ioctl_run()`, where patch 1 folds `irq_lines` into
//! `hcr_el2` before every entry), with no userspace and no syscall in it.
//! The guest times each call with its virtual count (CNTVCT_EL0, before and
//! after, ISBs around) and reports the ticks with an MMIO store, outside
//! the timed interval. Works on any kernel (no A/B switch).
//!
//! Prints one line (see [`Summary::line`]):
//!
//! ```text
//! EXIT-BENCH kind=hvc-smccc-version n=N median_ns=.. p10_ns=.. p90_ns=.. min_ns=.. max_ns=.. kvm_run_median_ns=.. cntfrq_hz=.. smccc_version=0x..
//! ```
//!
//! `kvm_run_median_ns` is the median wall time of the sample's `KVM_RUN`
//! seen from userspace: the hypercall plus one MMIO exit to userspace and
//! back, for scale.

/// Samples taken and dropped before the measured ones.
pub const WARMUP: usize = 20;

/// The statistics of one set of samples, in ns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// How many samples.
    pub n: usize,
    /// Their median.
    pub median: f64,
    /// 10th percentile.
    pub p10: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

/// The `q`-quantile (0..=1) of sorted, non-empty `v`, interpolated linearly
/// between the closest ranks.
fn quantile(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

impl Summary {
    /// The statistics of `samples`; `None` if there are none.
    pub fn of(samples: &[f64]) -> Option<Self> {
        let mut v = samples.to_vec();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(Summary {
            n: v.len(),
            median: quantile(&v, 0.5),
            p10: quantile(&v, 0.1),
            p90: quantile(&v, 0.9),
            min: v[0],
            max: v[v.len() - 1],
        })
    }

    /// The bench's result line; `run` is the statistics of the `KVM_RUN`
    /// wall times.
    pub fn line(&self, run: &Summary, cntfrq: u64, smccc_version: u64) -> String {
        format!(
            "EXIT-BENCH kind=hvc-smccc-version n={} median_ns={:.0} p10_ns={:.0} p90_ns={:.0} min_ns={:.0} max_ns={:.0} kvm_run_median_ns={:.0} cntfrq_hz={cntfrq} smccc_version={smccc_version:#x}",
            self.n, self.median, self.p10, self.p90, self.min, self.max, run.median
        )
    }
}

/// Converts `ticks` of a counter at `freq` Hz to ns.
pub fn ticks_to_ns(ticks: u64, freq: u64) -> f64 {
    ticks as f64 * 1e9 / freq as f64
}

#[cfg(target_arch = "aarch64")]
pub use measure::{run_exit_bench, sample_timed_calls};

#[cfg(target_arch = "aarch64")]
mod measure {
    use kvm_ioctls::VcpuFd;

    use super::{ticks_to_ns, Summary, WARMUP};
    use crate::guest::{self, HVC_RET_REPORT, MMIO_REPORT, SMCCC_VERSION};
    use crate::vm::{cntfrq, ensure, Exit, RunThread, TestResult, TestVm};

    /// The samples of [`sample_timed_calls`]: the calls' and their
    /// `KVM_RUN`s' times, in ns.
    pub struct Timed {
        /// What the first, untimed, call returned in x0.
        pub first_x0: u64,
        /// Each timed call, as the guest counted it.
        pub hvc_ns: Vec<f64>,
        /// The wall time of the `KVM_RUN` of each.
        pub run_ns: Vec<f64>,
    }

    /// Runs `vcpu`, whose guest runs `guest::hvc_timer_args()`: takes the
    /// first call's x0, which `check` must accept, then `n` timed calls
    /// after `WARMUP`, with ticks of `freq` Hz.
    pub fn sample_timed_calls(
        vcpu: &mut VcpuFd,
        n: usize,
        freq: u64,
        check: impl FnOnce(u64) -> TestResult,
    ) -> TestResult<Timed> {
        let (mut hvc_ns, mut run_ns) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let first_x0 = std::thread::scope(|s| -> TestResult<u64> {
            let t = RunThread::idle(s, vcpu)?;
            t.start()?;
            let first_x0 = match t.finish()?.exit {
                Exit::Mmio { addr, data } if addr == HVC_RET_REPORT => data,
                other => {
                    return Err(format!(
                        "the guest's first call: expected its x0 written to {HVC_RET_REPORT:#x}, got {other:?}"
                    ))
                }
            };
            check(first_x0)?;
            for i in 0..WARMUP + n {
                t.start()?;
                let ran = t.finish()?;
                let Exit::Mmio { addr, data } = ran.exit else {
                    return Err(format!(
                        "sample {i}: expected the guest's MMIO report of its ticks, got {:?}",
                        ran.exit
                    ));
                };
                ensure(addr == MMIO_REPORT, || {
                    format!("sample {i}: the guest wrote {data:#x} to {addr:#x}, expected its ticks at {MMIO_REPORT:#x}")
                })?;
                if i >= WARMUP {
                    hvc_ns.push(ticks_to_ns(data, freq));
                    run_ns.push(ran.wall().as_secs_f64() * 1e9);
                }
            }
            Ok(first_x0)
        })?;
        Ok(Timed {
            first_x0,
            hvc_ns,
            run_ns,
        })
    }

    /// `--exit-bench N`: `N` timed hypercalls after `WARMUP`; prints the line.
    pub fn run_exit_bench(n: usize) -> TestResult {
        let freq = cntfrq();
        ensure(freq > 0, || "CNTFRQ_EL0 reads 0".to_string())?;
        let mut vm = TestVm::one(&guest::hvc_timer(SMCCC_VERSION))?;
        let timed = sample_timed_calls(&mut vm.vcpus[0], n, freq, |version| {
            // SMCCC_RET_NOT_SUPPORTED is -1; a version is 0x10000 or more.
            ensure((0x1_0000..=0x7fff_ffff).contains(&version), || {
                format!("SMCCC_VERSION returned {version:#x}, not a version: KVM did not answer the call")
            })
        })?;
        let (Some(hvc), Some(run)) = (Summary::of(&timed.hvc_ns), Summary::of(&timed.run_ns))
        else {
            return Err("no samples".into());
        };
        println!("{}", hvc.line(&run, freq, timed.first_x0));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_samples() {
        let s = Summary::of(&[5.0, 1.0, 4.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.n, 5);
        assert_eq!((s.min, s.median, s.max), (1.0, 3.0, 5.0));
        assert!((s.p10 - 1.4).abs() < 1e-9 && (s.p90 - 4.6).abs() < 1e-9);
        assert_eq!(Summary::of(&[7.0]).unwrap().median, 7.0);
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn line_is_parseable() {
        let s = Summary::of(&[1000.0, 3000.0]).unwrap();
        let l = s.line(&s, 1_000_000_000, 0x10001);
        assert!(l.starts_with("EXIT-BENCH kind=hvc-smccc-version n=2 median_ns=2000 "));
        assert!(l.ends_with(" cntfrq_hz=1000000000 smccc_version=0x10001"));
        assert!(l.split(' ').skip(1).all(|kv| kv.split_once('=').is_some()));
        assert_eq!(ticks_to_ns(625, 62_500_000), 10_000.0);
    }
}
