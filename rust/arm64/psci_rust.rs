// SPDX-License-Identifier: GPL-2.0

//! PSCI, the Power State Coordination Interface (ARM DEN 0022), for arm64 KVM guests.
//!
//! A guest calls PSCI with HVC or SMC, its function id in W0 and its arguments in X1 to X3;
//! `kvm_smccc_call_handler()` hands the PSCI ids to [`kvm_psci_call`], which answers in X0
//! (to X3) or exits to userspace with a system event. This is `arch/arm64/kvm/psci.c` in Rust,
//! function by function and with the same names, return values, exits and vCPU states.
//!
//! VCPU suspend emulation (CPU_SUSPEND) is WFI: the wakeup events are interrupts, as section
//! 5.4.1 of PSCI v0.2 intends for the StateID, and a power-down request is treated as a standby
//! one (5.4.2, clause 3), so every suspend state keeps the register state.
//!
//! C header: [`include/kvm/arm_psci.h`](srctree/include/kvm/arm_psci.h).

use kernel::{
    bindings::{
        self,
        ARM_SMCCC_VERSION_FUNC_ID,
        KVM_ARM_PSCI_0_1,
        KVM_ARM_PSCI_0_2,
        KVM_ARM_PSCI_1_0,
        KVM_ARM_PSCI_1_1,
        KVM_ARM_PSCI_1_2,
        KVM_ARM_PSCI_1_3,
        KVM_PSCI_FN_CPU_OFF,
        KVM_PSCI_FN_CPU_ON,
        PSCI_0_2_FN64_AFFINITY_INFO,
        PSCI_0_2_FN64_CPU_ON,
        PSCI_0_2_FN64_CPU_SUSPEND,
        PSCI_0_2_FN_AFFINITY_INFO,
        PSCI_0_2_FN_CPU_OFF,
        PSCI_0_2_FN_CPU_ON,
        PSCI_0_2_FN_CPU_SUSPEND,
        PSCI_0_2_FN_MIGRATE_INFO_TYPE,
        PSCI_0_2_FN_PSCI_VERSION,
        PSCI_0_2_FN_SYSTEM_OFF,
        PSCI_0_2_FN_SYSTEM_RESET,
        PSCI_1_0_FN64_SYSTEM_SUSPEND,
        PSCI_1_0_FN_PSCI_FEATURES,
        PSCI_1_0_FN_SYSTEM_SUSPEND,
        PSCI_1_1_FN64_SYSTEM_RESET2,
        PSCI_1_1_FN_SYSTEM_RESET2,
        PSCI_1_3_FN64_SYSTEM_OFF2,
        PSCI_1_3_FN_SYSTEM_OFF2, //
    },
    ffi::{
        c_int,
        c_ulong, //
    },
    kvm::{
        GpReg,
        LoadedVcpu,
        MpState,
        Psci,
        Request,
        SystemEvent,
        Vcpu,
        VmRequest, //
    },
    sync::barrier::{
        smp_mb,
        Write, //
    },
};

/// The prefix of this object's kernel messages.
const __LOG_PREFIX: &[u8] = b"kvm\0";

/// A PSCI return value (`PSCI_RET_*`, `PSCI_0_2_*`: small, possibly negative integers) as the
/// guest sees it in X0: sign-extended, as C converts an `int` to `unsigned long`.
const fn psci_ret(val: i32) -> c_ulong {
    // Sign extension intended.
    val as c_ulong
}

const PSCI_RET_SUCCESS: c_ulong = bindings::PSCI_RET_SUCCESS as c_ulong;
const PSCI_RET_NOT_SUPPORTED: c_ulong = psci_ret(bindings::PSCI_RET_NOT_SUPPORTED);
const PSCI_RET_INVALID_PARAMS: c_ulong = psci_ret(bindings::PSCI_RET_INVALID_PARAMS);
const PSCI_RET_ALREADY_ON: c_ulong = psci_ret(bindings::PSCI_RET_ALREADY_ON);
const PSCI_RET_INTERNAL_FAILURE: c_ulong = psci_ret(bindings::PSCI_RET_INTERNAL_FAILURE);
const SMCCC_RET_NOT_SUPPORTED: c_ulong = psci_ret(bindings::SMCCC_RET_NOT_SUPPORTED);

