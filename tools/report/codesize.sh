#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Code size of the suspend path, Rust vs C, as JSON for tools/report/bench-report.py:
#  - in the A/B kernel (build/kernel): the Rust entry points (all of
#    suspend.o's .text) vs arm.c's C functions compiled alone (suspend_c.o);
#  - arm.o + suspend.o of the upstream series vs arm.o of the pristine kernel,
#    where the C functions are static and inlined into their callers;
#    both compiled in the worktree build/trees/codesize (tools/tree/worktree.sh).
#   tools/report/codesize.sh SRC OBJ > sizes.json
set -euo pipefail
proj=$(cd "$(dirname "$0")/../.." && pwd)
src=$(cd "$1" && pwd) obj=$(cd "$2" && pwd)
# shellcheck source=tools/tree/worktree.sh
. "$proj/tools/tree/worktree.sh"

text() { llvm-size-19 -A "$1" | awk '$1 == ".text" {print $2}'; }
syms() { # OBJECT SYMBOL... -> summed sizes of those defined symbols
	local o=$1 total=0 size
	shift
	for size in $(llvm-nm-19 -S --defined-only "$o" |
		awk -v want=" $* " 'index(want, " " $4 " ") {print $2}'); do
		total=$((total + 16#$size))
	done
	echo "$total"
}

rust_fns=$(text "$obj/arch/arm64/kvm/suspend.o")
c_fns=$(syms "$obj/arch/arm64/kvm/suspend_c.o" kvm_arm_vcpu_suspend_c kvm_vcpu_suspend_c kvm_arm_vcpu_suspended_c)

ensure_worktree "$src" codesize >&2
head=$(git -C "$wt" rev-parse HEAD)
size_at() { # REV OBJECTS... -> summed .text
	local rev=$1 total=0 o
	shift
	git -C "$wt" checkout -q -f --detach "$rev"
	wt_choose_rust "$wt" "$wt_obj" || return 1
	"$proj/tools/tree/kmake.sh" "$wt" "$wt_obj" "${@/#/arch/arm64/kvm/}" >"$wt_obj.codesize.log" 2>&1
	for o in "$@"; do total=$((total + $(text "$wt_obj/arch/arm64/kvm/$o"))); done
	echo "$total"
}
pristine=$(size_at pristine arm.o)
series=$(size_at "$(git -C "$src" rev-parse upstream)" arm.o suspend.o)
git -C "$wt" checkout -q -f --detach "$head"

cat <<JSON
{"rows": [
 {"what": "suspend entry points, A/B kernel: suspend.o vs the C functions alone", "rust": $rust_fns, "c": $c_fns},
 {"what": "arm.o + suspend.o (series) vs arm.o (pristine)", "rust": $series, "c": $pristine}
]}
JSON
