// SPDX-License-Identifier: GPL-2.0
//! Pure parts of `suspend_vmm`, testable on the host: the guest's memory
//! map, the device tree, the PSCI SYSTEM_SUSPEND decision and resume state,
//! the PL031 alarm (which vm-superio's `Rtc` leaves out), the console line
//! splitter and the log format. The KVM side is `vmm.rs` (aarch64 only).

pub mod fdt;
pub mod layout;
pub mod log;
pub mod psci;
pub mod rtc;
pub mod serial_out;
