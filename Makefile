# SPDX-License-Identifier: GPL-2.0
#
# Rust vCPU suspend for arm64 KVM on Debian's Linux 7.3 (and the fix
# series' stable backport to 6.12.y: make stable).
#
#   make run     build what is missing, boot the Rust kernel in QEMU and show a
#                vCPU being suspended and woken up
#   make check   build, boot and run every test; KTAP, then
#                "N passed, N failed, N skipped"; non-zero exit on a failure
#   make test    the quick loop: rebuild, one boot, both suspend selftests
#                on both implementations and a fuzzer smoke
#   also: check-debug, tpidr-loop, gate, leads, stable, stress,
#         stress-widened, fuzz, bench, exit-roundtrip, mutants, patches,
#         patches-check, docs-check, kselftest-tar, measure-loop, results-docs
#         (README.md), results-timings, cache-clean
#
# Everything lands in build/ (see README.md). The prepared kernel tree is
# build/src, a git repository: pristine 7.3 plus tools/tree/series as commits.

SHELL := /bin/bash
# make check orders its stages by the order of its prerequisites, and its
# lanes (below) are its only parallelism: no make -j at this level.
.NOTPARALLEL:
.SHELLFLAGS := -eo pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:

PROJ    := $(CURDIR)
# The kernel base (tools/setup/pins): 7.3, the base of both series, builds in
# build/ from tools/tree/series; 6.12, the stable backport of the fix series
# alone (tools/tree/stable-6.12/, make stable), in build/stable-6.12/.
BASE    ?= $(shell sed -n 's/^BASE=$${BASE:-\(.*\)}$$/\1/p' $(PROJ)/tools/setup/versions.env)
CONFIGS := $(PROJ)/tools/tree/config/kvm-rust.config
ifeq ($(BASE),7.3)
B       := $(PROJ)/build
SERIES  := $(PROJ)/tools/tree/series
KSFT_ARCH := arm64
CONFIGS += $(PROJ)/tools/tree/config/suspend-rust.config $(PROJ)/tools/tree/config/kunit-autorun.config
else ifeq ($(BASE),6.12)
B       := $(PROJ)/build/stable-6.12
SERIES  := $(PROJ)/tools/tree/stable-6.12/series
KSFT_ARCH := aarch64
# The backport's kernel is built in the series worktree
# (tools/tree/worktree.sh), on the objects of the pristine kernel that
# tools/tree/pristine.sh builds there first: kbuild rebuilds only what the
# fixes touch instead of a second whole kernel (stable.mk).
KTREE   := $(B)/trees/series/src
KOBJ    := $(B)/trees/series/obj
KERNEL_PREREQS := $(B)/pristine/Image
KERNEL_CHECKOUT = @$(PROJ)/tools/tree/worktree.sh $(SRC) series work >/dev/null
# Both 6.12 kernels are built without Rust: the backport has none.
CONFIGS += $(PROJ)/tools/tree/stable-6.12/no-rust.config
WT_CONFIGS := $(CONFIGS)
else
$(error BASE=$(BASE): the bases are 7.3 and, for make stable, 6.12)
endif
LINUX_SOURCE_PKG := linux-source-$(BASE)
LINUX_TARBALL    := /usr/src/linux-source-$(BASE).tar.xz
# What the scripts under tools/ read.
export BUILD := $(B)
export SERIES LINUX_SOURCE_PKG LINUX_TARBALL KSFT_ARCH
SRC     := $(B)/src
# The tree and the kbuild output directory of build/Image.
KTREE   ?= $(SRC)
KOBJ    ?= $(B)/kernel
KERNEL_PREREQS ?= tree $(KOBJ)/.config
# The configuration of the worktrees' kernels (tools/tree/worktree.sh): the
# pristine kernel's, the series check's and the mutants'.
WT_CONFIGS ?= $(PROJ)/tools/tree/config/kvm-rust.config
export WT_CONFIGS
LOGS    := $(B)/logs
# One result file per check, NAME.ktap, and the key of its inputs, NAME.key.
RESULTS := $(B)/results
QEMU    := $(PROJ)/tools/boot/boot.sh
PY      := PYTHONPATH=$(PROJ)/tools python3

# $(call cached,NAME,OUTPUT,INPUTS,COMMAND): run COMMAND, which writes OUTPUT
# (a file of build/results, or a console log), unless INPUTS have the content they had when it
# last passed (tools/harness/inputs.py: files, directories, git:REPO:REV,
# status:REPO, =TEXT), and COMMAND is the same: its text, with the clone's
# path as ".", is written to build/results/NAME.recipe, an input too.
# make check forgets every input key when it fails.
comma := ,
recipe_file = $(shell mkdir -p $(RESULTS))$(file >$(RESULTS)/$(1).recipe,$(subst $(PROJ),.,$(2)))
cached = $(call recipe_file,$(1),$(4))if $(PY) -m harness.inputs fresh $(1) $(2) -- \
		$(3) $(RESULTS)/$(1).recipe; then \
		echo "$(1): inputs unchanged since it last passed: $(2) kept"; \
	else $(4); $(PY) -m harness.inputs save $(1) $(2) -- $(3) $(RESULTS)/$(1).recipe; fi
# $(call verdict,KTAP): fail a check's own target on a "not ok" line; inside
# make check the report gives the verdict.
verdict = $(if $(filter check,$(MAKECMDGOALS))$(IN_CHECK),,@! grep -q '^not ok' $(1))

# Upstream KVM selftests that make check runs, with their time limits (s):
# "TARGET SECONDS", TARGET relative to tools/testing/selftests/kvm.
KVM_LIST  := $(PROJ)/selftests/kvm.list
BASELINE  := $(PROJ)/selftests/baseline-failures

.PHONY: all setup tree kernel initramfs check run mutants patches patches-check clean help \
	stage-mark-begin
all: kernel kselftest-tar

help:
	@sed -n '3,15p' Makefile | sed 's/^# \{0,1\}//'

# Installs what is missing (apt, crates.io) at the versions of
# tools/setup/pins; a no-op when all is there. pins-outdated lists the newer
# versions the archive offers (not part of make check: a bump is a decision).
.PHONY: pins-outdated
setup: $(B)/.setup
$(B)/.setup: $(PROJ)/tools/setup/setup.sh $(PROJ)/tools/setup/versions.env $(PROJ)/tools/setup/pins
	@mkdir -p $(LOGS) $(RESULTS)
	$(PROJ)/tools/setup/setup.sh
	@touch $@
pins-outdated:
	@$(PROJ)/tools/setup/setup.sh --outdated

# The pristine base + $(SERIES); cheap when nothing changed, and it moves only
# the files whose content changed, so kbuild rebuilds only what it must.
tree: setup
	@$(PROJ)/tools/tree/prepare-tree.sh $(SRC)

$(KOBJ)/.config: $(CONFIGS) $(PROJ)/tools/tree/mkconfig.sh | tree
	$(PROJ)/tools/tree/mkconfig.sh $(SRC) $(KOBJ) $(CONFIGS)
	@touch $@

