// SPDX-License-Identifier: GPL-2.0

//! Userspace-driven vCPU suspend for arm64 KVM.
//!
//! `KVM_SET_MP_STATE(KVM_MP_STATE_SUSPENDED)` marks the vCPU suspended and raises
//! `KVM_REQ_SUSPEND`. The run loop then emulates WFI for the vCPU. If it wakes because a wakeup
//! event is pending, `KVM_RUN` exits with `KVM_EXIT_SYSTEM_EVENT`/`KVM_SYSTEM_EVENT_WAKEUP`; if it
//! wakes for anything else (a signal), the run loop handles that, so `KVM_RUN` returns `-EINTR`.
//! Either way the vCPU stays suspended until userspace sets another state.
//!
//! C declarations:
//! [`arch/arm64/include/asm/kvm_emulate.h`](srctree/arch/arm64/include/asm/kvm_emulate.h).

use kernel::{
    ffi::c_int,
    kvm::{
        LoadedVcpu,
        MpState,
        MpStateLocked,
        Request,
        SystemEvent,
        Vcpu,
        VcpuSuspend, //
    },
};

/// Returns whether the vCPU is in `KVM_MP_STATE_SUSPENDED`.
fn kvm_arm_vcpu_suspended(vcpu: &Vcpu) -> bool {
    vcpu.mp_state() == Some(MpState::Suspended)
}

/// arm64's vCPU suspend, called from C through `kvm_arm_vcpu_suspend()` and
/// `kvm_arm_vcpu_handle_suspend()`.
struct Suspend;

kernel::kvm_arm_vcpu_suspend_entry_points!(Suspend);

impl VcpuSuspend for Suspend {
    /// Suspends the vCPU: the `KVM_MP_STATE_SUSPENDED` case of
    /// `kvm_arch_vcpu_ioctl_set_mpstate()`.
    fn suspend(locked: &MpStateLocked<'_>) {
        let vcpu = locked.vcpu();
        locked.set_mp_state(MpState::Suspended);
        vcpu.make_request(Request::Suspend);
        vcpu.kick();
    }

    /// Handles `KVM_REQ_SUSPEND`, from `check_vcpu_requests()`.
    ///
    /// Returns 1 to go on with the run loop (enter the guest, or handle a signal), 0 to exit to
    /// userspace with the `KVM_SYSTEM_EVENT_WAKEUP` exit prepared in `vcpu->run`.
    fn handle_suspend(vcpu: &LoadedVcpu) -> c_int {
        if !kvm_arm_vcpu_suspended(vcpu) {
            return 1;
        }

        vcpu.wfi();

        // The suspend state is sticky; we do not leave it until userspace explicitly marks the
        // vCPU as runnable. Request that we suspend again later.
        vcpu.make_request(Request::Suspend);

        // Check to make sure the vCPU is actually runnable. If so, exit to userspace informing it
        // of the wakeup condition.
        if vcpu.runnable() {
            vcpu.run().set_system_event_exit(SystemEvent::Wakeup);
            return 0;
        }

        // Otherwise, we were unblocked to process a different event, such as a pending signal.
        // Return 1 and allow kvm_arch_vcpu_ioctl_run() to process the event.
        1
    }
}
