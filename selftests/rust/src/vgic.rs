// SPDX-License-Identifier: GPL-2.0
//! An in-kernel vGICv3 for the test VMs, as VMMs create it (kvm-ioctls'
//! `DeviceFd`), and its state programmed from userspace through the
//! device's register groups, as a VMM restoring a snapshot does: the guest
//! code needs no GIC driver, and its interrupts stay masked in PSTATE (KVM
//! decides about a wakeup from the GIC state alone).
//!
//! GIC register offsets and sizes are the architecture's (Arm IHI 0069,
//! GICv3 and GICv4 Architecture Specification, 12.8 and 12.10); the KVM
//! numbers come from kvm-bindings.

use kvm_bindings::{
    kvm_create_device, kvm_device_attr, kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_V3,
    KVM_ARM_IRQ_TYPE_SPI, KVM_DEV_ARM_VGIC_CTRL_INIT, KVM_DEV_ARM_VGIC_GRP_ADDR,
    KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_GRP_DIST_REGS,
    KVM_DEV_ARM_VGIC_GRP_NR_IRQS, KVM_DEV_ARM_VGIC_GRP_REDIST_REGS,
    KVM_DEV_ARM_VGIC_V3_MPIDR_SHIFT, KVM_VGIC_V3_ADDR_TYPE_DIST, KVM_VGIC_V3_ADDR_TYPE_REDIST,
};
use kvm_ioctls::{DeviceFd, VmFd};

use crate::vm::{kvm_arm_irq, sysreg_fields, TestResult};

/// Distributor base (IPA), below the guest's memory-less MMIO report page.
pub const GICD_BASE: u64 = 0x0800_0000;
/// The distributor's frame: 64 KiB.
const GICD_SIZE: u64 = 0x1_0000;
/// Redistributors' base: one region, two 64 KiB frames per vCPU.
pub const GICR_BASE: u64 = GICD_BASE + GICD_SIZE;
/// Interrupt IDs the vGIC has: SGIs, PPIs and 32 SPIs.
pub const NR_IRQS: u32 = 64;

/// The first SPI's INTID: 0-15 are SGIs, 16-31 PPIs (GICv3 architecture).
pub const MIN_SPI: u32 = 32;
/// The SPI the tests raise with `KVM_IRQ_LINE` or through irqfd.
pub const WAKE_SPI: u32 = 37;
/// The SGI vCPU 1 sends to vCPU 0.
pub const WAKE_SGI: u32 = 3;

/// GICD_CTLR, and its EnableGrp1 bit (single security state).
pub const GICD_CTLR: u32 = 0x0000;
/// GICD_CTLR.EnableGrp1.
pub const GICD_CTLR_ENABLE_G1: u32 = 1 << 1;
/// GICD_CTLR.ARE_NS (affinity routing; KVM's vGICv3 has it always set).
pub const GICD_CTLR_ARE_NS: u32 = 1 << 4;
/// GICD_ISENABLER: the enable bits of SPIs, 32 a register.
pub const GICD_ISENABLER: u32 = 0x0100;
const GICD_ICENABLER: u32 = 0x0180;
const GICD_ICFGR: u32 = 0x0c00;
/// GICR_ISENABLER0, in the redistributor's SGI frame (at 64 KiB).
const GICR_ISENABLER0: u32 = 0x1_0100;

/// `ICC_PMR_EL1` (op0 3, op1 0, CRn 4, CRm 6, op2 0).
pub const ICC_PMR_EL1: [u64; 5] = [3, 0, 4, 6, 0];
/// `ICC_IGRPEN1_EL1` (op0 3, op1 0, CRn 12, CRm 12, op2 7).
pub const ICC_IGRPEN1_EL1: [u64; 5] = [3, 0, 12, 12, 7];
/// A priority mask that lets every priority through but the lowest.
pub const PMR_OPEN: u64 = 0xf0;
/// The priority KVM resets interrupts to; a PMR at or below it masks them.
pub const PMR_MASKING: u64 = 0;

/// The vGICv3 device of a test VM.
pub struct Vgic {
    fd: DeviceFd,
}

/// MPIDR affinity of vCPU `i` as KVM sets it at reset (Aff0 = i for i < 16),
/// in the field of a register-group attribute.
fn mpidr_attr(i: usize) -> u64 {
    (i as u64) << KVM_DEV_ARM_VGIC_V3_MPIDR_SHIFT
}

/// The register-group attribute of a GIC CPU interface system register.
fn sysreg_attr(i: usize, reg: [u64; 5]) -> u64 {
    mpidr_attr(i) | sysreg_fields(reg)
}

