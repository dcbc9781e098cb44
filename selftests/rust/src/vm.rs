// SPDX-License-Identifier: GPL-2.0
//! Test VMs on rust-vmm's kvm-ioctls: one memory slot of guest code, either
//! no in-kernel irqchip (so `KVM_ARM_IRQ_TYPE_CPU` lines are wakeup events)
//! or an in-kernel vGICv3 (`crate::vgic`), and helpers that turn KVM's
//! answers into values the cases compare.
//!
//! Where kvm-ioctls falls short it is said at the place; everything else
//! goes through its types and ioctls.
//!
//! One job per module: [`setup`] makes the VM and its vCPUs, [`mp_state`]
//! sets and checks their `mp_state`, [`regs`] reads and writes registers,
//! [`irq`] raises the interrupt lines, [`exit`] runs a vCPU once and
//! describes what came, [`thread`] runs it in a thread of its own,
//! [`kick`] gets such a thread out of `KVM_RUN` (signals, timeouts), and
//! [`stats`] reads KVM's statistics of a vCPU. Their items are re-exported
//! here, as `crate::vm::NAME`.

mod exit;
mod irq;
mod kick;
mod mp_state;
mod regs;
mod setup;
mod stats;
mod thread;

pub use exit::*;
pub use irq::*;
pub use kick::*;
pub use mp_state::*;
pub use regs::*;
pub use setup::*;
pub use stats::*;
pub use thread::*;

/// A test failure: what was expected and what came.
pub type TestResult<T = ()> = Result<T, String>;

/// Fails with `msg` unless `cond`.
pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> TestResult {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}
