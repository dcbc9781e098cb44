// SPDX-License-Identifier: GPL-2.0
//! The guest's device tree (vm-fdt): CPUs booted through PSCI, memory, PSCI
//! 1.0 over HVC, the GICv3, the architected timer, a 16550 UART and a PL031
//! RTC with its APB clock, and /chosen with the command line and initrd.

use vm_fdt::{Error, FdtWriter};

use crate::layout::*;

/// The GIC's phandle.
const PHANDLE_GIC: u32 = 1;
/// The fixed APB clock's phandle.
const PHANDLE_APB_PCLK: u32 = 2;

/// `interrupts` cell 0: SPI or PPI.
const GIC_SPI: u32 = 0;
const GIC_PPI: u32 = 1;
/// `interrupts` cell 2: trigger types.
pub const IRQ_TYPE_EDGE_RISING: u32 = 1;
/// Level, active high.
pub const IRQ_TYPE_LEVEL_HIGH: u32 = 4;

/// What the tree describes.
#[derive(Debug, Clone)]
pub struct FdtConfig {
    /// Number of vCPUs (MPIDR Aff0 0..n).
    pub vcpus: usize,
    /// Bytes of RAM at `RAM_BASE`.
    pub ram_size: u64,
    /// The kernel command line.
    pub cmdline: String,
    /// The initrd, [start, end).
    pub initrd: Option<(u64, u64)>,
}