/// The PSCI version the guest sees, `kvm_psci_version()`: 0.1 unless userspace asked for 0.2
/// or later (`KVM_ARM_VCPU_PSCI_0_2`), then the one userspace chose, by default the latest.
fn kvm_psci_version(vcpu: &Vcpu) -> u32 {
    // Our PSCI implementation stays the same across versions from v0.2 onward, only adding the
    // few mandatory functions (such as FEATURES with 1.0) that are required by newer revisions.
    // It is thus safe to return the latest, unless userspace has instructed us otherwise.
    let kvm = vcpu.kvm();
    if kvm.vcpu_has_feature(bindings::KVM_ARM_VCPU_PSCI_0_2) {
        return match kvm.psci_version() {
            0 => bindings::KVM_ARM_PSCI_LATEST,
            version => version,
        };
    }

    KVM_ARM_PSCI_0_1
}

/// Narrows the PSCI register arguments (X1 to X3) to 32 bits, `kvm_psci_narrow_to_32bit()`.
fn kvm_psci_narrow_to_32bit(vcpu: &LoadedVcpu) {
    // Zero the input registers' upper 32 bits. They will be fully zeroed on exit, so we're fine
    // changing them in place.
    for reg in [GpReg::X1, GpReg::X2, GpReg::X3] {
        vcpu.set_reg(reg, vcpu.get_reg(reg) & u32::MAX as c_ulong);
    }
}

/// Returns whether `affinity` has no bits outside MPIDR's affinity fields,
/// `kvm_psci_valid_affinity()`.
fn kvm_psci_valid_affinity(affinity: c_ulong) -> bool {
    affinity & !bindings::MPIDR_HWID_BITMASK == 0
}

/// The MPIDR affinity fields at `affinity_level` and above, or 0 for a level above 3,
/// `kvm_psci_affinity_mask()`.
fn kvm_psci_affinity_mask(affinity_level: c_ulong) -> c_ulong {
    match affinity_level {
        // Shifts by at most 24: no overflow.
        0..=3 => {
            let shift = affinity_level * bindings::MPIDR_LEVEL_BITS as c_ulong;
            bindings::MPIDR_HWID_BITMASK & !((1 << shift) - 1)
        }
        _ => 0,
    }
}

/// CPU_SUSPEND: emulated as WFI, `kvm_psci_vcpu_suspend()`.
fn kvm_psci_vcpu_suspend(vcpu: &LoadedVcpu) -> c_ulong {
    vcpu.wfi();

    PSCI_RET_SUCCESS
}

/// CPU_ON: starts the vCPU whose MPIDR is in X1 at the entry point in X2 with the context id in
/// X3, `kvm_psci_vcpu_on()`.
fn kvm_psci_vcpu_on(source_vcpu: &LoadedVcpu) -> c_ulong {
    let cpu_id = source_vcpu.smccc_get_arg1();
    if !kvm_psci_valid_affinity(cpu_id) {
        return PSCI_RET_INVALID_PARAMS;
    }

    // Make sure the caller requested a valid CPU and that the CPU is turned off.
    let Some(vcpu) = source_vcpu.kvm().mpidr_to_vcpu(cpu_id) else {
        return PSCI_RET_INVALID_PARAMS;
    };

    let locked = vcpu.lock_mp_state();
    if !vcpu.stopped() {
        if kvm_psci_version(source_vcpu) != KVM_ARM_PSCI_0_1 {
            return PSCI_RET_ALREADY_ON;
        }
        return PSCI_RET_INVALID_PARAMS;
    }

    // Propagate the caller's endianness. We always update r0 (or x0) because for PSCI v0.1 the
    // general purpose registers are undefined upon CPU_ON.
    locked.set_reset_state(
        source_vcpu.smccc_get_arg2(),
        source_vcpu.smccc_get_arg3(),
        source_vcpu.is_be(),
    );
    vcpu.make_request(Request::VcpuReset);

    // Make sure the reset request is observed if the RUNNABLE mp_state is observed.
    smp_mb(Write);

    locked.set_mp_state(MpState::Runnable);
    vcpu.wake_up();

    PSCI_RET_SUCCESS
}