# $(call kbuild,NAME,OBJ,TARGETS[,TREE]): kbuild in TREE (default: the
# prepared tree) into OBJ, log in build/logs/NAME.log, the first errors shown
# on failure.
kbuild = @echo "$(1): building (log: $(LOGS)/$(1).log)"; \
	$(PROJ)/tools/tree/kmake.sh $(or $(4),$(SRC)) $(2) CLIPPY=1 $(3) >$(LOGS)/$(1).log 2>&1 || \
	{ grep -E -B2 -A12 'error(\[|:)' $(LOGS)/$(1).log | head -60; \
	  echo "$(1): build failed, see $(LOGS)/$(1).log"; exit 1; }

# Kbuild decides what to rebuild; always ask it.
# .source-rev: the commit the objects were built from, for a tree as it is
# committed (tools/tree/pristine.sh starts from them).
kernel: $(KERNEL_PREREQS)
	$(KERNEL_CHECKOUT)
	@rm -f $(KOBJ)/.source-rev
	$(call kbuild,kernel,$(KOBJ),Image vmlinux headers,$(KTREE))
	@! git -C $(KTREE) status --porcelain --untracked-files=no | grep -q . && \
		git -C $(KTREE) rev-parse HEAD >$(KOBJ)/.source-rev || true
	@cp $(KOBJ)/arch/arm64/boot/Image $(B)/Image
	@cp $(KOBJ)/vmlinux $(B)/vmlinux

# The Rust selftest (selftests/rust): cross-built with Debian's cargo and
# rustc and the arm64 std of libstd-rust-web-dev:arm64, statically linked.
RUST_ST    := $(PROJ)/selftests/rust
RUST_TGT   := aarch64-unknown-linux-gnu
RUST_BIN   := $(B)/rust-selftest/$(RUST_TGT)/release/vcpu_suspend_rs
CARGO_ENV  := PATH=/usr/bin:$$PATH RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
CARGO      := $(CARGO_ENV) /usr/bin/cargo
# The VMM of selftests/vmm (make linux-suspend, below) and its nested guest.
VMM_CRATE := $(PROJ)/selftests/vmm
VMM_BIN   := $(B)/vmm/$(RUST_TGT)/release/suspend_vmm
VMM_OPTS  ?=
VMM_ARGS  := suspend_vmm /guest/Image /guest/initrd.cpio $(VMM_OPTS)
VMM_CMD   := /kselftest/kvm/$(VMM_ARGS)
L2_INITRD := $(B)/vmm/l2-initrd.cpio
# What an initramfs needs to run the VMM: it, the guest kernel, its initramfs.
VMM_FILES  = $(VMM_BIN):/kselftest/kvm/suspend_vmm $(B)/Image:/guest/Image \
	$(L2_INITRD):/guest/initrd.cpio
# The guest's test-list lines: on the Rust implementation, on the C one, and
# with the first SYSTEM_SUSPEND answered DENIED.
LINUX_SUSPEND_LIST = $(call on_both,linux-suspend,300,$(VMM_ARGS)); \
	$(call list_one,linux-suspend-denied,300,$(VMM_CMD) --deny-first)
.PHONY: rust-selftest rust-selftest-host docs-check
rust-selftest: setup
	@echo "rust-selftest: cargo build (log: $(LOGS)/rust-selftest.log)"
	@cd $(RUST_ST) && RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --locked \
		--release --target $(RUST_TGT) --target-dir $(B)/rust-selftest \
		>$(LOGS)/rust-selftest.log 2>&1 || { tail -30 $(LOGS)/rust-selftest.log; exit 1; }

# Host side of the Rust selftest: cargo test, clippy and rustfmt, as KTAP
# lines for the report.
rust-selftest-host: setup
	@$(call cached,rust-host,$(RESULTS)/rust-host.ktap,$(RUST_ST) $(VMM_CRATE) \
		$(PROJ)/tools/checks/rust-host-checks.sh,\
		{ $(PROJ)/tools/checks/rust-host-checks.sh $(RUST_ST) $(B); \
		  $(PROJ)/tools/checks/rust-host-checks.sh $(VMM_CRATE) $(B) vmm-; } >$(RESULTS)/rust-host.ktap)
	$(call verdict,$(RESULTS)/rust-host.ktap)

# The test initramfs: the whole kselftest package at /kselftest. The main
# boot's list (check.list) runs both suspend selftests and upstream
# psci_test on the Rust path (suspend and PSCI) and
# on the C one (the A/B switch, tools/tree/ab), the bench smoke, the
# stress, the fuzzer, the PSCI differential fuzzer, run_kselftest.sh and the
# Linux-guest suspends. The
# debug kernel's list (debug.list, made by check-debug) adds the programs of
# selftests/kvm.list, which make check runs on our kernel in the gate.
KSFT_RUN := kvm:vcpu_suspend kvm:vcpu_suspend_rs
initramfs: kselftest-tar vmm $(L2_INITRD)
	@{ $(call on_both,kvm/$(KSFT_ARCH)/vcpu_suspend,120,vcpu_suspend); \
	   $(call on_both,kvm/$(KSFT_ARCH)/vcpu_suspend_rs,120,vcpu_suspend_rs); \
	   $(call on_both,kvm/$(KSFT_ARCH)/psci_test,60,psci_test); \
	   $(call list_one,bench-smoke,120,/kselftest/kvm/vcpu_suspend_rs --bench-smoke); \
	   $(call list_one,psci-bench-smoke,120,/kselftest/kvm/vcpu_suspend_rs --psci-bench-smoke); \
	   $(call on_both,stress,120,vcpu_suspend_rs --stress 10 8); \
	   $(call on_both,fuzz,120,vcpu_suspend_rs --fuzz $(FUZZ_SEED) 3000); \
	   $(call list_one,psci-diff,300,/kselftest/kvm/vcpu_suspend_rs --psci-diff $(FUZZ_SEED) $(PSCI_DIFF_CALLS)); \
	   $(call list_one,run_kselftest.sh,600,/kselftest/run_kselftest.sh $(addprefix -t ,$(KSFT_RUN))); \
	   $(LINUX_SUSPEND_LIST); \
	 } >$(B)/check.list
	$(PROJ)/tools/boot/mkinitramfs.sh $(B)/check.cpio $(B)/check.list $(KSFT_INSTALL):/kselftest \
		$(VMM_FILES)

# $(call on_both,NAME,SECONDS,PROGRAM ARGS): the guest's test-list lines
# that run /kselftest/kvm/PROGRAM on the Rust implementation (NAME), then on
# the C one (NAME@c), in the same boot.
on_both = $(PY) -m harness.ktap list both $(1) $(2) $(3)
# $(call list_one,NAME,SECONDS,COMMAND): one line of a guest test list.
list_one = $(PY) -m harness.ktap list one $(1) $(2) $(3)

