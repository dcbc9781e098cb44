# SPDX-License-Identifier: GPL-2.0
# Sourced: a git worktree of the prepared tree (build/src) and a kbuild
# output directory for each purpose, build/trees/PURPOSE/{src,obj}, for work
# on other revisions than the prepared tree's without touching build/src or
# build/kernel. Purposes and who uses them:
#   series    tools/tree/pristine.sh (the gate's pristine kernel), then
#             tools/checks/patches-check.sh (each patch on top of it), then
#             tools/checks/mutants.py (the series' tip with deliberate bugs): make
#             check runs them in this order, each from its own revision, so
#             that neither builds the kernel from scratch again
#   docs      tools/checks/docs-check.sh (htmldocs at pristine and at the series)
#   codesize  tools/report/codesize.sh (make bench)
#   widened   tools/checks/stress-widened.sh (make stress-widened)
#   ensure_worktree SRC PURPOSE   sets $wt and $wt_obj, creating them if missing
# Run as a command, it prints "$wt $wt_obj"; with REV, it first checks REV
# out there, with the Rust choice:  tools/tree/worktree.sh SRC PURPOSE [REV]
ensure_worktree() {
	local proj
	proj=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	case "$2" in
	series|docs|codesize|widened) ;;
	*) echo "worktree: error: unknown purpose '$2'" >&2; return 1 ;;
	esac
	wt=${BUILD:-$proj/build}/trees/$2/src
	wt_obj=${BUILD:-$proj/build}/trees/$2/obj
	if [ ! -e "$wt/.git" ]; then
		mkdir -p "$(dirname "$wt")"
		git -C "$1" worktree prune
		git -C "$1" worktree add -q --detach "$wt" pristine || return 1
	fi
	git -C "$wt" am --abort >/dev/null 2>&1 || true
	# The configuration: WT_CONFIGS (the Makefile's, for the base), made
	# again when a fragment is newer than it.
	local frags=${WT_CONFIGS:-$proj/tools/tree/config/kvm-rust.config}
	# shellcheck disable=SC2086 # a list of fragments
	if [ "$2" != docs ] && { [ ! -f "$wt_obj/.config" ] ||
		[ -n "$(find $frags -newer "$wt_obj/.config")" ]; }; then
		# shellcheck disable=SC2086
		"$proj/tools/tree/mkconfig.sh" "$wt" "$wt_obj" $frags >&2 || return 1
	fi
}

# with_own_config OBJ COMMAND...: COMMAND fills the kbuild output directory
# OBJ from another build's objects; OBJ's own .config is then put back,
# newer than anything COMMAND left, so that kbuild syncs the configuration
# and rebuilds what reads the symbols that differ.
with_own_config() {
	local obj=$1 cfg
	shift
	cfg=$(mktemp)
	cp "$obj/.config" "$cfg"
	"$@" || { rm -f "$cfg"; return 1; }
	sleep 1
	cp "$cfg" "$obj/.config"
	rm -f "$cfg"
}

# After a checkout of REV in SRC: pick the Rust suspend path where the tree
# has the choice (KVM_ARM64_SUSPEND_RUST, from the RFC series on), as
# build/kernel does (tools/tree/config/suspend-rust.config).
#   wt_choose_rust SRC OBJ
wt_choose_rust() {
	local proj
	proj=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	grep -qx 'config KVM_ARM64_SUSPEND_RUST' "$1/arch/arm64/kvm/Kconfig" || return 0
	"$1/scripts/config" --file "$2/.config" -e KVM_ARM64_SUSPEND_RUST
	if grep -qx 'config KVM_ARM64_PSCI_RUST' "$1/arch/arm64/kvm/Kconfig"; then
		"$1/scripts/config" --file "$2/.config" -e KVM_ARM64_PSCI_RUST
	fi
	"$proj/tools/tree/kmake.sh" "$1" "$2" -s olddefconfig >/dev/null
	grep -qx 'CONFIG_KVM_ARM64_SUSPEND_RUST=y' "$2/.config"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	[ $# = 2 ] || [ $# = 3 ] || { echo "usage: tools/tree/worktree.sh SRC PURPOSE [REV]" >&2; exit 2; }
	ensure_worktree "$1" "$2"
	if [ $# = 3 ]; then
		git -C "$wt" checkout -q -f --detach "$3"
		wt_choose_rust "$wt" "$wt_obj"
	fi
	echo "$wt $wt_obj"
fi