/// AFFINITY_INFO: ON if a vCPU whose MPIDR matches X1 at the affinity level in X2 and above is
/// not powered off, OFF if all such vCPUs are, `kvm_psci_vcpu_affinity_info()`.
fn kvm_psci_vcpu_affinity_info(vcpu: &LoadedVcpu) -> c_ulong {
    let mut target_affinity = vcpu.smccc_get_arg1();
    let lowest_affinity_level = vcpu.smccc_get_arg2();

    if !kvm_psci_valid_affinity(target_affinity) {
        return PSCI_RET_INVALID_PARAMS;
    }

    // Determine the target affinity mask.
    let target_affinity_mask = kvm_psci_affinity_mask(lowest_affinity_level);
    if target_affinity_mask == 0 {
        return PSCI_RET_INVALID_PARAMS;
    }

    // Ignore other bits of the target affinity.
    target_affinity &= target_affinity_mask;

    // If one or more vCPUs matching the target affinity are running then ON, else OFF.
    let mut matching_cpus = false;
    for tmp in vcpu.kvm().vcpus() {
        if tmp.mpidr_aff() & target_affinity_mask == target_affinity {
            matching_cpus = true;
            if !tmp.stopped() {
                return bindings::PSCI_0_2_AFFINITY_LEVEL_ON as c_ulong;
            }
        }
    }

    if !matching_cpus {
        return PSCI_RET_INVALID_PARAMS;
    }

    bindings::PSCI_0_2_AFFINITY_LEVEL_OFF as c_ulong
}

/// Stops every vCPU of the VM and prepares the system event exit `event` with `flags`,
/// `kvm_prepare_system_event()`.
fn kvm_prepare_system_event(vcpu: &LoadedVcpu, event: SystemEvent, flags: u64) {
    // The KVM ABI specifies that a system event exit may call KVM_RUN again and may perform
    // shutdown/reboot at a later time than when the actual request is made. Since we are
    // implementing PSCI and a caller of PSCI reboot and shutdown expects that the system shuts
    // down or reboots immediately, let's make sure that vCPUs are not run after this call is
    // handled and before the vCPUs have been re-initialized.
    let kvm = vcpu.kvm();
    for tmp in kvm.vcpus() {
        tmp.lock_mp_state().set_mp_state(MpState::Stopped);
    }
    kvm.make_all_cpus_request(VmRequest::Sleep);

    let run = vcpu.run();
    run.set_system_event_exit(event);
    run.set_system_event_flags(flags);
}

/// SYSTEM_OFF, `kvm_psci_system_off()`.
fn kvm_psci_system_off(vcpu: &LoadedVcpu) {
    kvm_prepare_system_event(vcpu, SystemEvent::Shutdown, 0);
}

/// SYSTEM_OFF2, `kvm_psci_system_off2()`.
fn kvm_psci_system_off2(vcpu: &LoadedVcpu) {
    kvm_prepare_system_event(
        vcpu,
        SystemEvent::Shutdown,
        bindings::KVM_SYSTEM_EVENT_SHUTDOWN_FLAG_PSCI_OFF2.into(),
    );
}

/// SYSTEM_RESET, `kvm_psci_system_reset()`.
fn kvm_psci_system_reset(vcpu: &LoadedVcpu) {
    kvm_prepare_system_event(vcpu, SystemEvent::Reset, 0);
}