# The two suspend selftests alone, for the boots that run nothing else: a
# small initramfs instead of the whole kselftest package.
SUSPEND_BINS = $(KSFT_INSTALL)/kvm/vcpu_suspend:/kselftest/kvm/vcpu_suspend \
	$(if $(KSFT_RUST),$(KSFT_INSTALL)/kvm/vcpu_suspend_rs:/kselftest/kvm/vcpu_suspend_rs)

# $(call boot_list,NAME,BOOT_TIMEOUT): boots build/Image with the tests of
# build/NAME.list and reports them (build/logs/NAME.ktap).
boot_list = @$(PROJ)/tools/boot/mkinitramfs.sh $(B)/$(1).cpio $(B)/$(1).list $(SUSPEND_BINS); \
	BOOT_TIMEOUT=$(2) $(QEMU) $(B)/Image $(B)/$(1).cpio $(LOGS)/$(1)-console.log; \
	$(PY) $(PROJ)/tools/report/report.py $(LOGS)/$(1)-console.log --list $(B)/$(1).list \
		--kunit-min 0 $(FIGURES) | tee $(RESULTS)/$(1).ktap

# The regression gate (tools/checks/gate.py): every arm64 KVM selftest of 7.3
# (selftests/gate.list) booted on our kernel; the tests that do not pass
# there and are not known failures (selftests/baseline-failures) are booted
# again, alone, on the pristine kernel, which decides them: a test passing
# on pristine must pass here.
GATE_LIST := $(PROJ)/selftests/gate.list
PIMAGE    := $(B)/pristine/Image
.PHONY: pristine-kernel gate
pristine-kernel: $(PIMAGE)
# The pristine tree is fixed; only the configuration and the way of building
# it can change.
# On 7.3 it starts from the project kernel's objects when the worktree has
# none (the kernel stage comes first in make check); the 6.12 pristine
# kernel is the first built there.
PRISTINE_SEED := $(if $(filter 7.3,$(BASE)),$(KOBJ))
$(PIMAGE): $(WT_CONFIGS) $(PROJ)/tools/tree/pristine.sh \
		$(PROJ)/tools/tree/kmake.sh $(PROJ)/tools/tree/worktree.sh | tree
	@$(PROJ)/tools/tree/pristine.sh $(SRC) $(PIMAGE) $(PRISTINE_SEED)

# The binaries the gate runs, not the whole kselftest package: a change to
# the suspend selftests alone (vcpu_suspend_rs) does not boot it again.
GATE_BINS = $(patsubst /kselftest/%,$(KSFT_INSTALL)/%,$(sort $(shell $(PY) -m harness.ktap list gate \
	$(GATE_LIST) | cut -d' ' -f3)))
# The modules of tools/harness a check's script imports, not the package:
# a change to the timings or the keys' code runs no check again.
HARNESS = $(addprefix $(PROJ)/tools/harness/,__init__.py $(1))
GATE_INPUTS = $(PIMAGE) $(B)/Image $(GATE_BINS) $(GATE_LIST) $(BASELINE) \
	$(PROJ)/tools/checks/gate.py $(call HARNESS,ktap.py pins.py) $(BOOT_TOOLS)
GATE_PY  = $(PY) $(PROJ)/tools/checks/gate.py
GATE_RUN = $(PROJ)/tools/boot/mkinitramfs.sh $(B)/gate.cpio $(B)/gate.list $(KSFT_INSTALL):/kselftest; \
	echo "gate: the upstream list on our kernel"; \
	BOOT_TIMEOUT=5400 $(QEMU) $(B)/Image $(B)/gate.cpio $(LOGS)/gate-project.log; \
	rm -f $(LOGS)/gate-pristine.log; \
	$(GATE_PY) --decide $(LOGS)/gate-project.log --list $(B)/gate.list \
		--baseline $(BASELINE) >$(B)/gate-pristine.list; \
	if [ -s $(B)/gate-pristine.list ]; then \
		echo "gate: deciding on the pristine kernel: $$(cut -d' ' -f1 $(B)/gate-pristine.list | tr '\n' ' ')"; \
		$(PROJ)/tools/boot/mkinitramfs.sh $(B)/gate-pristine.cpio $(B)/gate-pristine.list \
			$(KSFT_INSTALL):/kselftest; \
		BOOT_TIMEOUT=5400 $(QEMU) $(PIMAGE) $(B)/gate-pristine.cpio $(LOGS)/gate-pristine.log; \
	fi; \
	$(GATE_PY) $(LOGS)/gate-pristine.log $(LOGS)/gate-project.log \
		--list $(B)/gate.list --baseline $(BASELINE) --table $(RESULTS)/gate.md \
		>$(RESULTS)/gate.ktap || true
gate: $(call BUILT,$(PIMAGE) kernel kselftest-tar)
	@$(PY) -m harness.ktap list gate $(GATE_LIST) >$(B)/gate.list
	@$(call cached,gate,$(RESULTS)/gate.ktap$(comma)$(RESULTS)/gate.md,$(GATE_INPUTS),$(GATE_RUN))
	@cat $(RESULTS)/gate.md
	$(call verdict,$(RESULTS)/gate.ktap)

# The report must find every program of the guest's test list; it keeps the
# figures that the stress, the fuzzer and the bench smoke print.
REPORT_EXPECT = --list $(B)/check.list $(FIGURES)
FIGURES = --figures stress --figures fuzz --figures bench-smoke

# make check: every check below, each writing its result file in
# build/results and re-run only when its inputs changed (cached, above); then
# one report of them all, and the cover letters filled with this run's
# figures. First the builds every check needs (CHECK_BUILDS), then the checks
# in two lanes at once (lanes): a QEMU boot keeps one core busy, so the
# lane of boots (LANE_BOOTS) runs beside the lane of builds and the mutants'
# boots (LANE_BUILDS), on the other core; on more cores, kbuild takes what
# the boots leave. The lanes share no tree: the series worktree (the
# pristine kernel, patches-check, then mutants) is lane builds' alone.
CHECK_BUILDS := setup kernel pristine-kernel kselftest-tar initramfs rust-selftest-host host-checks
LANE_BOOTS   := gate leads boot protected stable
LANE_BUILDS  := patches-check docs-check mutants
CHECKS := rust-selftest-host host-checks $(LANE_BOOTS) $(LANE_BUILDS)
# make check's stages, in order, a mark after each stage (build/stage-marks,
# and one file of marks per lane) times it, and the times go to
# build/results/timings.txt (stage:NAME lines, and cpu:NAME for the CPU
# seconds; make results-docs shows them), so that a slowdown is seen where it
# happens; stage:lanes is the wall time of both lanes, cpu:lanes their CPU.
# A stage's time includes what it was the first to need.
# CHECK_STAGE_TIMES= (empty) records nothing (make measure-loop).
CHECK_STAGES := $(CHECK_BUILDS) lanes
CHECK_STAGE_TIMES ?= $(RESULTS)/timings.txt
STAGE_MARKS ?= $(B)/stage-marks
LANE_MARKS = $(B)/stage-marks-lane-$(1)
# A mark is "NAME EPOCH TICKS": TICKS, the CPU time (user and system, in
# clock ticks) that the make running the stages and every process it has
# waited for used so far (/proc/PID/stat of the recipe's parent): the CPU a
# stage used, beside its wall time, on a machine where the lanes share cores.
MARK = $$(date +%s) $$(awk '{ printf "%d\n", $$14 + $$15 + $$16 + $$17 }' /proc/$$PPID/stat)
stage-mark-begin:
	@mkdir -p $(B) && echo "begin $(MARK)" >$(STAGE_MARKS)
