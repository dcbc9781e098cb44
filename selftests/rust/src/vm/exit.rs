// SPDX-License-Identifier: GPL-2.0
//! What one `KVM_RUN` gave, as a value the cases compare ([`Exit`]), the
//! run that makes it, and the checks of the exits the tests expect.

use kvm_bindings::{KVM_EXIT_INTR, KVM_EXIT_SYSTEM_EVENT};
use kvm_ioctls::{VcpuExit, VcpuFd};

use super::{ensure, TestResult};

/// What one `KVM_RUN` gave, owned, so that it outlives the borrow of the vCPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// `KVM_EXIT_MMIO` write of `data` (little endian) to `addr`.
    Mmio {
        /// Guest physical address.
        addr: u64,
        /// The value written.
        data: u64,
    },
    /// `KVM_EXIT_SYSTEM_EVENT`, with the raw `ndata` and whether all of
    /// `data[]` is zero, read from `kvm_run` itself.
    SystemEvent {
        /// `system_event.type`.
        kind: u32,
        /// `system_event.ndata`.
        ndata: u32,
        /// Whether every `system_event.data[i]` is 0.
        data_zero: bool,
    },
    /// `KVM_RUN` failed with `EINTR`; `exit_reason` is what `kvm_run` says.
    Eintr {
        /// `kvm_run.exit_reason` after the failure.
        exit_reason: u32,
    },
    /// Anything else.
    Other(String),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Mmio { addr, data } => {
                write!(f, "KVM_EXIT_MMIO, write of {data:#x} to {addr:#x}")
            }
            Exit::SystemEvent {
                kind,
                ndata,
                data_zero,
            } => {
                let name = match *kind {
                    kvm_bindings::KVM_SYSTEM_EVENT_WAKEUP => "KVM_SYSTEM_EVENT_WAKEUP",
                    kvm_bindings::KVM_SYSTEM_EVENT_SUSPEND => "KVM_SYSTEM_EVENT_SUSPEND",
                    _ => "?",
                };
                let data = if *data_zero { "zero" } else { "not zero" };
                write!(
                    f,
                    "KVM_EXIT_SYSTEM_EVENT, type {kind} ({name}), ndata {ndata}, data {data}"
                )
            }
            Exit::Eintr { exit_reason } => write!(f, "-1/EINTR, exit_reason {exit_reason}"),
            Exit::Other(s) => f.write_str(s),
        }
    }
}

impl Exit {
    /// Whether this is the `KVM_SYSTEM_EVENT_WAKEUP` exit with a zeroed payload.
    pub fn is_clean_wakeup(&self) -> bool {
        matches!(
            self,
            Exit::SystemEvent {
                kind: kvm_bindings::KVM_SYSTEM_EVENT_WAKEUP,
                ndata: 0,
                data_zero: true
            }
        )
    }
}

/// Fills `system_event` with values KVM must overwrite. `ndata` stays within
/// `data[]`: kvm-ioctls slices `data[..ndata]` without checking, so a larger
/// one would make `VcpuFd::run()` panic on a kernel that did not zero it.
pub fn scribble_system_event(vcpu: &mut VcpuFd) {
    let run = vcpu.get_kvm_run();
    // SAFETY: `system_event` is a member of plain integers in the `kvm_run`
    // union; writing it does not invalidate any other member.
    let ev = unsafe { &mut run.__bindgen_anon_1.system_event };
    ev.type_ = 0xa5a5_a5a5;
    ev.ndata = 16;
    ev.__bindgen_anon_1.data = [0xa5a5_a5a5_a5a5_a5a5; 16];
}

/// Runs the vCPU once and describes the exit.
pub fn run(vcpu: &mut VcpuFd) -> Exit {
    let exit = match vcpu.run() {
        Ok(VcpuExit::MmioWrite(addr, data)) => {
            let mut bytes = [0u8; 8];
            let n = data.len().min(8);
            bytes[..n].copy_from_slice(&data[..n]);
            Exit::Mmio {
                addr,
                data: u64::from_le_bytes(bytes),
            }
        }
        Ok(VcpuExit::SystemEvent(..)) => Exit::Other(String::new()),
        Ok(other) => Exit::Other(format!("{other:?}")),
        Err(e) if e.errno() == libc::EINTR => Exit::Eintr { exit_reason: 0 },
        Err(e) => Exit::Other(format!("KVM_RUN failed: {e}")),
    };
    let run = vcpu.get_kvm_run();
    match exit {
        Exit::Other(s) if s.is_empty() && run.exit_reason == KVM_EXIT_SYSTEM_EVENT => {
            // SAFETY: exit_reason says `system_event` is the live member.
            let ev = unsafe { &run.__bindgen_anon_1.system_event };
            // SAFETY: `data` is an integer view of the same bytes.
            let data = unsafe { ev.__bindgen_anon_1.data };
            Exit::SystemEvent {
                kind: ev.type_,
                ndata: ev.ndata,
                data_zero: data.iter().all(|&d| d == 0),
            }
        }
        Exit::Eintr { .. } => Exit::Eintr {
            exit_reason: run.exit_reason,
        },
        other => other,
    }
}

/// Fails unless `exit` is the signal's `EINTR` with `KVM_EXIT_INTR`.
pub fn expect_eintr(exit: &Exit) -> TestResult {
    ensure(
        *exit
            == Exit::Eintr {
                exit_reason: KVM_EXIT_INTR,
            },
        || format!("KVM_RUN after a signal: expected EINTR with KVM_EXIT_INTR, got {exit:?}"),
    )
}

/// Fails unless `exit` is a clean `KVM_SYSTEM_EVENT_WAKEUP`.
pub fn expect_wakeup(exit: &Exit) -> TestResult {
    ensure(exit.is_clean_wakeup(), || {
        format!(
            "expected KVM_EXIT_SYSTEM_EVENT/KVM_SYSTEM_EVENT_WAKEUP ({}) with ndata 0 and zero data, got {exit:?}",
            kvm_bindings::KVM_SYSTEM_EVENT_WAKEUP
        )
    })
}

/// Fails unless `exit` is an MMIO write of `value` to `addr`.
pub fn expect_mmio(exit: &Exit, addr: u64, value: u64) -> TestResult {
    ensure(*exit == Exit::Mmio { addr, data: value }, || {
        format!("expected guest MMIO write of {value:#x} to {addr:#x}, got {exit:?}")
    })
}
