// SPDX-License-Identifier: GPL-2.0
//! The cases with an in-kernel vGICv3, as VMMs run guests: an SPI (from
//! `KVM_IRQ_LINE` or through irqfd), the guest's own virtual timer and an
//! SGI from another vCPU wake a suspended vCPU; an SPI the guest's GIC
//! state masks does not. The guest's interrupts stay masked in PSTATE: KVM
//! decides from the GIC state alone.

use std::time::Duration;

use kvm_bindings::{KVM_MP_STATE_RUNNABLE, KVM_MP_STATE_SUSPENDED};
use vmm_sys_util::eventfd::EventFd;

use crate::cases::{expect_blocks_then_eintr, expect_stage, run_expect_wakeup};
use crate::guest::{self, GUEST_BASE, MMIO_REPORT};
use crate::vgic::{
    spi_line, GICD_BASE, GICD_CTLR, GICD_CTLR_ARE_NS, GICD_CTLR_ENABLE_G1, GICD_ISENABLER,
    ICC_PMR_EL1, MIN_SPI, PMR_MASKING, PMR_OPEN, WAKE_SGI, WAKE_SPI,
};
use crate::vm::{
    cntfrq, ensure, expect_eintr, expect_mmio, expect_wakeup, pc_reg, run_bounded, run_in_thread,
    scribble_system_event, sys_reg, RunThread, TestResult, TestVm, VmOpts, Waits, BLOCKED,
    TIMER_CNT, TIMER_CVAL,
};

/// A VM with `vcpus` vCPUs running `code` and an in-kernel vGICv3.
fn vgic_vm(code: &[u32], vcpus: usize) -> TestResult<TestVm> {
    TestVm::new(
        code,
        VmOpts {
            vcpus,
            vgic: true,
            ..Default::default()
        },
    )
}

/// A one-vCPU vGIC VM whose guest reported stage 1, with `WAKE_SPI`
/// level-sensitive and enabled.
fn vgic_spi_vm() -> TestResult<TestVm> {
    let mut vm = vgic_vm(&guest::stages(), 1)?;
    vm.gic()?.spi_setup(WAKE_SPI, true)?;
    expect_stage(&mut vm, 1)?;
    Ok(vm)
}

/// Runs suspended vCPU `i` in a thread until it blocks, calls `wake`, and
/// expects a clean WAKEUP, the vCPU still SUSPENDED.
fn expect_woken_by(
    vm: &mut TestVm,
    i: usize,
    wake: impl FnOnce(&kvm_ioctls::VmFd) -> TestResult,
    what: &str,
) -> TestResult {
    scribble_system_event(&mut vm.vcpus[i]);
    let TestVm {
        vm: vmfd, vcpus, ..
    } = vm;
    let r = run_in_thread(&mut vcpus[i], Waits::Blocking, || {
        wake(vmfd)?;
        Ok(true)
    })?;
    ensure(r.blocked, || {
        format!(
            "{what}: expected KVM_RUN to block first, it returned {:?}",
            r.exit
        )
    })?;
    expect_wakeup(&r.exit)?;
    vm.expect_state(i, KVM_MP_STATE_SUSPENDED)
}

pub fn vgic_spi_wakes() -> TestResult {
    let mut vm = vgic_spi_vm()?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    expect_woken_by(
        &mut vm,
        0,
        |v| spi_line(v, WAKE_SPI, true),
        "suspended, SPI not raised yet",
    )
}

/// How the guest's GIC state masks the SPI in the no-wakeup cases.
#[derive(Debug, Clone, Copy)]
enum SpiMask {
    /// Disabled at the distributor (GICD_ICENABLER).
    Disabled,
    /// The distributor's Group 1 disabled (GICD_CTLR).
    DistDisabled,
    /// The vCPU's priority mask (ICC_PMR_EL1) at the SPI's priority.
    Pmr,
}

