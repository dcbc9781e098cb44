# SPDX-License-Identifier: GPL-2.0
#
# make stable: the fix series' stable backport to the pinned 6.12.y
# (tools/tree/stable-6.12/series), built and booted. Included by the
# Makefile; make stable runs the stable-6.12 target below with BASE=6.12, so
# that everything lands in build/stable-6.12/ (results/stable.ktap).
#
#   - our 6.12 kernel (the fix series, without the Rust RFC): the C selftest
#     in VHE and in protected mode, every case passing;
#   - the pristine 6.12 kernel: the bugs the backport fixes must show there,
#     line_raised_while_running in protected mode (patch 1: 6.12's hypervisor
#     copies hcr_el2 back after every run) and
#     vgic_dist_enabled_by_guest_wakes in VHE (the vGIC patch).

STABLE_RESULTS := $(PROJ)/build/stable-6.12/results
.PHONY: stable
# IN_LANE= : inside make check's lane, the 6.12 kernels are still to build.
stable:
	@$(MAKE) --no-print-directory BASE=6.12 IN_LANE= stable-6.12 \
		$(if $(filter check,$(MAKECMDGOALS))$(IN_CHECK),IN_CHECK=1)

ifeq ($(BASE),6.12)
STABLE_INPUTS = $(B)/Image $(PIMAGE) $(KSFT_INSTALL) $(BOOT_TOOLS) \
	$(PROJ)/tools/checks/reproducer.py $(PROJ)/tools/tree/stable-6.12/stable.mk
# $(call stable_ours,NAME,KERNEL_ARGS,PREFIX): the C selftest on our kernel;
# lead_boot (Makefile) boots the pristine one.
stable_ours = $(call list_one,kvm/$(KSFT_ARCH)/vcpu_suspend,300,/kselftest/kvm/vcpu_suspend) \
		>$(B)/$(1).list; \
	$(PROJ)/tools/boot/mkinitramfs.sh $(B)/$(1).cpio $(B)/$(1).list $(SUSPEND_BINS); \
	$(QEMU) $(B)/Image $(B)/$(1).cpio $(LOGS)/$(1)-console.log $(2); \
	$(PY) $(PROJ)/tools/report/report.py $(LOGS)/$(1)-console.log --list $(B)/$(1).list \
		--no-kunit --prefix $(3)
STABLE_RUN = { $(call stable_ours,stable-vhe,,stable-6.12:); \
	  $(call stable_ours,stable-protected,kvm-arm.mode=protected,stable-6.12:protected:) \
		--expect-log 'protected-mode-on=kvm \[[0-9]+\]: Protected [hn]VHE mode initialized'; \
	  $(call lead_boot,stable-line,line_raised_while_running,protected,pristine-loses-the-line,kvm-arm.mode=protected) | sed "s/ reproducer:/ stable-6.12:reproducer:/"; \
	  $(call lead_boot,stable-vgic,vgic_dist_enabled_by_guest_wakes,vhe,pristine-loses-the-spi,) | sed "s/ reproducer:/ stable-6.12:reproducer:/"; \
	} >$(RESULTS)/stable.ktap || true
.PHONY: stable-6.12
stable-6.12: kernel $(PIMAGE) kselftest-tar
	@$(call cached,stable,$(RESULTS)/stable.ktap,$(STABLE_INPUTS),$(STABLE_RUN))
	@grep -E '^(not )?ok ' $(RESULTS)/stable.ktap
	$(call verdict,$(RESULTS)/stable.ktap)
endif
