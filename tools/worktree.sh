# SPDX-License-Identifier: GPL-2.0
# Sourced: the second checkout of the prepared tree, build/bisect/src, with
# its own kbuild output build/bisect/obj, for work on other revisions than
# the prepared tree's (patch by patch, pristine) without touching build/src.
#   ensure_worktree SRC   sets $wt and $wt_obj, creating them if missing
ensure_worktree() {
	local proj
	proj=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	wt=$proj/build/bisect/src
	wt_obj=$proj/build/bisect/obj
	if [ ! -e "$wt/.git" ]; then
		git -C "$1" worktree prune
		git -C "$1" worktree add -q --detach "$wt" pristine || return 1
	fi
	git -C "$wt" am --abort >/dev/null 2>&1 || true
	if [ ! -f "$wt_obj/.config" ]; then
		"$proj/tools/mkconfig.sh" "$wt" "$wt_obj" "$proj/tools/config/kvm-rust.config" >&2 || return 1
	fi
}

# After a checkout of REV in SRC: pick the Rust suspend path where the tree
# has the choice (KVM_ARM64_SUSPEND_RUST, from the RFC series on), as
# build/kernel does (tools/config/suspend-rust.config).
#   wt_choose_rust SRC OBJ
wt_choose_rust() {
	local proj
	proj=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	grep -qx 'config KVM_ARM64_SUSPEND_RUST' "$1/arch/arm64/kvm/Kconfig" || return 0
	"$1/scripts/config" --file "$2/.config" -e KVM_ARM64_SUSPEND_RUST
	"$proj/tools/kmake.sh" "$1" "$2" -s olddefconfig >/dev/null
	grep -qx 'CONFIG_KVM_ARM64_SUSPEND_RUST=y' "$2/.config"
}