/// SYSTEM_RESET2, `kvm_psci_system_reset2()`.
fn kvm_psci_system_reset2(vcpu: &LoadedVcpu) {
    kvm_prepare_system_event(
        vcpu,
        SystemEvent::Reset,
        bindings::KVM_SYSTEM_EVENT_RESET_FLAG_PSCI_RESET2.into(),
    );
}

/// SYSTEM_SUSPEND: exits to userspace, which implements it, `kvm_psci_system_suspend()`.
fn kvm_psci_system_suspend(vcpu: &LoadedVcpu) {
    vcpu.run().set_system_event_exit(SystemEvent::Suspend);
}

/// NOT_SUPPORTED for a 64-bit function (SMC64/HVC64) called by a 32-bit guest, 0 otherwise,
/// `kvm_psci_check_allowed_function()`.
fn kvm_psci_check_allowed_function(vcpu: &LoadedVcpu, psci_fn: u32) -> c_ulong {
    // Prevent 32 bit guests from calling 64 bit PSCI functions.
    if psci_fn & bindings::PSCI_0_2_64BIT != 0 && vcpu.mode_is_32bit() {
        return PSCI_RET_NOT_SUPPORTED;
    }

    0
}

/// PSCI 0.2, `kvm_psci_0_2_call()`.
fn kvm_psci_0_2_call(vcpu: &LoadedVcpu) -> c_int {
    let mut ret = 1;

    let val = match vcpu.smccc_get_function() {
        // Bits[31:16] = Major Version = 0, Bits[15:0] = Minor Version = 2.
        PSCI_0_2_FN_PSCI_VERSION => KVM_ARM_PSCI_0_2 as c_ulong,
        PSCI_0_2_FN_CPU_SUSPEND | PSCI_0_2_FN64_CPU_SUSPEND => kvm_psci_vcpu_suspend(vcpu),
        PSCI_0_2_FN_CPU_OFF => {
            vcpu.power_off();
            PSCI_RET_SUCCESS
        }
        PSCI_0_2_FN_CPU_ON => {
            kvm_psci_narrow_to_32bit(vcpu);
            kvm_psci_vcpu_on(vcpu)
        }
        PSCI_0_2_FN64_CPU_ON => kvm_psci_vcpu_on(vcpu),
        PSCI_0_2_FN_AFFINITY_INFO => {
            kvm_psci_narrow_to_32bit(vcpu);
            kvm_psci_vcpu_affinity_info(vcpu)
        }
        PSCI_0_2_FN64_AFFINITY_INFO => kvm_psci_vcpu_affinity_info(vcpu),
        // Trusted OS is MP hence does not require migration, or Trusted OS is not present.
        PSCI_0_2_FN_MIGRATE_INFO_TYPE => bindings::PSCI_0_2_TOS_MP as c_ulong,
        PSCI_0_2_FN_SYSTEM_OFF => {
            kvm_psci_system_off(vcpu);
            // We shouldn't be going back to the guest vCPU after receiving a SYSTEM_OFF request.
            // If userspace accidentally/deliberately resumes the guest vCPU, it should see an
            // internal failure from the PSCI return value: preload x0 with INTERNAL_FAILURE.
            ret = 0;
            PSCI_RET_INTERNAL_FAILURE
        }
        PSCI_0_2_FN_SYSTEM_RESET => {
            kvm_psci_system_reset(vcpu);
            // Same reason as SYSTEM_OFF for preloading x0 with INTERNAL_FAILURE.
            ret = 0;
            PSCI_RET_INTERNAL_FAILURE
        }
        _ => PSCI_RET_NOT_SUPPORTED,
    };

    vcpu.smccc_set_retval(val, 0, 0, 0);
    ret
}