stage-mark-%:
	@echo "$* $(MARK)" >>$(STAGE_MARKS)
# A lane: a make of its own (IN_LANE=1: what CHECK_BUILDS built is taken as
# built, below; -k: a stage that fails does not stop the ones after it), its
# output prefixed with its name. lanes runs both to their end and leaves
# their exit status in build/lanes.status; make check reports, then fails
# (forgetting every key) if a lane failed.
lane = ( $(MAKE) -k --no-print-directory IN_LANE=1 IN_CHECK=1 STAGE_MARKS=$(call LANE_MARKS,$(1)) \
		lane-run LANE_STAGES="$(2)" 2>&1 | sed -u 's/^/[$(1)] /' )
LANES_STATUS := $(B)/lanes.status
.PHONY: lanes lane-run
lanes:
	@echo "lanes: $(LANE_BOOTS) | $(LANE_BUILDS), at once"
	@rm -f $(LANES_STATUS); $(call lane,boots,$(LANE_BOOTS)) & boots=$$!; \
	 $(call lane,builds,$(LANE_BUILDS)) & builds=$$!; \
	 rc=0; wait $$boots || rc=$$?; wait $$builds || rc=$$?; echo $$rc >$(LANES_STATUS); \
	 [ $$rc = 0 ] || echo "lanes: a lane failed (exit $$rc), see its lines above; the report follows"
lane-run: stage-mark-begin $(foreach s,$(LANE_STAGES),$(s) stage-mark-$(s))
# $(call BUILT,TARGETS): prerequisites of a check that make check builds
# before its lanes: none inside a lane, where two lanes must not run kbuild,
# the selftests' build or the prepared tree's git in one tree at once.
BUILT = $(if $(IN_LANE),,$(1))
check: stage-mark-begin $(foreach s,$(CHECK_STAGES),$(s) stage-mark-$(s))
	@[ -z "$(CHECK_STAGE_TIMES)" ] || { $(PY) -m harness.timings stages $(STAGE_MARKS) \
		$(CHECK_STAGE_TIMES); for l in boots builds; do $(PY) -m harness.timings stages \
		$(B)/stage-marks-lane-$$l $(CHECK_STAGE_TIMES) $$l; done; }
	$(PY) $(PROJ)/tools/report/report.py $(LOGS)/console.log --baseline $(BASELINE) \
		--host $(RESULTS)/host-checks.ktap --host $(RESULTS)/rust-host.ktap \
		--host $(RESULTS)/patches-check.ktap --host $(RESULTS)/docs-check.ktap \
		--host $(RESULTS)/mutants.ktap --host $(RESULTS)/gate.ktap --kunit-min 100 \
		--results $(RESULTS)/protected.ktap --results $(RESULTS)/leads.ktap \
		--results $(STABLE_RESULTS)/stable.ktap \
		$(REPORT_EXPECT) | tee $(RESULTS)/check.ktap || { $(FORGET_ALL); exit 1; }
	@[ "$$(cat $(LANES_STATUS) 2>/dev/null)" = 0 ] || \
		{ echo "check: a lane failed (its lines above, [boots] or [builds])"; $(FORGET_ALL); exit 1; }
	@$(PROJ)/tools/submit/mkpatches.sh $(SRC) $(B)/patches >/dev/null
# $(call forget,NAME...): forget the input keys of the checks NAME (none:
# every check of this base), in the clone and in the machine's cache, after
# a failure; FORGET_ALL: every key of make check.
forget = $(PY) -m harness.inputs forget $(1)
FORGET_ALL = $(call forget); BUILD=$(PROJ)/build/stable-6.12 $(call forget,stable)

# The test boot of make check: build/Image with build/check.list.
BOOT_TOOLS  = $(PROJ)/tools/boot/guest $(PROJ)/tools/boot/boot.sh $(PROJ)/tools/boot/mkinitramfs.sh
BOOT_INPUTS = $(B)/check.list $(KSFT_INSTALL) $(VMM_BIN) $(L2_INITRD) $(BOOT_TOOLS)
.PHONY: boot host-checks
boot: $(call BUILT,kernel initramfs)
	@$(call cached,boot,$(LOGS)/console.log,$(B)/Image $(BOOT_INPUTS),\
		$(QEMU) $(B)/Image $(B)/check.cpio $(LOGS)/console.log)

# The suspend selftests and psci_test on both implementations and the
# stress, with KVM in protected mode (pKVM; hVHE on QEMU's -cpu max): build/Image booted with
# kvm-arm.mode=protected. The kernel log must say that protected mode is on.
# Its KUnit results are left out: the main boot of the same kernel has them.
PROTECTED_INPUTS = $(B)/Image $(B)/protected.list $(KSFT_INSTALL) $(BOOT_TOOLS)
.PHONY: protected
protected: $(call BUILT,kernel kselftest-tar)
	@{ $(call on_both,kvm/$(KSFT_ARCH)/vcpu_suspend,300,vcpu_suspend); \
	   $(call on_both,kvm/$(KSFT_ARCH)/vcpu_suspend_rs,300,vcpu_suspend_rs); \
	   $(call on_both,kvm/$(KSFT_ARCH)/psci_test,120,psci_test); \
	   $(call on_both,stress,300,vcpu_suspend_rs --stress 10 8); } >$(B)/protected.list
	@$(call cached,protected,$(LOGS)/protected-console.log,$(PROTECTED_INPUTS),\
		$(PROJ)/tools/boot/mkinitramfs.sh $(B)/protected.cpio $(B)/protected.list \
			$(SUSPEND_BINS) $(KSFT_INSTALL)/kvm/psci_test:/kselftest/kvm/psci_test; \
		$(QEMU) $(B)/Image $(B)/protected.cpio $(LOGS)/protected-console.log \
			kvm-arm.mode=protected)
	@$(PY) $(PROJ)/tools/report/report.py $(LOGS)/protected-console.log \
		--list $(B)/protected.list --no-kunit --prefix protected: \
		--expect-log 'protected-mode-on=kvm \[[0-9]+\]: Protected [hn]VHE mode initialized' \
		>$(RESULTS)/protected.ktap || true
	$(call verdict,$(RESULTS)/protected.ktap)

