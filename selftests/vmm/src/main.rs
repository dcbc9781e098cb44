// SPDX-License-Identifier: GPL-2.0
//! `suspend_vmm KERNEL INITRD [options]`: boots an arm64 Linux `Image` with
//! an initramfs on KVM (in-kernel vGICv3, 2 vCPUs, PSCI, a 16550 console
//! and a PL031 RTC), and carries the guest's suspend to RAM (PSCI
//! SYSTEM_SUSPEND) through `KVM_MP_STATE_SUSPENDED`: the vCPU is suspended,
//! the RTC alarm's interrupt wakes it (`KVM_SYSTEM_EVENT_WAKEUP`), and it
//! resumes at the PSCI entry point. Exit code 0 only if the guest reported
//! PASS, the suspend went through SUSPENDED and a WAKEUP that came after the
//! RTC interrupt, and the guest powered off.

mod opts;
#[cfg(target_arch = "aarch64")]
mod vmm;

fn main() {
    suspend_vmm::log::start();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match opts::parse(&args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{}", opts::USAGE);
            return;
        }
        Err(e) => {
            eprintln!("suspend_vmm: {e}\n{}", opts::USAGE);
            std::process::exit(2);
        }
    };
    #[cfg(target_arch = "aarch64")]
    std::process::exit(vmm::run(opts));
    #[cfg(not(target_arch = "aarch64"))]
    {
        let _ = opts;
        eprintln!("suspend_vmm: runs on arm64 KVM only");
        std::process::exit(2);
    }
}