/// PSCI_FEATURES: 0 (or the features) for the function id in W1 if this version implements it,
/// NOT_SUPPORTED otherwise.
fn kvm_psci_1_x_features(vcpu: &LoadedVcpu, minor: u32) -> c_ulong {
    // Truncation intended: the function id is 32 bits.
    let arg = vcpu.smccc_get_arg1() as u32;
    let val = kvm_psci_check_allowed_function(vcpu, arg);
    if val != 0 {
        return val;
    }

    match arg {
        PSCI_0_2_FN_PSCI_VERSION
        | PSCI_0_2_FN_CPU_SUSPEND
        | PSCI_0_2_FN64_CPU_SUSPEND
        | PSCI_0_2_FN_CPU_OFF
        | PSCI_0_2_FN_CPU_ON
        | PSCI_0_2_FN64_CPU_ON
        | PSCI_0_2_FN_AFFINITY_INFO
        | PSCI_0_2_FN64_AFFINITY_INFO
        | PSCI_0_2_FN_MIGRATE_INFO_TYPE
        | PSCI_0_2_FN_SYSTEM_OFF
        | PSCI_0_2_FN_SYSTEM_RESET
        | PSCI_1_0_FN_PSCI_FEATURES
        | ARM_SMCCC_VERSION_FUNC_ID => 0,
        PSCI_1_0_FN_SYSTEM_SUSPEND | PSCI_1_0_FN64_SYSTEM_SUSPEND
            if system_suspend_enabled(vcpu) =>
        {
            0
        }
        PSCI_1_1_FN_SYSTEM_RESET2 | PSCI_1_1_FN64_SYSTEM_RESET2 if minor >= 1 => 0,
        PSCI_1_3_FN_SYSTEM_OFF2 | PSCI_1_3_FN64_SYSTEM_OFF2 if minor >= 3 => {
            bindings::PSCI_1_3_OFF_TYPE_HIBERNATE_OFF as c_ulong
        }
        _ => PSCI_RET_NOT_SUPPORTED,
    }
}

/// Returns whether userspace enabled SYSTEM_SUSPEND (`KVM_CAP_ARM_SYSTEM_SUSPEND`).
fn system_suspend_enabled(vcpu: &Vcpu) -> bool {
    vcpu.kvm()
        .test_arch_flag(bindings::KVM_ARCH_FLAG_SYSTEM_SUSPEND_ENABLED)
}

/// PSCI 1.`minor`, `kvm_psci_1_x_call()`.
fn kvm_psci_1_x_call(vcpu: &LoadedVcpu, minor: u32) -> c_int {
    let psci_fn = vcpu.smccc_get_function();
    let mut val = PSCI_RET_NOT_SUPPORTED;
    let mut ret = 1;

    match psci_fn {
        // PSCI_VERSION(1, minor).
        PSCI_0_2_FN_PSCI_VERSION => val = (KVM_ARM_PSCI_1_0 | minor) as c_ulong,
        PSCI_1_0_FN_PSCI_FEATURES => val = kvm_psci_1_x_features(vcpu, minor),
        PSCI_1_0_FN_SYSTEM_SUSPEND | PSCI_1_0_FN64_SYSTEM_SUSPEND => {
            if psci_fn == PSCI_1_0_FN_SYSTEM_SUSPEND {
                kvm_psci_narrow_to_32bit(vcpu);
            }
            // Return directly to userspace without changing the vCPU's registers. Userspace
            // depends on reading the SMCCC parameters to implement SYSTEM_SUSPEND.
            if system_suspend_enabled(vcpu) {
                kvm_psci_system_suspend(vcpu);
                return 0;
            }
        }
        PSCI_1_1_FN_SYSTEM_RESET2 | PSCI_1_1_FN64_SYSTEM_RESET2 => {
            if psci_fn == PSCI_1_1_FN_SYSTEM_RESET2 {
                kvm_psci_narrow_to_32bit(vcpu);
            }
            if minor >= 1 {
                // Truncation intended: the reset type is 32 bits.
                let arg = vcpu.smccc_get_arg1() as u32;

                // `arg <= PSCI_1_1_RESET_TYPE_SYSTEM_WARM_RESET` in C, the lowest value (0).
                if arg == bindings::PSCI_1_1_RESET_TYPE_SYSTEM_WARM_RESET
                    || arg >= bindings::PSCI_1_1_RESET_TYPE_VENDOR_START
                {
                    kvm_psci_system_reset2(vcpu);
                    vcpu.set_reg(GpReg::X0, PSCI_RET_INTERNAL_FAILURE);
                    return 0;
                }

                val = PSCI_RET_INVALID_PARAMS;
            }
        }
        PSCI_1_3_FN_SYSTEM_OFF2 | PSCI_1_3_FN64_SYSTEM_OFF2 => {
            if psci_fn == PSCI_1_3_FN_SYSTEM_OFF2 {
                kvm_psci_narrow_to_32bit(vcpu);
            }
            if minor >= 3 {
                // Truncation intended: the off type is 32 bits.
                let arg = vcpu.smccc_get_arg1() as u32;
                // SYSTEM_OFF2 defaults to HIBERNATE_OFF if arg1 is zero. arg2 must be zero.
                if (arg != 0 && arg != bindings::PSCI_1_3_OFF_TYPE_HIBERNATE_OFF)
                    || vcpu.smccc_get_arg2() != 0
                {
                    val = PSCI_RET_INVALID_PARAMS;
                } else {
                    kvm_psci_system_off2(vcpu);
                    // We shouldn't be going back to the guest after receiving a SYSTEM_OFF2
                    // request. Preload a return value of INTERNAL_FAILURE should userspace
                    // ignore the exit and resume the vCPU.
                    val = PSCI_RET_INTERNAL_FAILURE;
                    ret = 0;
                }
            }
        }
        _ => return kvm_psci_0_2_call(vcpu),
    }

    vcpu.smccc_set_retval(val, 0, 0, 0);
    ret
}

