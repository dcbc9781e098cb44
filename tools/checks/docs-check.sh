#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Documentation checks, as KTAP result lines:
#  - make htmldocs SPHINXDIRS=virt on the pristine tree and on the series, in
#    the worktree of tools/checks/patches-check.sh; the series may add no warning
#    (messages compared without line numbers, which the series shifts);
#  - make rustdoc on the prepared tree: no warning, and kernel::kvm
#    documented.
#   tools/checks/docs-check.sh SRC OBJ
set -uo pipefail
proj=$(cd "$(dirname "$0")/../.." && pwd)
src=$(cd "$1" && pwd) obj=$(cd "$2" && pwd)
docs=${BUILD:-$proj/build}/docs
# shellcheck source=tools/checks/ktap.sh
. "$(cd "$(dirname "$0")" && pwd)/ktap.sh"
mkdir -p "$docs"
# shellcheck source=tools/tree/worktree.sh
. "$proj/tools/tree/worktree.sh"
ensure_worktree "$src" docs || exit 2
head=$(git -C "$wt" rev-parse HEAD)

warnings() { # REV LOG -> normalised warning lines
	git -C "$wt" checkout -q -f --detach "$1" || return 1
	# RUSTDOC= : 7.3's Documentation/Makefile has a RUSTDOC of its own (an
	# option to its Sphinx wrapper), which kmake.sh's RUSTDOC=/usr/bin/rustdoc
	# would turn into a stray argument; the virt documents need no rustdoc.
	"$proj/tools/tree/kmake.sh" "$wt" "$docs/obj" htmldocs SPHINXDIRS=virt RUSTDOC= \
		>"$2" 2>&1 || return 1
	grep -E 'WARNING|ERROR' "$2" | sed -E 's/:[0-9]+:/:/; s|^.*/Documentation/|Documentation/|' | sort
}
before=$(warnings pristine "$docs/htmldocs-pristine.log")
rc_before=$?
after=$(warnings "$(git -C "$src" rev-parse upstream)" "$docs/htmldocs-series.log")
rc_after=$?
git -C "$wt" checkout -q -f --detach "$head"
new=$(comm -13 <(echo "$before") <(echo "$after"))
[ $rc_before = 0 ] && [ $rc_after = 0 ] && [ -z "$new" ]
result $? "htmldocs-virt-no-new-warning" "rc $rc_before/$rc_after; new: $(echo "$new" | head -3 | tr '\n' ' ')"

# CLIPPY=1 as the Makefile's kernel build of OBJ: rustdoc needs the crates'
# objects, which kbuild would otherwise build again without Clippy (and the
# next kernel build again with it: twice the Rust, and a relink, for nothing).
"$proj/tools/tree/kmake.sh" "$src" "$obj" CLIPPY=1 rustdoc >"$docs/rustdoc.log" 2>&1
rc=$?
warn=$(grep -E '^(warning|error)' "$docs/rustdoc.log" | head -3)
[ $rc = 0 ] && [ -z "$warn" ] && [ -f "$obj/Documentation/output/rust/rustdoc/kernel/kvm/vcpu/struct.Vcpu.html" ]
result $? "rustdoc-kernel-kvm" "rc $rc $(echo "$warn" | tr '\n' ' ')"