/// Builds the flattened device tree blob.
pub fn build(cfg: &FdtConfig) -> Result<Vec<u8>, Error> {
    let mut f = FdtWriter::new()?;
    let root = f.begin_node("")?;
    f.property_string("compatible", "linux,dummy-virt")?;
    f.property_u32("#address-cells", 2)?;
    f.property_u32("#size-cells", 2)?;
    f.property_u32("interrupt-parent", PHANDLE_GIC)?;

    let chosen = f.begin_node("chosen")?;
    f.property_string("bootargs", &cfg.cmdline)?;
    f.property_string("stdout-path", &format!("/uart@{UART_BASE:x}"))?;
    if let Some((start, end)) = cfg.initrd {
        f.property_u64("linux,initrd-start", start)?;
        f.property_u64("linux,initrd-end", end)?;
    }
    f.end_node(chosen)?;

    let mem = f.begin_node(&format!("memory@{RAM_BASE:x}"))?;
    f.property_string("device_type", "memory")?;
    f.property_array_u64("reg", &[RAM_BASE, cfg.ram_size])?;
    f.end_node(mem)?;

    let cpus = f.begin_node("cpus")?;
    f.property_u32("#address-cells", 1)?;
    f.property_u32("#size-cells", 0)?;
    for i in 0..cfg.vcpus {
        let cpu = f.begin_node(&format!("cpu@{i:x}"))?;
        f.property_string("device_type", "cpu")?;
        f.property_string("compatible", "arm,arm-v8")?;
        f.property_string("enable-method", "psci")?;
        f.property_u32("reg", i as u32)?;
        f.end_node(cpu)?;
    }
    f.end_node(cpus)?;

    let psci = f.begin_node("psci")?;
    f.property_string_list(
        "compatible",
        vec!["arm,psci-1.0".into(), "arm,psci-0.2".into()],
    )?;
    f.property_string("method", "hvc")?;
    f.end_node(psci)?;

    let redist_size = GIC_REDIST_SIZE_PER_CPU * cfg.vcpus as u64;
    let gic = f.begin_node(&format!("intc@{GIC_DIST_BASE:x}"))?;
    f.property_string("compatible", "arm,gic-v3")?;
    f.property_null("interrupt-controller")?;
    f.property_u32("#interrupt-cells", 3)?;
    f.property_array_u64(
        "reg",
        &[GIC_DIST_BASE, GIC_DIST_SIZE, GIC_REDIST_BASE, redist_size],
    )?;
    f.property_u32("#redistributor-regions", 1)?;
    f.property_phandle(PHANDLE_GIC)?;
    f.end_node(gic)?;

    // Secure and non-secure physical, virtual and hypervisor timers
    // (INTIDs 29, 30, 27, 26), level high, to every CPU.
    let ppi_flags = (((1u32 << cfg.vcpus.min(8)) - 1) << 8) | IRQ_TYPE_LEVEL_HIGH;
    let timer = f.begin_node("timer")?;
    f.property_string("compatible", "arm,armv8-timer")?;
    let mut irqs = Vec::new();
    for ppi in [13, 14, 11, 10] {
        irqs.extend_from_slice(&[GIC_PPI, ppi, ppi_flags]);
    }
    f.property_array_u32("interrupts", &irqs)?;
    f.end_node(timer)?;

    let clk = f.begin_node("apb-pclk")?;
    f.property_string("compatible", "fixed-clock")?;
    f.property_u32("#clock-cells", 0)?;
    f.property_u32("clock-frequency", 24_000_000)?;
    f.property_string("clock-output-names", "clk24mhz")?;
    f.property_phandle(PHANDLE_APB_PCLK)?;
    f.end_node(clk)?;

    let uart = f.begin_node(&format!("uart@{UART_BASE:x}"))?;
    f.property_string("compatible", "ns16550a")?;
    f.property_array_u64("reg", &[UART_BASE, UART_SIZE])?;
    f.property_u32("clock-frequency", 1_843_200)?;
    // vm-superio signals the UART interrupt as an event (irqfd): an edge.
    f.property_array_u32("interrupts", &[GIC_SPI, UART_SPI, IRQ_TYPE_EDGE_RISING])?;
    f.end_node(uart)?;

    let rtc = f.begin_node(&format!("rtc@{RTC_BASE:x}"))?;
    f.property_string_list(
        "compatible",
        vec!["arm,pl031".into(), "arm,primecell".into()],
    )?;
    f.property_array_u64("reg", &[RTC_BASE, RTC_SIZE])?;
    // The VMM holds the line while RTCMIS is set: level.
    f.property_array_u32("interrupts", &[GIC_SPI, RTC_SPI, IRQ_TYPE_LEVEL_HIGH])?;
    f.property_u32("clocks", PHANDLE_APB_PCLK)?;
    f.property_string("clock-names", "apb_pclk")?;
    f.property_null("wakeup-source")?;
    f.end_node(rtc)?;

    f.end_node(root)?;
    f.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn be32(b: &[u8], off: usize) -> u32 {
        u32::from_be_bytes(b[off..off + 4].try_into().unwrap())
    }

    /// A minimal FDT reader: every node's path with its properties.
    fn parse(blob: &[u8]) -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
        assert_eq!(be32(blob, 0), 0xd00d_feed, "magic");
        assert_eq!(be32(blob, 4) as usize, blob.len(), "totalsize");
        let st = be32(blob, 8) as usize;
        let strings = be32(blob, 12) as usize;
        let mut nodes = BTreeMap::new();
        let mut path: Vec<String> = Vec::new();
        let mut p = st;
        loop {
            let tok = be32(blob, p);
            p += 4;
            match tok {
                1 => {
                    let end = p + blob[p..].iter().position(|&c| c == 0).unwrap();
                    path.push(String::from_utf8(blob[p..end].to_vec()).unwrap());
                    p = (end + 1 + 3) & !3;
                    nodes.insert(path.join("/"), BTreeMap::new());
                }
                2 => {
                    path.pop();
                }
                3 => {
                    let len = be32(blob, p) as usize;
                    let nameoff = be32(blob, p + 4) as usize;
                    let s = strings + nameoff;
                    let e = s + blob[s..].iter().position(|&c| c == 0).unwrap();
                    let name = String::from_utf8(blob[s..e].to_vec()).unwrap();
                    let val = blob[p + 8..p + 8 + len].to_vec();
                    nodes.get_mut(&path.join("/")).unwrap().insert(name, val);
                    p = (p + 8 + len + 3) & !3;
                }
                4 => {}
                9 => break,
                t => panic!("bad token {t}"),
            }
        }
        assert!(path.is_empty());
        nodes
    }

    fn cells(v: &[u8]) -> Vec<u32> {
        v.chunks(4)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn str_list(v: &[u8]) -> Vec<String> {
        v.split(|&c| c == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8(s.to_vec()).unwrap())
            .collect()
    }

    fn tree() -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
        let blob = build(&FdtConfig {
            vcpus: 2,
            ram_size: 256 << 20,
            cmdline: "console=ttyS0 rdinit=/init".into(),
            initrd: Some((0x4f00_0000, 0x4f12_3456)),
        })
        .unwrap();
        assert!((blob.len() as u64) < FDT_MAX_SIZE);
        parse(&blob)
    }

    #[test]
    fn nodes() {
        let t = tree();
        let names: Vec<_> = t.keys().cloned().collect();
        for n in [
            "",
            "/chosen",
            "/memory@40000000",
            "/cpus",
            "/cpus/cpu@0",
            "/cpus/cpu@1",
            "/psci",
            "/intc@8000000",
            "/timer",
            "/apb-pclk",
            "/uart@9000000",
            "/rtc@9010000",
        ] {
            assert!(names.contains(&n.to_string()), "{n} missing in {names:?}");
        }
    }

    #[test]
    fn chosen_memory_cpus_psci() {
        let t = tree();
        let c = &t["/chosen"];
        assert_eq!(str_list(&c["bootargs"]), ["console=ttyS0 rdinit=/init"]);
        assert_eq!(cells(&c["linux,initrd-start"]), [0, 0x4f00_0000]);
        assert_eq!(cells(&c["linux,initrd-end"]), [0, 0x4f12_3456]);
        assert_eq!(str_list(&c["stdout-path"]), ["/uart@9000000"]);
        let m = &t["/memory@40000000"];
        assert_eq!(cells(&m["reg"]), [0, 0x4000_0000, 0, 0x1000_0000]);
        for i in 0..2u32 {
            let cpu = &t[&format!("/cpus/cpu@{i}")];
            assert_eq!(str_list(&cpu["enable-method"]), ["psci"]);
            assert_eq!(cells(&cpu["reg"]), [i]);
        }
        let p = &t["/psci"];
        assert_eq!(str_list(&p["compatible"]), ["arm,psci-1.0", "arm,psci-0.2"]);
        assert_eq!(str_list(&p["method"]), ["hvc"]);
    }

    #[test]
    fn interrupts_and_clocks() {
        let t = tree();
        assert_eq!(cells(&t[""]["interrupt-parent"]), [PHANDLE_GIC]);
        let g = &t["/intc@8000000"];
        assert_eq!(cells(&g["phandle"]), [PHANDLE_GIC]);
        assert_eq!(cells(&g["#interrupt-cells"]), [3]);
        assert!(g.contains_key("interrupt-controller"));
        assert_eq!(
            cells(&g["reg"]),
            [0, 0x0800_0000, 0, 0x1_0000, 0, 0x080a_0000, 0, 0x4_0000]
        );
        let tm = cells(&t["/timer"]["interrupts"]);
        assert_eq!(tm.len(), 12);
        assert_eq!(
            tm.chunks(3).map(|c| c[1]).collect::<Vec<_>>(),
            [13, 14, 11, 10]
        );
        assert!(tm.chunks(3).all(|c| c[0] == 1 && c[2] == 0x304));
        let u = &t["/uart@9000000"];
        assert_eq!(str_list(&u["compatible"]), ["ns16550a"]);
        assert_eq!(cells(&u["interrupts"]), [0, UART_SPI, 1]);
        assert!(u.contains_key("clock-frequency"));
        let r = &t["/rtc@9010000"];
        assert_eq!(str_list(&r["compatible"]), ["arm,pl031", "arm,primecell"]);
        assert_eq!(cells(&r["interrupts"]), [0, RTC_SPI, 4]);
        assert_eq!(cells(&r["clocks"]), [PHANDLE_APB_PCLK]);
        assert_eq!(str_list(&r["clock-names"]), ["apb_pclk"]);
        let clk = &t["/apb-pclk"];
        assert_eq!(cells(&clk["phandle"]), [PHANDLE_APB_PCLK]);
        assert_eq!(str_list(&clk["compatible"]), ["fixed-clock"]);
        assert_eq!(cells(&clk["#clock-cells"]), [0]);
    }
}