/// The SPI, raised while masked, does not wake the suspended vCPU; a signal
/// gives EINTR; once userspace unmasks it in the vGIC, it does.
fn vgic_masked_spi(mask: SpiMask) -> TestResult {
    let mut vm = vgic_spi_vm()?;
    let set_mask = |gic: &crate::vgic::Vgic, masked: bool| match mask {
        SpiMask::Disabled => gic.spi_enable(WAKE_SPI, !masked),
        SpiMask::DistDisabled => {
            let ctlr = if masked { 0 } else { GICD_CTLR_ENABLE_G1 };
            gic.dist_write(crate::vgic::GICD_CTLR, ctlr)
        }
        SpiMask::Pmr => {
            gic.cpu_sysreg_write(0, ICC_PMR_EL1, if masked { PMR_MASKING } else { PMR_OPEN })
        }
    };
    set_mask(vm.gic()?, true)?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    spi_line(&vm.vm, WAKE_SPI, true)?;
    let what = format!("suspended, SPI raised but masked ({mask:?})");
    let r = run_in_thread(&mut vm.vcpus[0], Waits::Blocking, || {
        std::thread::sleep(BLOCKED);
        Ok(false)
    })?;
    ensure(r.blocked, || {
        format!(
            "{what}: expected KVM_RUN to block, it returned {:?}",
            r.exit
        )
    })?;
    expect_eintr(&r.exit).map_err(|e| format!("{what}: {e}"))?;
    vm.expect_state(0, KVM_MP_STATE_SUSPENDED)?;
    // No vCPU is in KVM_RUN now, so the vGIC's registers may be written.
    set_mask(vm.gic()?, false)?;
    if let SpiMask::DistDisabled = mask {
        // KVM forwards no SPI that became pending while the distributor was
        // disabled, and enabling it does not look for one: the device
        // asserts its line again.
        spi_line(&vm.vm, WAKE_SPI, false)?;
        spi_line(&vm.vm, WAKE_SPI, true)?;
    }
    run_expect_wakeup(&mut vm, 0)?;
    vm.expect_state(0, KVM_MP_STATE_SUSPENDED)
}

pub fn vgic_spi_disabled_no_wakeup() -> TestResult {
    vgic_masked_spi(SpiMask::Disabled)
}

pub fn vgic_dist_disabled_no_wakeup() -> TestResult {
    vgic_masked_spi(SpiMask::DistDisabled)
}

pub fn vgic_pmr_masked_no_wakeup() -> TestResult {
    vgic_masked_spi(SpiMask::Pmr)
}

/// GICD_CTLR and whether the SPI is enabled, as the vGIC reports them to
/// userspace, for the messages. (Its pending state is not among them: for
/// a level-sensitive SPI, userspace's GICD_ISPENDR shows the latch only, not
/// the line.)
fn dist_state(vm: &TestVm) -> TestResult<String> {
    let gic = vm.gic()?;
    let ctlr = gic.dist_read(GICD_CTLR)?;
    let enabled = gic.dist_read(GICD_ISENABLER + WAKE_SPI / 32 * 4)? & 1 << (WAKE_SPI % 32);
    Ok(format!(
        "GICD_CTLR {ctlr:#x}, SPI {WAKE_SPI} {}",
        if enabled != 0 { "enabled" } else { "disabled" }
    ))
}