impl Vgic {
    /// Creates and initializes the vGICv3 of `vm`, whose `nr_vcpus` vCPUs
    /// exist already, and enables it as a guest's GIC driver would: the
    /// distributor's Group 1, each CPU interface's Group 1 and an open
    /// priority mask. No interrupt is enabled yet.
    pub fn new(vm: &VmFd, nr_vcpus: usize) -> TestResult<Self> {
        let mut dev = kvm_create_device {
            type_: kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_V3,
            fd: 0,
            flags: 0,
        };
        let fd = vm
            .create_device(&mut dev)
            .map_err(|e| format!("KVM_CREATE_DEVICE(ARM_VGIC_V3): {e}"))?;
        let gic = Vgic { fd };
        gic.set(KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &NR_IRQS, "NR_IRQS")?;
        gic.set(
            KVM_DEV_ARM_VGIC_GRP_ADDR,
            KVM_VGIC_V3_ADDR_TYPE_DIST.into(),
            &GICD_BASE,
            "distributor address",
        )?;
        gic.set(
            KVM_DEV_ARM_VGIC_GRP_ADDR,
            KVM_VGIC_V3_ADDR_TYPE_REDIST.into(),
            &GICR_BASE,
            "redistributor address",
        )?;
        gic.set(
            KVM_DEV_ARM_VGIC_GRP_CTRL,
            KVM_DEV_ARM_VGIC_CTRL_INIT.into(),
            &0u64,
            "CTRL_INIT",
        )?;
        gic.dist_write(GICD_CTLR, GICD_CTLR_ENABLE_G1)?;
        for i in 0..nr_vcpus {
            gic.cpu_sysreg_write(i, ICC_IGRPEN1_EL1, 1)?;
            gic.cpu_sysreg_write(i, ICC_PMR_EL1, PMR_OPEN)?;
        }
        Ok(gic)
    }

    fn set<T>(&self, group: u32, attr: u64, value: &T, what: &str) -> TestResult {
        let a = kvm_device_attr {
            group,
            attr,
            addr: value as *const T as u64,
            flags: 0,
        };
        self.fd
            .set_device_attr(&a)
            .map_err(|e| format!("vGIC KVM_SET_DEVICE_ATTR({what}): {e}"))
    }

    /// Writes a 32-bit distributor register, as userspace may while no
    /// vCPU is in `KVM_RUN`.
    pub fn dist_write(&self, offset: u32, value: u32) -> TestResult {
        self.set(
            KVM_DEV_ARM_VGIC_GRP_DIST_REGS,
            offset.into(),
            &value,
            &format!("GICD+{offset:#x}"),
        )
    }

    /// Reads a 32-bit distributor register, as userspace may while no vCPU
    /// is in `KVM_RUN`.
    pub fn dist_read(&self, offset: u32) -> TestResult<u32> {
        let mut value = 0u32;
        let mut a = kvm_device_attr {
            group: KVM_DEV_ARM_VGIC_GRP_DIST_REGS,
            attr: offset.into(),
            addr: &mut value as *mut u32 as u64,
            flags: 0,
        };
        // SAFETY: `a` points KVM at `value`, a u32 that lives across the
        // call, which is what a distributor register attribute writes.
        unsafe { self.fd.get_device_attr(&mut a) }
            .map_err(|e| format!("vGIC KVM_GET_DEVICE_ATTR(GICD+{offset:#x}): {e}"))?;
        Ok(value)
    }

    /// Writes a 32-bit register of vCPU `i`'s redistributor.
    pub fn redist_write(&self, i: usize, offset: u32, value: u32) -> TestResult {
        self.set(
            KVM_DEV_ARM_VGIC_GRP_REDIST_REGS,
            mpidr_attr(i) | u64::from(offset),
            &value,
            &format!("vCPU {i} GICR+{offset:#x}"),
        )
    }

    /// Writes a GIC CPU interface system register of vCPU `i`.
    pub fn cpu_sysreg_write(&self, i: usize, reg: [u64; 5], value: u64) -> TestResult {
        self.set(
            KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS,
            sysreg_attr(i, reg),
            &value,
            &format!("vCPU {i} ICC sysreg {reg:?}"),
        )
    }

    /// Configures SPI `intid` level-sensitive (KVM resets SPIs
    /// edge-triggered) and enables or disables it.
    pub fn spi_setup(&self, intid: u32, enabled: bool) -> TestResult {
        // Two bits per interrupt, 0b00 = level; every other SPI of the word
        // is level too, which no test minds.
        self.dist_write(GICD_ICFGR + intid / 16 * 4, 0)?;
        self.spi_enable(intid, enabled)
    }

    /// Enables or disables SPI `intid` at the distributor.
    pub fn spi_enable(&self, intid: u32, enabled: bool) -> TestResult {
        let reg = if enabled {
            GICD_ISENABLER
        } else {
            GICD_ICENABLER
        };
        self.dist_write(reg + intid / 32 * 4, 1 << (intid % 32))
    }

    /// Enables SGI or PPI `intid` in vCPU `i`'s redistributor.
    pub fn private_enable(&self, i: usize, intid: u32) -> TestResult {
        self.redist_write(i, GICR_ISENABLER0, 1 << intid)
    }
}

/// Raises or lowers SPI `intid` with `KVM_IRQ_LINE` (`KVM_ARM_IRQ_TYPE_SPI`).
pub fn spi_line(vm: &VmFd, intid: u32, level: bool) -> TestResult {
    vm.set_irq_line(kvm_arm_irq(KVM_ARM_IRQ_TYPE_SPI, 0, intid), level)
        .map_err(|e| format!("KVM_IRQ_LINE(SPI {intid}, {}): {e}", u8::from(level)))
}