# The bugs behind the fix series, reproduced on the pristine 7.3 kernel
# (tools/checks/reproducer.py, leads.md): the C selftest's case for each must
# fail there, vgic_dist_enabled_by_guest_wakes (the vGIC patch) in VHE,
# serror_taken_no_wakeup in protected mode (fixed upstream by 3708f6342f01,
# in kvmarm/next, not in 7.3.4: the series carries a NOT FOR MERGE stand-in
# for it after "upstream", and leaves it out of the fix series); and
# line_raised_while_running, patch 1's case in protected mode, is recorded
# as it comes: 7.3's hypervisor no longer copies hcr_el2 back, so the loss is
# not deterministic there (make stable requires it on pristine 6.12). Ours
# passes every case (make check's boots). Results in build/results/leads.ktap.
# $(call lead_boot,NAME,CASE,MODE,WHAT,KERNEL_ARGS): one pristine boot.
lead_boot = $(call list_one,kvm/$(KSFT_ARCH)/vcpu_suspend,120,/kselftest/kvm/vcpu_suspend -t $(2)) \
		>$(B)/$(1).list; \
	$(PROJ)/tools/boot/mkinitramfs.sh $(B)/$(1).cpio $(B)/$(1).list $(SUSPEND_BINS); \
	$(QEMU) $(PIMAGE) $(B)/$(1).cpio $(LOGS)/$(1)-console.log $(5); \
	$(PY) $(PROJ)/tools/checks/reproducer.py $(LOGS)/$(1)-console.log $(B)/$(1).list \
		--case $(2) --mode $(3) --what $(4)
LEADS_INPUTS = $(PIMAGE) $(KSFT_INSTALL)/kvm/vcpu_suspend $(BOOT_TOOLS) \
	$(PROJ)/tools/checks/reproducer.py
.PHONY: leads
leads: $(call BUILT,$(PIMAGE) kselftest-tar)
	@$(call cached,leads,$(RESULTS)/leads.ktap,$(LEADS_INPUTS),\
		{ $(call lead_boot,lead-vgic,vgic_dist_enabled_by_guest_wakes,vhe,pristine-loses-the-spi,); \
		  $(call lead_boot,lead-vse,serror_taken_no_wakeup,protected,pristine-keeps-the-serror-fixed-upstream-by-3708f6342f01,kvm-arm.mode=protected); \
		  $(call lead_boot,lead-line,line_raised_while_running,protected,pristine-loses-the-line,kvm-arm.mode=protected) --record; \
		} >$(RESULTS)/leads.ktap || true)
	@cat $(RESULTS)/leads.ktap
	$(call verdict,$(RESULTS)/leads.ktap)

# make stable: the fix series' 6.12.y backport, built and booted.
include $(PROJ)/tools/tree/stable-6.12/stable.mk

# Facts of the prepared tree and the built kernel (tools/checks/host-checks.sh).
host-checks: kernel
	@$(call cached,host-checks,$(RESULTS)/host-checks.ktap,git:$(SRC):HEAD status:$(SRC) \
		$(B)/vmlinux $(KOBJ)/arch/arm64/kvm $(PROJ)/tools/checks/host-checks.sh \
		$(PROJ)/tools/setup/pins "=$$(qemu-system-aarch64 --version | head -1)",\
		$(PROJ)/tools/checks/host-checks.sh $(SRC) $(KOBJ) >$(RESULTS)/host-checks.ktap)
	$(call verdict,$(RESULTS)/host-checks.ktap)

# The standard kselftest package for TARGETS=kvm (run_kselftest.sh,
# kselftest-list.txt), as CI farms install it on arm64 boards, with the Rust
# selftest binary added to it: build/kselftest.tar.gz. The clone's path is
# mapped out of the binaries, so that every clone builds the same ones.
KSFT_INSTALL := $(B)/kselftest/install
# The selftests' flags; kbuild does not rebuild them when these change, so
# their objects go when KSFT_STAMP differs.
KSFT_CFLAGS := -static -ffile-prefix-map=$(PROJ)/=
KSFT_STAMP   = $(KOBJ)/kselftest/.extra-cflags
# The 6.12 stable backport has the C selftest only.
KSFT_RUST := $(if $(filter 7.3,$(BASE)),rust-selftest)
.PHONY: kselftest-tar
kselftest-tar: kernel $(KSFT_RUST)
	@echo "kselftest-tar: building TARGETS=kvm (log: $(LOGS)/kselftest.log)"
	@rm -rf $(KSFT_INSTALL)
	@[ "$$(cat $(KSFT_STAMP) 2>/dev/null)" = '$(KSFT_CFLAGS)' ] || \
		{ rm -rf $(KOBJ)/kselftest; mkdir -p $(KOBJ)/kselftest; echo '$(KSFT_CFLAGS)' >$(KSFT_STAMP); }
	@$(MAKE) -C $(SRC)/tools/testing/selftests TARGETS=kvm ARCH=arm64 \
		CROSS_COMPILE=aarch64-linux-gnu- O=$(KOBJ) EXTRA_CFLAGS="$(KSFT_CFLAGS)" \
		KSFT_INSTALL_PATH=$(KSFT_INSTALL) install >$(LOGS)/kselftest.log 2>&1 || \
		{ tail -30 $(LOGS)/kselftest.log; echo "kselftest-tar: build failed"; exit 1; }
	@if [ -n "$(KSFT_RUST)" ]; then \
		install -m 755 $(RUST_BIN) $(KSFT_INSTALL)/kvm/vcpu_suspend_rs; \
		grep -qx 'kvm:vcpu_suspend_rs' $(KSFT_INSTALL)/kselftest-list.txt || \
		echo 'kvm:vcpu_suspend_rs' >>$(KSFT_INSTALL)/kselftest-list.txt; fi
	@tar -C $(KSFT_INSTALL) -czf $(B)/kselftest.tar.gz .
	@echo "kselftest-tar: $(B)/kselftest.tar.gz, $$(wc -l <$(KSFT_INSTALL)/kselftest-list.txt) tests"

# make bench: Rust vs C in one boot, interleaved (the A/B switch), with
# BENCH_CYCLES samples per latency metric and implementation; results in
# build/bench/ (results.json, results.md, latency.png), code size included;
# the table also in build/results/bench.md, for make results-docs.
BENCH_CYCLES ?= 1000
.PHONY: bench
bench: kselftest-tar
	@mkdir -p $(B)/bench
	@$(call list_one,bench,1800,/kselftest/kvm/vcpu_suspend_rs --bench $(BENCH_CYCLES)) >$(B)/bench.list
	@$(PROJ)/tools/boot/mkinitramfs.sh $(B)/bench.cpio $(B)/bench.list $(SUSPEND_BINS)
	@BOOT_TIMEOUT=2400 $(QEMU) $(B)/Image $(B)/bench.cpio $(LOGS)/bench-console.log
	@$(PROJ)/tools/report/codesize.sh $(SRC) $(KOBJ) >$(B)/bench/sizes.json
	@PYTHONPATH=$(PROJ)/tools /usr/bin/python3 $(PROJ)/tools/report/bench-report.py $(LOGS)/bench-console.log $(B)/bench \
		--sizes $(B)/bench/sizes.json \
		--machine "QEMU $$(qemu-system-aarch64 --version | head -1 | cut -d' ' -f4) TCG on $$(nproc) x86_64 cores, nested KVM (VHE), $$(uname -m) host"
	@mkdir -p $(RESULTS) && cp $(B)/bench/results.md $(RESULTS)/bench.md