/// PSCI 0.1, with KVM's own function ids, `kvm_psci_0_1_call()`.
fn kvm_psci_0_1_call(vcpu: &LoadedVcpu) -> c_int {
    let val = match vcpu.smccc_get_function() {
        KVM_PSCI_FN_CPU_OFF => {
            vcpu.power_off();
            PSCI_RET_SUCCESS
        }
        KVM_PSCI_FN_CPU_ON => kvm_psci_vcpu_on(vcpu),
        _ => PSCI_RET_NOT_SUPPORTED,
    };

    vcpu.smccc_set_retval(val, 0, 0, 0);
    1
}

/// arm64 KVM's PSCI, called from C through `kvm_psci_call()`.
struct KvmPsci;

kernel::kvm_arm_psci_entry_point!(KvmPsci);

impl Psci for KvmPsci {
    /// Handles a PSCI call from the guest, trapped from HVC (or SMC), `kvm_psci_call()`.
    ///
    /// Returns 1 to go back to the guest, 0 to exit to userspace. No error is returned: an
    /// unknown function id is answered with NOT_SUPPORTED.
    fn call(vcpu: &LoadedVcpu) -> c_int {
        let psci_fn = vcpu.smccc_get_function();
        let version = kvm_psci_version(vcpu);

        let val = kvm_psci_check_allowed_function(vcpu, psci_fn);
        if val != 0 {
            vcpu.smccc_set_retval(val, 0, 0, 0);
            return 1;
        }

        match version {
            KVM_ARM_PSCI_1_3 => kvm_psci_1_x_call(vcpu, 3),
            KVM_ARM_PSCI_1_2 => kvm_psci_1_x_call(vcpu, 2),
            KVM_ARM_PSCI_1_1 => kvm_psci_1_x_call(vcpu, 1),
            KVM_ARM_PSCI_1_0 => kvm_psci_1_x_call(vcpu, 0),
            KVM_ARM_PSCI_0_2 => kvm_psci_0_2_call(vcpu),
            KVM_ARM_PSCI_0_1 => kvm_psci_0_1_call(vcpu),
            _ => {
                kernel::pr_warn_once!("Unknown PSCI version {}\n", version);
                vcpu.smccc_set_retval(SMCCC_RET_NOT_SUPPORTED, 0, 0, 0);
                1
            }
        }
    }
}