/// An SPI that became pending while the distributor was disabled reaches
/// the vCPU once the guest enables the distributor with its own MMIO write,
/// as the GIC keeps the pending state: the suspended vCPU wakes, the line
/// left as it was. (Userspace's write of GICD_CTLR restores the register
/// only: `vgic_dist_disabled_no_wakeup`.)
pub fn vgic_dist_enabled_by_guest_wakes() -> TestResult {
    let code = guest::dist_reenable(
        GICD_BASE + u64::from(GICD_CTLR),
        GICD_CTLR_ARE_NS as u16,
        (GICD_CTLR_ARE_NS | GICD_CTLR_ENABLE_G1) as u16,
    );
    let mut vm = vgic_vm(&code, 1)?;
    vm.gic()?.spi_setup(WAKE_SPI, true)?;
    // The guest's first store disables the distributor.
    expect_stage(&mut vm, 1)?;
    let ctlr = vm.gic()?.dist_read(GICD_CTLR)?;
    ensure(ctlr & GICD_CTLR_ENABLE_G1 == 0, || {
        format!("the guest's GICD_CTLR store did not disable the distributor: GICD_CTLR {ctlr:#x}")
    })?;
    spi_line(&vm.vm, WAKE_SPI, true)?;
    // Its second store enables it again.
    expect_stage(&mut vm, 2)?;
    let state = dist_state(&vm)?;
    ensure(
        vm.gic()?.dist_read(GICD_CTLR)? & GICD_CTLR_ENABLE_G1 != 0,
        || format!("the guest's GICD_CTLR store did not enable the distributor: {state}"),
    )?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    run_expect_wakeup(&mut vm, 0).map_err(|e| {
        format!("suspended after the guest enabled its distributor ({state}, its line high): {e}")
    })?;
    vm.expect_state(0, KVM_MP_STATE_SUSPENDED)
}

/// How far ahead the guest arms its virtual timer: far enough that the vCPU
/// blocks first, even on a slow emulator.
const VTIMER_DELAY: Duration = Duration::from_millis(2000);

pub fn vgic_vtimer_wakes() -> TestResult {
    let ticks = cntfrq() * VTIMER_DELAY.as_millis() as u64 / 1000;
    let mut vm = vgic_vm(&guest::vtimer(ticks), 1)?;
    let vtimer_irq = crate::vm::vcpu_attr_u32(
        &vm.vcpus[0],
        kvm_bindings::KVM_ARM_VCPU_TIMER_CTRL,
        kvm_bindings::KVM_ARM_VCPU_TIMER_IRQ_VTIMER.into(),
    )?;
    vm.gic()?.private_enable(0, vtimer_irq)?;
    expect_stage(&mut vm, 1)?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    // Nothing from userspace: the wake is the guest's own timer.
    expect_woken_by(&mut vm, 0, |_| Ok(()), "suspended, virtual timer armed")?;
    let cval = vm.get_reg(0, sys_reg(TIMER_CVAL))?;
    let cnt = vm.get_reg(0, sys_reg(TIMER_CNT))?;
    ensure(cnt >= cval, || {
        format!("WAKEUP before the virtual timer fired: CNTVCT {cnt:#x} < CNTV_CVAL {cval:#x}")
    })
}

pub fn vgic_sgi_from_other_vcpu() -> TestResult {
    // ICC_SGI1R_EL1: the SGI's INTID at 24, target list bit 0 (Aff0 0).
    let sgi1r = u64::from(WAKE_SGI) << 24 | 1;
    let mut vm = vgic_vm(&guest::stages_and_sgi_sender(sgi1r), 2)?;
    vm.gic()?.private_enable(0, WAKE_SGI)?;
    vm.set_reg(1, pc_reg(), GUEST_BASE + guest::SGI_SENDER_OFFSET)?;
    expect_stage(&mut vm, 1)?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    let TestVm { vcpus, .. } = &mut vm;
    let [v0, v1] = vcpus.as_mut_slice() else {
        return Err("expected 2 vCPUs".into());
    };
    scribble_system_event(v0);
    let r = run_in_thread(v0, Waits::Blocking, || {
        // vCPU 1's guest code sends the SGI, then reports.
        let exit = run_bounded(v1, "vCPU 1 sending the SGI")?;
        expect_mmio(&exit, MMIO_REPORT + 16, sgi1r)?;
        Ok(true)
    })?;
    ensure(r.blocked, || {
        format!(
            "vCPU 0: expected KVM_RUN to block before the SGI, it returned {:?}",
            r.exit
        )
    })?;
    expect_wakeup(&r.exit)?;
    vm.expect_state(0, KVM_MP_STATE_SUSPENDED)
}