# make exit-roundtrip: what patch 1's fold of the userspace irqchip lines
# into hcr_el2 costs on every guest entry: the round trip of an exit KVM
# handles in the kernel (vcpu_suspend_rs --exit-bench), the pristine kernel
# and ours booted interleaved, EXIT_ROUNDS boots each; the ratio of the
# medians with its spread in build/results/exit-roundtrip.md
# (tools/report/exit-roundtrip.sh; make results-docs).
EXIT_ROUNDS ?= 3
.PHONY: exit-roundtrip
# make psci-bench: the Rust PSCI against the C one in one boot (rounds
# alternating): AFFINITY_INFO timed by the guest and the CPU_ON round trip
# (vCPU 0 turns vCPU 1 on, until vCPU 1 runs), PSCI_BENCH_N calls or rounds
# of each; the "# psci-bench:" lines (medians, rust/c ratio, 10th
# percentiles) go to build/results/psci-bench.txt.
PSCI_BENCH_N ?= 2000
.PHONY: psci-bench
psci-bench: kselftest-tar
	@$(call list_one,psci-bench,1800,/kselftest/kvm/vcpu_suspend_rs --psci-bench $(PSCI_BENCH_N)) \
		>$(B)/psci-bench.list
	@$(PROJ)/tools/boot/mkinitramfs.sh $(B)/psci-bench.cpio $(B)/psci-bench.list $(SUSPEND_BINS)
	@BOOT_TIMEOUT=2400 $(QEMU) $(B)/Image $(B)/psci-bench.cpio $(LOGS)/psci-bench-console.log
	@mkdir -p $(RESULTS)
	@grep -a '^# psci-bench:' $(LOGS)/psci-bench-console.log >$(RESULTS)/psci-bench.txt || \
		{ echo "psci-bench: no result in $(LOGS)/psci-bench-console.log"; exit 1; }
	@cat $(RESULTS)/psci-bench.txt

exit-roundtrip: $(PIMAGE) kernel kselftest-tar
	$(PROJ)/tools/report/exit-roundtrip.sh $(EXIT_ROUNDS)

# make check-debug: the same series in a debug kernel (lockdep, atomic-sleep
# and spinlock checks, KASAN, UBSAN, list and object debugging), booted with
# panic_on_warn=1, running every suspend test (C and Rust, on both
# implementations) and the upstream list; any splat fails.
DKOBJ    := $(B)/kernel-debug
DCONFIGS := $(CONFIGS) $(PROJ)/tools/tree/config/debug.config
.PHONY: kernel-debug check-debug
$(DKOBJ)/.config: $(DCONFIGS) $(PROJ)/tools/tree/mkconfig.sh | tree
	$(PROJ)/tools/tree/mkconfig.sh $(SRC) $(DKOBJ) $(DCONFIGS)
	@touch $@

kernel-debug: tree $(DKOBJ)/.config
	$(call kbuild,kernel-debug,$(DKOBJ),Image)

# no_debug_objects: 7.3's Rust doctest rust_doctest_kernel_time_hrtimer_rs_1
# sets up an hrtimer on the stack with hrtimer_setup() instead of
# hrtimer_setup_on_stack(); with debug objects, ODEBUG warns ("object is on
# stack, but NOT annotated") and panic_on_warn stops the boot in KUnit,
# before any test. Upstream's bug, not the series'; the debug kernel keeps
# lockdep, KASAN, UBSAN and list debugging.
DEBUG_BOOT_ARGS := no_debug_objects
# The debug list is dealt into DEBUG_SHARDS lists (harness.ktap shard: the
# longest time limits first, to the least loaded), booted at once, each QEMU
# on about one core (2, or half the cores where there are more than 4); one
# report of all their consoles (the KUnit results are the first boot's:
# every boot runs the same KUnit suites).
DEBUG_SHARDS ?= $(shell n=$$(nproc); echo $$(( n > 4 ? n / 2 : 2 )))
DEBUG_CONSOLES = $(foreach i,$(shell seq $(DEBUG_SHARDS)),$(LOGS)/console-debug-$(i).log)
DEBUG_BOOT = $(PY) -m harness.ktap shard $(DEBUG_SHARDS) $(B)/debug.list $(B)/debug-shard; \
	for i in $$(seq $(DEBUG_SHARDS)); do \
		$(PROJ)/tools/boot/mkinitramfs.sh $(B)/debug-shard-$$i.cpio $(B)/debug-shard-$$i.list \
			$(KSFT_INSTALL):/kselftest $(VMM_FILES) || exit 1; \
	done; \
	for i in $$(seq $(DEBUG_SHARDS)); do \
		BOOT_TIMEOUT=1800 $(QEMU) $(DKOBJ)/arch/arm64/boot/Image $(B)/debug-shard-$$i.cpio \
			$(LOGS)/console-debug-$$i.log "panic_on_warn=1 $(DEBUG_BOOT_ARGS)" & \
	done; wait
check-debug: kernel-debug initramfs
	@{ cat $(B)/check.list; $(PY) -m harness.ktap list kvm $(KVM_LIST); } >$(B)/debug.list
	@$(call cached,boot-debug,$(subst $(eval) ,$(comma),$(DEBUG_CONSOLES)),\
		$(DKOBJ)/arch/arm64/boot/Image $(B)/debug.list $(BOOT_INPUTS) =$(DEBUG_SHARDS),\
		$(DEBUG_BOOT))
	$(PY) $(PROJ)/tools/report/report.py $(DEBUG_CONSOLES) --baseline $(BASELINE) \
		--kunit-min 100 --list $(B)/debug.list $(FIGURES) | tee $(RESULTS)/check-debug.ktap || \
		{ $(call forget,boot-debug); exit 1; }

# make tpidr-loop: QEMU 7.2's leak of the guest's TPIDR_EL0 into host
# threads (debug-kernel.md), which must not come back: on the debug kernel,
# the suspend selftest's signal cases TPIDR_LOOPS times on each implementation,
# alternating, with print-fatal-signals=1; the counts of SIGSEGV and the
# kernel's register dumps that show the guest's TPIDR_EL0 go to
# build/results/tpidr-loop.txt (make results-docs); fails unless both are 0.
TPIDR_LOOPS ?= 200
TPIDR_CASES := signal_gives_eintr line_raised_while_running sticky multi_vcpu \
	vgic_signal_sticky_resume
