// SPDX-License-Identifier: GPL-2.0
//! A vCPU's binary statistics (`KVM_GET_STATS_FD`).

use std::fs::File;
use std::os::fd::FromRawFd;
use std::os::unix::fs::FileExt;

use kvm_ioctls::VcpuFd;
use vmm_sys_util::ioctl::ioctl;
use vmm_sys_util::ioctl_io_nr;

use super::TestResult;

ioctl_io_nr!(KVM_GET_STATS_FD, kvm_bindings::KVMIO, 0xce);

/// A vCPU's binary statistics (`KVM_GET_STATS_FD`; kvm-ioctls 0.25 has no
/// call for it), readable from any thread while the vCPU runs.
pub struct VcpuStats {
    file: File,
    /// (name, offset of the value in the data block).
    descs: Vec<(String, u64)>,
    data_offset: u64,
}

impl VcpuStats {
    /// Opens the statistics of `vcpu` and reads their descriptors.
    pub fn new(vcpu: &VcpuFd) -> TestResult<Self> {
        // SAFETY: KVM_GET_STATS_FD takes no argument and returns a new fd.
        let fd = unsafe { ioctl(vcpu, KVM_GET_STATS_FD()) };
        if fd < 0 {
            return Err(format!(
                "KVM_GET_STATS_FD: {}",
                std::io::Error::last_os_error()
            ));
        }
        // SAFETY: `fd` is a new file descriptor that nothing else owns.
        let file = unsafe { File::from_raw_fd(fd) };
        let read = |off: u64, len: usize| -> TestResult<Vec<u8>> {
            let mut b = vec![0u8; len];
            file.read_exact_at(&mut b, off)
                .map_err(|e| format!("read of vCPU statistics: {e}"))?;
            Ok(b)
        };
        let u32_at = |b: &[u8], i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        // struct kvm_stats_header, then descriptors of
        // size_of::<kvm_stats_desc>() + name_size bytes each.
        let h = read(0, std::mem::size_of::<kvm_bindings::kvm_stats_header>())?;
        let (name_size, num_desc) = (u32_at(&h, 4) as usize, u32_at(&h, 8) as usize);
        let (desc_offset, data_offset) = (u64::from(u32_at(&h, 16)), u64::from(u32_at(&h, 20)));
        let desc_size = std::mem::size_of::<kvm_bindings::kvm_stats_desc>() + name_size;
        let d = read(desc_offset, desc_size * num_desc)?;
        let descs = d
            .chunks_exact(desc_size)
            .map(|c| {
                let name = &c[std::mem::size_of::<kvm_bindings::kvm_stats_desc>()..];
                let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                (
                    String::from_utf8_lossy(&name[..end]).into_owned(),
                    u64::from(u32_at(c, 8)),
                )
            })
            .collect();
        Ok(VcpuStats {
            file,
            descs,
            data_offset,
        })
    }

    /// The (first) value of statistic `name`.
    pub fn get(&self, name: &str) -> TestResult<u64> {
        let off = self
            .descs
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, off)| off)
            .ok_or_else(|| format!("no vCPU statistic {name:?}"))?;
        let mut b = [0u8; 8];
        self.file
            .read_exact_at(&mut b, self.data_offset + off)
            .map_err(|e| format!("read of vCPU statistic {name}: {e}"))?;
        Ok(u64::from_ne_bytes(b))
    }

    /// Whether the vCPU waits in `kvm_vcpu_block()` (statistic "blocking").
    pub fn blocking(&self) -> TestResult<bool> {
        Ok(self.get("blocking")? != 0)
    }
}