/// The SPI through irqfd, as a VMM's devices raise it, wakes suspended
/// vCPU 0 while vCPU 1 spins in its guest. irqfd injects from the
/// eventfd's wakeup, with interrupts disabled; on a host with
/// `ICH_HCR_EL2.TDIR`, an SPI queued while none is in flight (this VM's
/// first) kicks every vCPU, and vCPU 1, in guest mode, takes an IPI that
/// must not go through `smp_call_function_many()` there (a kernel with
/// lockdep and `panic_on_warn` dies on it).
pub fn vgic_irqfd_spi_wakes_while_other_runs() -> TestResult {
    let mut vm = vgic_vm(&guest::stages(), 2)?;
    // Edge-triggered, as KVM resets it and as a UART's irqfd raises it.
    vm.gic()?.spi_enable(WAKE_SPI, true)?;
    let evt = EventFd::new(0).map_err(|e| format!("eventfd: {e}"))?;
    // The vGIC's default routing: GSI n is SPI n.
    vm.vm
        .register_irqfd(&evt, WAKE_SPI - MIN_SPI)
        .map_err(|e| format!("KVM_IRQFD: {e}"))?;
    vm.set_reg(1, pc_reg(), GUEST_BASE + guest::stages_spin_offset())?;
    expect_stage(&mut vm, 1)?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    scribble_system_event(&mut vm.vcpus[0]);
    let TestVm { vcpus, .. } = &mut vm;
    let [v0, v1] = vcpus.as_mut_slice() else {
        return Err("expected 2 vCPUs".into());
    };
    let (r, spun) = std::thread::scope(|s| -> TestResult<_> {
        let spinner = RunThread::spawn(s, v1)?;
        if spinner.wait(BLOCKED) {
            let ran = spinner.join()?;
            return Err(format!(
                "vCPU 1's spinning guest: KVM_RUN returned {:?}",
                ran.exit
            ));
        }
        let r = run_in_thread(v0, Waits::Blocking, || {
            evt.write(1).map_err(|e| format!("eventfd write: {e}"))?;
            Ok(true)
        })?;
        spinner.interrupt()?;
        Ok((r, spinner.join()?))
    })?;
    expect_eintr(&spun.exit).map_err(|e| format!("vCPU 1: {e}"))?;
    ensure(r.blocked, || {
        format!(
            "vCPU 0: expected KVM_RUN to block before the irqfd SPI, it returned {:?}",
            r.exit
        )
    })?;
    expect_wakeup(&r.exit)?;
    vm.expect_state(0, KVM_MP_STATE_SUSPENDED)
}

pub fn vgic_signal_sticky_resume() -> TestResult {
    let mut vm = vgic_spi_vm()?;
    vm.set_state(0, KVM_MP_STATE_SUSPENDED)?;
    expect_blocks_then_eintr(&mut vm, 0, Waits::Blocking, "suspended, nothing pending")?;
    vm.expect_state(0, KVM_MP_STATE_SUSPENDED)?;
    // That KVM_RUN completed the guest's MMIO store: PC is past it now.
    let regs = vm.core_regs(0)?;
    spi_line(&vm.vm, WAKE_SPI, true)?;
    for _ in 0..3 {
        run_expect_wakeup(&mut vm, 0)?;
        vm.expect_state(0, KVM_MP_STATE_SUSPENDED)?;
    }
    spi_line(&vm.vm, WAKE_SPI, false)?;
    expect_blocks_then_eintr(&mut vm, 0, Waits::Blocking, "still suspended, SPI lowered")?;
    let again = vm.core_regs(0)?;
    ensure(regs == again, || {
        format!("registers changed while suspended: {regs:x?} -> {again:x?}")
    })?;
    vm.set_state(0, KVM_MP_STATE_RUNNABLE)?;
    expect_stage(&mut vm, 2)
}
