// SPDX-License-Identifier: GPL-2.0
//! Guest code: AArch64 instructions encoded by hand (Arm ARM C6), and the
//! named sequences the tests run. The guest runs at EL1 with the MMU off.
//!
//! One job per module: [`insn`] encodes instructions, and the others build
//! the sequences of one family of tests each: [`suspend`], [`gic`],
//! [`serror`], [`psci`], and the benches' self-timed hypercalls
//! ([`timed`]). Their items are re-exported here, as `crate::guest::NAME`,
//! with the memory layout the sequences share.

mod gic;
mod insn;
mod psci;
mod serror;
mod suspend;
mod timed;

pub use gic::*;
pub use insn::*;
pub use psci::*;
pub use serror::*;
pub use suspend::*;
pub use timed::*;

/// Where guest code lives (IPA), and how much memory the test VMs get.
pub const GUEST_BASE: u64 = 0x1_0000;
/// Size of the guest memory slot.
pub const GUEST_SIZE: u64 = 0x1_0000;
/// The MMIO address the guest reports to: not backed by memory, so each
/// store exits with `KVM_EXIT_MMIO`.
pub const MMIO_REPORT: u64 = 0x1000_0000;
/// Offset in guest memory of the PSCI resume entry point.
pub const RESUME_OFFSET: u64 = 0x100;

/// Guest code as the bytes to copy into guest memory (little endian).
pub fn to_bytes(code: &[u32]) -> Vec<u8> {
    code.iter().flat_map(|w| w.to_le_bytes()).collect()
}