.PHONY: tpidr-loop
tpidr-loop: kernel-debug kselftest-tar
	@$(call list_one,tpidr-loop,$$(( $(TPIDR_LOOPS) * 8 + 120 )),/bin/ab-loop $(TPIDR_LOOPS) \
		/kselftest/kvm/vcpu_suspend_rs $(TPIDR_CASES)) >$(B)/tpidr-loop.list
	@$(PROJ)/tools/boot/mkinitramfs.sh $(B)/tpidr-loop.cpio $(B)/tpidr-loop.list $(SUSPEND_BINS)
	@BOOT_TIMEOUT=$$(( $(TPIDR_LOOPS) * 8 + 600 )) $(QEMU) $(DKOBJ)/arch/arm64/boot/Image \
		$(B)/tpidr-loop.cpio $(LOGS)/tpidr-loop-console.log print-fatal-signals=1
	@$(PY) -m harness.ktap output tpidr-loop $(LOGS)/tpidr-loop-console.log \
		>$(RESULTS)/tpidr-loop.txt
	@echo "# register dumps with the guest's TPIDR_EL0 (x3 : 1de7ec7edbadc0de):" \
		"$$(grep -c 'x3 : 1de7ec7edbadc0de' $(LOGS)/tpidr-loop-console.log || true)" \
		>>$(RESULTS)/tpidr-loop.txt
	@cat $(RESULTS)/tpidr-loop.txt
	@! grep -q 'x3 : 1de7ec7edbadc0de' $(LOGS)/tpidr-loop-console.log || \
		{ echo "tpidr-loop: the guest's TPIDR_EL0 reached a host thread (QEMU $$(qemu-system-aarch64 --version | head -1))"; exit 1; }
	@grep -q '^# ab-loop: rust: 0 of [0-9]* SIGSEGV, 0 other failures; c: 0 of [0-9]* SIGSEGV, 0 other failures' \
		$(RESULTS)/tpidr-loop.txt || { echo "tpidr-loop: a run failed (above)"; exit 1; }

# make test: the edit-and-test loop. Rebuilds what changed, then one boot
# runs both suspend selftests (C and Rust) on both implementations and a
# fuzzer smoke; KTAP and "N passed, N failed, N skipped"; non-zero exit on a
# failure. make check runs everything.
.PHONY: test
test: kselftest-tar
	@{ $(call on_both,kvm/$(KSFT_ARCH)/vcpu_suspend,120,vcpu_suspend); \
	   $(call on_both,kvm/$(KSFT_ARCH)/vcpu_suspend_rs,120,vcpu_suspend_rs); \
	   $(call on_both,fuzz,120,vcpu_suspend_rs --fuzz $(FUZZ_SEED) 1000); \
	 } >$(B)/test.list
	$(call boot_list,test,600)

# make stress: the stress on both implementations, in one boot, longer than
# make check's (STRESS_SECS, STRESS_VCPUS).
STRESS_SECS ?= 60
STRESS_VCPUS ?= 8
.PHONY: stress
stress: kselftest-tar
	@{ $(call on_both,stress,$$(( $(STRESS_SECS) + 60 )),vcpu_suspend_rs --stress $(STRESS_SECS) $(STRESS_VCPUS)); \
	 } >$(B)/stress.list
	$(call boot_list,stress,900)

# make linux-suspend: selftests/vmm, a small VMM on rust-vmm crates
# (suspend_vmm) that boots build/Image as a nested Linux guest (vGICv3, 2
# vCPUs, 16550, PL031) and takes it through suspend to RAM: PSCI
# SYSTEM_SUSPEND -> KVM_MP_STATE_SUSPENDED, woken by the RTC alarm's SPI
# (KVM_SYSTEM_EVENT_WAKEUP), resumed at the PSCI entry point; on the Rust and
# on the C implementation, in one boot; then once more with the first
# SYSTEM_SUSPEND answered DENIED. VMM_OPTS adds options (e.g. --no-rtc-irq,
# which must fail). make vmm builds the VMM alone.
.PHONY: vmm linux-suspend
vmm: setup
	@echo "vmm: cargo build (log: $(LOGS)/vmm.log)"
	@mkdir -p $(LOGS)
	@cd $(VMM_CRATE) && RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --locked \
		--release --target $(RUST_TGT) --target-dir $(B)/vmm \
		>$(LOGS)/vmm.log 2>&1 || { tail -30 $(LOGS)/vmm.log; exit 1; }

$(L2_INITRD): $(VMM_CRATE)/guest/init $(VMM_CRATE)/guest/mkinitrd.sh | setup
	$(VMM_CRATE)/guest/mkinitrd.sh $@

linux-suspend: kernel vmm $(L2_INITRD)
	@{ $(LINUX_SUSPEND_LIST); } >$(B)/linux-suspend.list
	@$(PROJ)/tools/boot/mkinitramfs.sh $(B)/linux-suspend.cpio $(B)/linux-suspend.list $(VMM_FILES)
	@BOOT_TIMEOUT=900 $(QEMU) $(B)/Image $(B)/linux-suspend.cpio $(LOGS)/linux-suspend-console.log
	$(PY) $(PROJ)/tools/report/report.py $(LOGS)/linux-suspend-console.log \
		--list $(B)/linux-suspend.list --kunit-min 0 | tee $(RESULTS)/linux-suspend.ktap

# make fuzz: the fuzzer on both implementations, one boot, FUZZ_STEPS each,
# from a new seed every time (printed; FUZZ_SEED=N replays). make check
# runs 3000 steps from the fixed FUZZ_SEED, so that CI is reproducible.
FUZZ_SEED ?= 1
# make check's differential fuzzer of PSCI (the C and the Rust one compared
# call by call, selftests/rust/src/psci_diff.rs): calls per run.
PSCI_DIFF_CALLS ?= 3000
FUZZ_STEPS ?= 50000
.PHONY: fuzz
fuzz: kselftest-tar
	@seed=$(if $(filter command line,$(origin FUZZ_SEED)),$(FUZZ_SEED),$$(date +%s)); \
	 t=$$(( $(FUZZ_STEPS) / 100 + 60 )); \
	 { $(call on_both,fuzz,$$t,vcpu_suspend_rs --fuzz $$seed $(FUZZ_STEPS)); \
	 } >$(B)/fuzz.list
	$(call boot_list,fuzz,7200)

# make stress-widened: the lost-wakeup experiment behind the series' first
# patch (tools/checks/stress-widened.sh): with kvm_arch_vcpu_load()'s race window
# widened, the stress must lose wakeups without the fix and none with it.
.PHONY: stress-widened
stress-widened: tree kselftest-tar
	$(PROJ)/tools/checks/stress-widened.sh $(SRC) $(KSFT_INSTALL) | tee $(RESULTS)/stress-widened.ktap
	@! grep -q '^not ok' $(RESULTS)/stress-widened.ktap

