#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Check the exported series (tools/submit/mkpatches.sh: PATCH_DIR/fixes, then
# PATCH_DIR/rust on top) the way maintainers would, patch by patch, in
# order, on the pristine tree in a worktree of its own. Every patch applies
# (git am), builds for arm64 with the Rust choice (CLIPPY=1; bisectable: the
# directories it touches, and the whole kernel at the end of each series)
# and is checkpatch.pl --strict clean. At the end of each series, the C
# choice builds for arm64 with RUST=n, and at the RFC's end x86_64 builds
# with RUST=y and KVM=y (both: the directories the series touches).
# Warnings are errors everywhere. At
# the end, the applied series must equal the prepared tree and pass
# rustfmtcheck. KTAP result lines on stdout, build logs in build/logs/patches-check/.
#   tools/checks/patches-check.sh SRC PATCH_DIR
set -uo pipefail
proj=$(cd "$(dirname "$0")/../.." && pwd)
src=$(cd "$1" && pwd) pdir=$(cd "$2" && pwd)
# shellcheck source=tools/tree/worktree.sh
. "$proj/tools/tree/worktree.sh"
ensure_worktree "$src" series || exit 2
obj=$wt_obj                     # arm64, Rust: build/kernel's config
cobj=$wt_obj-c                  # arm64, RUST=n: the C choice
xobj=$wt_obj-x86                # x86_64, RUST=y, KVM=y
logs=${BUILD:-$proj/build}/logs/patches-check
mkdir -p "$logs"
# shellcheck source=tools/checks/ktap.sh
. "$proj/tools/checks/ktap.sh"
kmake() { "$proj/tools/tree/kmake.sh" "$wt" "$@"; }

export GIT_COMMITTER_NAME="vCPU Suspend Developers" GIT_COMMITTER_EMAIL="vcpu-suspend@example.org"
git -C "$wt" checkout -q -f --detach pristine || exit 2

# The two other configurations, made once on the pristine tree.
if [ ! -f "$cobj/.config" ]; then
	mkdir -p "$cobj"
	cp "$obj/.config" "$cobj/.config"
	"$wt/scripts/config" --file "$cobj/.config" -d RUST
	kmake "$cobj" -s olddefconfig >/dev/null || exit 2
fi
grep -qx 'CONFIG_KVM=y' "$cobj/.config" && ! grep -q '^CONFIG_RUST=y' "$cobj/.config" ||
	{ echo "patches-check: error: $cobj/.config is not KVM=y with RUST=n" >&2; exit 2; }

# seed_c_only: the first build of the C choice starts from a copy of the
# Rust build's objects of the same tree (times kept: built from these
# sources, in this worktree; so are the command lines), with its own
# .config put back last (with_own_config): kbuild rebuilds what reads
# CONFIG_RUST and the symbols it selects, instead of the whole of prepare
# and every directory.
seed_c_only() {
	[ -f "$obj/vmlinux" ] && [ ! -e "$cobj/vmlinux" ] && [ ! -e "$cobj/include/generated" ] ||
		return 0
	with_own_config "$cobj" cp -a "$obj/." "$cobj/"
}
if [ ! -f "$xobj/.config" ]; then
	KARCH=x86_64 "$proj/tools/tree/mkconfig.sh" "$wt" "$xobj" \
		"$proj/tools/tree/config/x86-rust-kvm.config" >&2 || exit 2
fi

