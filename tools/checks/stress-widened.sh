#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The lost-wakeup experiment behind the series' first patch: widen the
# window of kvm_arch_vcpu_load()'s plain read-modify-write of hcr_el2
# (tools/tree/experiments/widen-vcpu-load-rmw.patch, the same code with a
# udelay(50) between read and write), then run the stress on both suspend
# implementations, once on the series without its fix and once with it.
# Without the fix, raised KVM_IRQ_LINE lines get lost and the stress fails;
# with it, none is lost. Prints one KTAP line per kernel.
#   tools/checks/stress-widened.sh SRC KSFT_INSTALL [SECONDS]
set -uo pipefail
src=$1 ksft=$2 secs=${3:-30}
proj=$(cd "$(dirname "$0")/../.." && pwd)
b=${BUILD:-$proj/build}/widened
mkdir -p "$b"
# shellcheck source=tools/tree/worktree.sh
. "$proj/tools/tree/worktree.sh"
# shellcheck source=tools/checks/ktap.sh
. "$proj/tools/checks/ktap.sh"
ensure_worktree "$src" widened || exit 2
fix=$(git -C "$src" log --format=%H -1 --grep="^KVM: arm64: Don't lose userspace irqchip lines" work)
[ -n "$fix" ] || { echo "stress-widened: error: no fix commit on work" >&2; exit 2; }

export PYTHONPATH=$proj/tools
python3 -m harness.ktap list both stress 300 vcpu_suspend_rs --stress "$secs" 8 >"$b/list"
"$proj/tools/boot/mkinitramfs.sh" "$b/stress.cpio" "$b/list" "$ksft:/kselftest" || exit 2

python3 -m harness.ktap header 2
for variant in without-fix with-fix; do
	git -C "$wt" checkout -q -f --detach work
	if [ $variant = without-fix ]; then
		git -C "$wt" revert --no-commit "$fix" >/dev/null || exit 2
	fi
	git -C "$wt" apply "$proj/tools/tree/experiments/widen-vcpu-load-rmw.patch" || exit 2
	wt_choose_rust "$wt" "$wt_obj" || exit 2
	if ! "$proj/tools/tree/kmake.sh" "$wt" "$wt_obj" Image >"$b/$variant.build.log" 2>&1; then
		echo "stress-widened: error: build failed, see $b/$variant.build.log" >&2
		exit 2
	fi
	"$proj/tools/boot/boot.sh" "$wt_obj/arch/arm64/boot/Image" "$b/stress.cpio" "$b/$variant.console.log"
	summary=$(grep -E '^# ([0-9]+ vCPUs|[0-9]+ lost wakeups)' "$b/$variant.console.log" | sed 's/^# //' | paste -sd ';' -)
	lost=$(grep -cE '^# [0-9]+ lost wakeups' "$b/$variant.console.log")
	echo "# $variant: $summary"
	# Expected: losses without the fix, none with it.
	if [ $variant = without-fix ]; then
		[ "$lost" -gt 0 ]
	else
		[ "$lost" = 0 ] && [ "$(grep -c '^ok 1 stress' "$b/$variant.console.log")" = 2 ]
	fi
	result $? "widened-rmw-$variant" "$summary"
	git -C "$wt" reset -q --hard
done
