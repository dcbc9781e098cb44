// SPDX-License-Identifier: GPL-2.0
//! The guest's physical memory map (close to QEMU's `virt` board) and its
//! interrupt numbers.

/// GICv3 distributor.
pub const GIC_DIST_BASE: u64 = 0x0800_0000;
/// Size of the distributor frame.
pub const GIC_DIST_SIZE: u64 = 0x1_0000;
/// GICv3 redistributors, one 128 KiB region per vCPU.
pub const GIC_REDIST_BASE: u64 = 0x080a_0000;
/// Size of one vCPU's redistributor (RD and SGI frames).
pub const GIC_REDIST_SIZE_PER_CPU: u64 = 0x2_0000;
/// Interrupt lines of the vGIC: 32 private ones and 96 SPIs.
pub const GIC_NR_IRQS: u32 = 128;
/// Most vCPUs the redistributor region fits before it reaches the UART.
pub const MAX_VCPUS: usize = 8;

/// The 16550 UART (vm-superio `Serial`).
pub const UART_BASE: u64 = 0x0900_0000;
/// Its MMIO window; the 8 byte registers sit at its start.
pub const UART_SIZE: u64 = 0x1000;
/// Its SPI (INTID 32 + 1).
pub const UART_SPI: u32 = 1;
/// The PL031 RTC (vm-superio `Rtc`).
pub const RTC_BASE: u64 = 0x0901_0000;
/// Its MMIO window (AMBA: the ID registers are at 0xfe0..0x1000).
pub const RTC_SIZE: u64 = 0x1000;
/// Its SPI (INTID 32 + 2).
pub const RTC_SPI: u32 = 2;

/// Start of guest RAM.
pub const RAM_BASE: u64 = 0x4000_0000;
/// Where the device tree goes: 2 MiB below the end of RAM (the blob may
/// not exceed 2 MiB).
pub const FDT_MAX_SIZE: u64 = 0x20_0000;

// The devices do not overlap, and the RTC's SPI is within the vGIC's lines.
const _: () = {
    assert!(GIC_DIST_BASE + GIC_DIST_SIZE <= GIC_REDIST_BASE);
    assert!(GIC_REDIST_BASE + GIC_REDIST_SIZE_PER_CPU * MAX_VCPUS as u64 <= UART_BASE);
    assert!(UART_BASE + UART_SIZE <= RTC_BASE);
    assert!(RTC_BASE + RTC_SIZE <= RAM_BASE);
    assert!(spi_intid(RTC_SPI) < GIC_NR_IRQS && spi_intid(UART_SPI) < GIC_NR_IRQS);
};

/// The INTID of SPI `spi`.
pub const fn spi_intid(spi: u32) -> u32 {
    32 + spi
}

/// Where the kernel, initrd and device tree go in RAM of `ram_size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootLayout {
    /// The 2 MiB aligned base the Image is loaded at (plus its text_offset).
    pub kernel_base: u64,
    /// First byte of the initrd.
    pub initrd_start: u64,
    /// One past its last byte.
    pub initrd_end: u64,
    /// The device tree.
    pub fdt_addr: u64,
}

/// Places the initrd right below the device tree at the top of RAM, checking
/// that neither overlaps the kernel's memory footprint (`image_size` from the
/// Image header, which covers its BSS).
pub fn boot_layout(ram_size: u64, image_size: u64, initrd_size: u64) -> Result<BootLayout, String> {
    let ram_end = RAM_BASE
        .checked_add(ram_size)
        .ok_or("RAM size overflows the address space")?;
    if ram_size < 2 * FDT_MAX_SIZE || !ram_size.is_multiple_of(FDT_MAX_SIZE) {
        return Err(format!(
            "RAM size {ram_size:#x} must be a multiple of 2 MiB and at least 4 MiB"
        ));
    }
    let fdt_addr = ram_end - FDT_MAX_SIZE;
    let initrd_start = fdt_addr
        .checked_sub(initrd_size)
        .map(|a| a & !0xfff)
        .ok_or("the initrd does not fit in RAM")?;
    let kernel_base = RAM_BASE;
    let kernel_end = kernel_base.saturating_add(image_size);
    if initrd_start < kernel_end {
        return Err(format!(
            "kernel ({image_size} bytes with BSS) and initrd ({initrd_size} bytes) do not fit in {} MiB of RAM",
            ram_size >> 20
        ));
    }
    Ok(BootLayout {
        kernel_base,
        initrd_start,
        initrd_end: initrd_start + initrd_size,
        fdt_addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_fits_and_aligns() {
        let l = boot_layout(256 << 20, 40 << 20, 3_000_001).unwrap();
        assert_eq!(l.kernel_base % 0x20_0000, 0);
        assert_eq!(l.fdt_addr, RAM_BASE + (256 << 20) - 0x20_0000);
        assert_eq!(l.initrd_start % 0x1000, 0);
        assert!(l.initrd_end <= l.fdt_addr);
        assert_eq!(l.initrd_end - l.initrd_start, 3_000_001);
        assert!(l.initrd_start >= RAM_BASE + (40 << 20));
    }

    #[test]
    fn layout_rejects_what_does_not_fit() {
        assert!(boot_layout(64 << 20, 40 << 20, 30 << 20).is_err());
        assert!(boot_layout(64 << 20, 40 << 20, 100 << 20).is_err());
        assert!(boot_layout(3 << 20, 0, 0).is_err());
        assert!(boot_layout(u64::MAX - 0x1f_ffff, 0, 0).is_err());
    }
}