# The kbuild targets that prove a patch compiles: the directories of the
# files it touches, rust/ first (a header: arch/arm64/kvm/ and rust/, which
# include it; Documentation/ and tools/: none). IMAGE, the whole kernel,
# which also links, for the last patch of a series; "" to build directories
# only there too (the other two configurations: what they add to the
# arm64 Rust build is the C choice in arch/arm64/kvm/ and the bindings on
# x86_64 in rust/, not the link).
#   targets PATCH IMAGE
targets() {
	[ "$1" = "$last" ] && [ -n "$2" ] && { echo "$2"; return; }
	sed -n 's|^diff --git a/\([^ ]*\) .*|\1|p' "$1" | while read -r f; do
		case "$f" in
		Documentation/*|tools/*|MAINTAINERS) ;;
		rust/*) echo rust/ ;;
		*/include/*|include/*) echo arch/arm64/kvm/; echo rust/ ;;
		*) kbuild_dir "$(dirname "$f")" "$2" ;;
		esac
	done | sort -u -r | tr '\n' ' '
}

# The nearest directory of DIR that kbuild descends into (it has a Makefile
# or a Kbuild file: arch/arm64/kvm/vgic/'s objects are arch/arm64/kvm/'s),
# or IMAGE at the top.
#   kbuild_dir DIR IMAGE
kbuild_dir() {
	local d=$1
	while [ "$d" != . ] && [ ! -f "$wt/$d/Makefile" ] && [ ! -f "$wt/$d/Kbuild" ]; do
		d=$(dirname "$d")
	done
	if [ "$d" = . ]; then echo "$2"; else echo "$d/"; fi
}

# The directories of targets for PATCH, or at the last patch of a series,
# those of every patch of the series (the other configurations build only
# there or where Rust, a Kconfig or a Makefile changes).
#   series_dirs PATCH
series_dirs() {
	if [ "$1" = "$last" ]; then
		for q in $patches; do targets "$q" ""; done | tr ' ' '\n' | sort -u -r | tr '\n' ' '
	else
		targets "$1" ""
	fi
}

# build LABEL OBJ LOG [make args...] -- TARGET...: one result line; one
# kbuild per target, in order.
build() {
	local label=$1 o=$2 log=$3 args=() t rc=0
	shift 3
	while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
	shift
	: >"$log"
	SECONDS=0
	for t in "$@"; do
		kmake "$o" "${args[@]}" "$t" >>"$log" 2>&1 || { rc=1; break; }
	done
	echo "patches-check: $label: built in $SECONDS s" >>"$log"
	result $rc "$label" "see $log: $(grep -m2 -E 'error' "$log" | tr '\n' ' ')"
}

for series in fixes rust; do
	patches=$(find "$pdir/$series" -name '0*.patch' ! -name '0000-*' | sort)
	last=$(echo "$patches" | tail -1)
	for p in $patches; do
		name=$series/$(basename "$p" .patch)
		log=$logs/$series-$(basename "$p" .patch)
		git -C "$wt" am -q "$p" >"$log.am.log" 2>&1
		result $? "$name:applies" "$(head -2 "$log.am.log" | tr '\n' ' ')"
		wt_choose_rust "$wt" "$obj" || echo "patches-check: warning: no Rust choice in $obj" >&2
		what=$(targets "$p" Image)
		[ -z "${what// }" ] || build "$name:builds" "$obj" "$log.log" CLIPPY=1 -- $what
		# The other two configurations once per series, at its end, over
		# the directories of the whole series: each intermediate patch is
		# built in the main configuration above, and what the others add
		# (the C choice, the bindings' gating on x86_64) is the series'.
		if [ "$p" = "$last" ]; then
			what=$(series_dirs "$p" | sed 's|rust/||')
			seed_c_only
			[ -z "${what// }" ] ||
				build "$name:builds-arm64-c-only" "$cobj" "$log.c-only.log" -- $what
		fi
		if [ "$series" = rust ] && [ "$p" = "$last" ]; then
			what=$(series_dirs "$p" | sed 's|arch/arm64/[^ ]*||g')
			[ -z "${what// }" ] ||
				KARCH=x86_64 build "$name:builds-x86_64-rust" "$xobj" "$log.x86_64.log" \
					CLIPPY=1 -- $what
		fi
		# checkpatch asks "does MAINTAINERS need updating?" of every
		# patch that adds a file and does not touch MAINTAINERS. The
		# question is answered here, not ignored: get_maintainer.pl must
		# find each added file a maintained section (KVM/arm64, RUST,
		# ...); then the warning is dropped for that patch.
		added=$(awk '/^diff --git /{f=$4; sub(/^b\//, "", f)} /^new file mode/{print f}' "$p")
		orphans=""
		for f in $added; do
			(cd "$wt" && perl scripts/get_maintainer.pl --no-git --no-git-fallback \
				--no-email --no-l --subsystem --no-status -f "$f" 2>/dev/null) |
				grep -v '@' | grep -qv '^THE REST$' || orphans="$orphans $f"
		done
		ignore=()
		[ -n "$added" ] && [ -z "$orphans" ] && ignore=(--ignore FILE_PATH_CHANGES)
		# The worktree holds Debian's tarball, not upstream's history:
		# no commit id of a Fixes: tag or of a "commit <id>" reference
		# can be looked up here; each one's evidence is in
		# Documentation/project/upstream-status.md, and the last check
		# is left to the sender (README.md, Submitting).
		grep -qE '^Fixes: |(^|[ (])commit [0-9a-f]{12}' "$p" &&
			ignore+=(--ignore UNKNOWN_COMMIT_ID)
		out=$(cd "$wt" && perl scripts/checkpatch.pl --strict --no-tree -q --terse \
			"${ignore[@]}" "$p" 2>&1)
		echo "$out" | grep -q '^total: 0 errors, 0 warnings, 0 checks'
		result $? "$name:checkpatch" "$(echo "$out" | head -3 | tr '\n' ' ')${orphans:+; no maintainer for:$orphans}"
	done
	# Each series ends where the prepared tree's tag says.
	tag=fixes
	[ "$series" = rust ] && tag=upstream
	git -C "$wt" diff --quiet HEAD "$(git -C "$src" rev-parse "$tag")"
	result $? "$series:equals-prepared-tree" "the applied patches differ from build/src's tag $tag"
done

out=$(kmake "$obj" rustfmtcheck 2>&1)
result $? "rustfmtcheck" "$(echo "$out" | grep -m3 -E 'Diff|error' | tr '\n' ' ')"
