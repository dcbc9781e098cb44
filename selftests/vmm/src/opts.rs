// SPDX-License-Identifier: GPL-2.0
//! Command line.

use std::time::Duration;

pub const USAGE: &str = "\
usage: suspend_vmm KERNEL_IMAGE INITRD [options]
  --mem MIB             guest RAM (default 256)
  --vcpus N             vCPUs, 1..8 (default 2; vCPU 1.. start powered off)
  --alarm SECS          RTC alarm delay the guest arms before suspending (default 5)
  --deadline SECS       bound of the whole run (default 240)
  --wake-timeout SECS   bound of the suspended KVM_RUN after the alarm fired (default 30)
  --cmdline TEXT        extra kernel command line
  --no-signal           do not signal the suspended vCPU's thread (by default it is
                        signalled once 1 s into the suspend: EINTR, KVM_RUN again)
  --deny-first          answer the guest's first SYSTEM_SUSPEND with DENIED, as if a
                        core were still on (the guest is told, and retries once)
  --no-rtc-irq          never raise the RTC's interrupt (to see the test fail)";

#[derive(Debug, Clone)]
pub struct Opts {
    pub kernel: String,
    pub initrd: String,
    pub mem_mib: u64,
    pub vcpus: usize,
    pub alarm: u32,
    pub deadline: Duration,
    pub wake_timeout: Duration,
    pub cmdline_extra: String,
    pub no_rtc_irq: bool,
    pub signal: bool,
    pub deny_first: bool,
}

fn num(flag: &str, v: Option<&String>, min: u64, max: u64) -> Result<u64, String> {
    let v = v.ok_or(format!("{flag} needs a value"))?;
    let n: u64 = v
        .parse()
        .map_err(|_| format!("{flag}: '{v}' is not a number"))?;
    if n < min || n > max {
        return Err(format!("{flag}: {n} is not in {min}..={max}"));
    }
    Ok(n)
}

/// `Ok(None)` for --help.
pub fn parse(args: &[String]) -> Result<Option<Opts>, String> {
    let mut pos = Vec::new();
    let mut o = Opts {
        kernel: String::new(),
        initrd: String::new(),
        mem_mib: 256,
        vcpus: 2,
        alarm: 5,
        deadline: Duration::from_secs(240),
        wake_timeout: Duration::from_secs(30),
        cmdline_extra: String::new(),
        no_rtc_irq: false,
        signal: true,
        deny_first: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--mem" => o.mem_mib = num(a, it.next(), 16, 4096)?,
            "--vcpus" => o.vcpus = num(a, it.next(), 1, 8)? as usize,
            "--alarm" => o.alarm = num(a, it.next(), 1, 3600)? as u32,
            "--deadline" => o.deadline = Duration::from_secs(num(a, it.next(), 1, 86400)?),
            "--wake-timeout" => o.wake_timeout = Duration::from_secs(num(a, it.next(), 1, 3600)?),
            "--cmdline" => o.cmdline_extra = it.next().ok_or("--cmdline needs a value")?.clone(),
            "--no-rtc-irq" => o.no_rtc_irq = true,
            "--no-signal" => o.signal = false,
            "--deny-first" => o.deny_first = true,
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ => pos.push(a.clone()),
        }
    }
    match pos.as_slice() {
        [k, i] => {
            o.kernel = k.clone();
            o.initrd = i.clone();
        }
        _ => return Err("need exactly KERNEL_IMAGE and INITRD".into()),
    }
    if !o.mem_mib.is_multiple_of(2) {
        return Err("--mem must be a multiple of 2 MiB".into());
    }
    Ok(Some(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Option<Opts>, String> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn parses() {
        let o = p("/Image /initrd --alarm 3 --no-rtc-irq --vcpus 2")
            .unwrap()
            .unwrap();
        assert_eq!(
            (o.kernel.as_str(), o.initrd.as_str()),
            ("/Image", "/initrd")
        );
        assert_eq!(o.alarm, 3);
        assert!(o.no_rtc_irq);
        assert!(o.signal);
        assert!(!p("a b --no-signal").unwrap().unwrap().signal);
        assert!(p("--help").unwrap().is_none());
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "/Image",
            "/Image /i /x",
            "/Image /i --alarm",
            "/Image /i --alarm x",
            "/Image /i --vcpus 0",
            "/Image /i --vcpus 9",
            "/Image /i --mem 3",
            "/Image /i --frobnicate",
        ] {
            assert!(p(bad).is_err(), "{bad:?} accepted");
        }
    }
}