# htmldocs (virt) adds no warning to pristine's; rustdoc is clean.
docs-check: $(call BUILT,kernel)
	@echo "docs-check: htmldocs (virt) and rustdoc (logs: $(B)/docs/)"
	@$(call cached,docs-check,$(RESULTS)/docs-check.ktap,git:$(SRC):pristine git:$(SRC):upstream \
		git:$(SRC):HEAD $(PROJ)/tools/checks/docs-check.sh,\
		$(PROJ)/tools/checks/docs-check.sh $(SRC) $(KOBJ) >$(RESULTS)/docs-check.ktap)
	@cat $(RESULTS)/docs-check.ktap
	$(call verdict,$(RESULTS)/docs-check.ktap)

# Deliberately broken kernels (selftests/mutants) against the suspend tests;
# make check runs them too and counts each mutant as a result. MUTANT_TESTS:
# c boots each mutant with the C selftest alone (make check's), all adds the
# Rust selftest and the fuzzer (about 6 min more).
MUTANT_TESTS ?= c
mutants: $(call BUILT,kernel kselftest-tar)
	@echo "mutants: the Rust suspend path, deliberately broken (log: $(B)/mutants/mutants.log)"
	@$(call cached,mutants,$(RESULTS)/mutants.ktap$(comma)$(RESULTS)/mutants.txt,git:$(SRC):HEAD $(PROJ)/selftests/mutants \
		$(PROJ)/tools/checks/mutants.py $(call HARNESS,ktap.py) $(PROJ)/tools/tree/worktree.sh \
		$(PROJ)/tools/tree/kmake.sh $(KSFT_INSTALL) $(BOOT_TOOLS) $(CONFIGS) =$(MUTANT_TESTS),\
		rm -f $(RESULTS)/mutants.ktap; \
		$(PY) $(PROJ)/tools/checks/mutants.py --tests $(MUTANT_TESTS) \
			--ktap $(RESULTS)/mutants.ktap >$(RESULTS)/mutants.txt || true)
	@cat $(RESULTS)/mutants.txt
	$(call verdict,$(RESULTS)/mutants.ktap)

# The series for the list: git format-patch of the prepared tree plus a
# cover letter with the last make check's figures, in build/patches/.
patches: tree
	$(PROJ)/tools/submit/mkpatches.sh $(SRC) $(B)/patches

# Every patch in order: applies, builds (bisectable), checkpatch --strict
# clean; the applied series equals the prepared tree; rustfmtcheck.
patches-check: $(call BUILT,tree)
	@echo "patches-check: the two series patch by patch (logs: $(LOGS)/patches-check/)"
	@$(call cached,patches-check,$(RESULTS)/patches-check.ktap,git:$(SRC):fixes \
		git:$(SRC):upstream $(PROJ)/tools/checks/patches-check.sh $(PROJ)/tools/submit/mkpatches.sh \
		$(PROJ)/tools/tree/worktree.sh $(PROJ)/tools/tree/kmake.sh $(PROJ)/tools/tree/mkconfig.sh \
		$(PROJ)/tools/tree/config,\
		$(PROJ)/tools/submit/mkpatches.sh $(SRC) $(B)/patches >/dev/null; \
		$(PROJ)/tools/checks/patches-check.sh $(SRC) $(B)/patches >$(RESULTS)/patches-check.ktap)
	@cat $(RESULTS)/patches-check.ktap
	$(call verdict,$(RESULTS)/patches-check.ktap)

# make measure-loop: the developer's loop timed (tools/report/measure-loop.sh):
# make check with nothing changed, make test after a one-line change to
# suspend.rs, make run when built; into build/results/timings.txt, beside
# .ci/run's times.
.PHONY: measure-loop
measure-loop:
	$(PROJ)/tools/report/measure-loop.sh

# Documentation/project/results.md, every table of results of the project's
# documents, generated from the result files in build/logs/ (tools/report/results-docs.py).
.PHONY: results-docs results-timings
results-docs:
	$(PY) $(PROJ)/tools/report/results-docs.py $(PROJ)/build/results $(PROJ)/Documentation/project/results.md
# Only the timing tables (results.md's and the README's), from
# build/results/timings.txt: on a machine without every other result file.
results-timings:
	$(PY) $(PROJ)/tools/report/results-docs.py --timings $(PROJ)/build/results \
		$(PROJ)/Documentation/project/results.md

# The machine-wide caches (tools/setup/versions.env's CACHE_ROOT: ccache)
# outlive make clean and fresh clones; make cache-clean empties them.
.PHONY: cache-clean
cache-clean:
	@. $(PROJ)/tools/setup/versions.env; echo "cache-clean: emptying $$CACHE_ROOT"; \
		rm -rf "$$CACHE_ROOT"

clean:
	rm -rf $(KOBJ) $(B)/kselftest* $(B)/rust-selftest* $(B)/trees $(B)/docs $(B)/patches $(B)/Image $(B)/vmlinux $(B)/*.cpio $(LOGS) $(RESULTS)

# make run: the main demo. suspend_vmm boots build/Image as a nested Linux
# guest that suspends to RAM (PSCI SYSTEM_SUSPEND -> KVM_MP_STATE_SUSPENDED
# on the Rust path) and is woken by its RTC alarm; the VMM narrates each step
# with its time. make run-psci: the Rust selftest's synthetic PSCI demo.
# $(call show_demo,NAME,CONSOLE,OUT): the kernel's KVM mode line and the
# lines between the demo's markers, also kept in build/results/OUT.txt (make
# results-docs); fails with the demo.
show_demo = @mkdir -p $(RESULTS); \
	{ grep -m1 -E 'kvm \[[0-9]+\]: .*mode initialized' $(2) | \
		sed -E 's/^\[ *[0-9.]+\] /guest kernel: /' || true; \
	  $(PY) -m harness.ktap output $(1) $(2); } >$(RESULTS)/$(3).txt || \
		{ cat $(RESULTS)/$(3).txt; rm -f $(RESULTS)/$(3).txt; \
		  echo "run: the demo failed, see $(2)"; exit 1; }; \
	cat $(RESULTS)/$(3).txt
.PHONY: run-psci
run: kernel vmm $(L2_INITRD)
	@$(call list_one,linux-suspend,300,$(VMM_CMD)) >$(B)/run.list
	@$(PROJ)/tools/boot/mkinitramfs.sh $(B)/run.cpio $(B)/run.list $(VMM_FILES)
	@$(QEMU) $(B)/Image $(B)/run.cpio $(LOGS)/run-console.log
	$(call show_demo,linux-suspend,$(LOGS)/run-console.log,run)

run-psci: kernel rust-selftest
	@$(call list_one,demo,60,/vcpu_suspend_rs --demo) >$(B)/run-psci.list
	@$(PROJ)/tools/boot/mkinitramfs.sh $(B)/run-psci.cpio $(B)/run-psci.list $(RUST_BIN):/vcpu_suspend_rs
	@$(QEMU) $(B)/Image $(B)/run-psci.cpio $(LOGS)/run-psci-console.log
	$(call show_demo,demo,$(LOGS)/run-psci-console.log,run-psci)
