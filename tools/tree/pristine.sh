#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The pristine kernel for the regression gate and the leads: Debian's tree as it is
# (the prepared tree's tag "pristine"), built with the project's config
# fragment, so that the only difference from build/Image is the series; the
# Image is copied to OUT_IMAGE. It is built in the series check's worktree
# (tools/tree/worktree.sh), which starts at pristine too: the series check that
# follows in make check then builds each patch incrementally on it instead
# of building the base kernel a second time. CLIPPY=1, as that check builds.
#
# With SEED_OBJ, a kbuild output directory of the same base built from a
# commit of SRC (build/kernel, whose .source-rev the Makefile writes),
# an empty worktree obj starts as a copy of it: the two 7.3 kernels differ
# in what the series touches, so kbuild rebuilds only that (and the Rust it
# reaches) instead of the whole kernel.
#   tools/tree/pristine.sh SRC OUT_IMAGE [SEED_OBJ]
set -euo pipefail
src=$1 out=$2 seed=${3:-}
proj=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tools/tree/worktree.sh
. "$proj/tools/tree/worktree.sh"
ensure_worktree "$src" series

# seed_objects SEED: the worktree's obj becomes a copy of SEED's objects as
# if built there. The worktree is checked out at SEED's commit; the copy's
# command lines name the worktree instead of SEED's tree (the only
# difference kbuild's if_changed would see); every copied file gets one time,
# after the checkout, so that what the checkout of pristine then rewrites is
# newer than the objects built from it, and nothing else is; the worktree's
# own .config (its fragments) is put back last (with_own_config).
seed_objects() {
	local seed=$1 rev seedsrc
	rev=$(cat "$seed/.source-rev")
	git -C "$wt" cat-file -e "$rev^{commit}" 2>/dev/null || return 1
	seedsrc=$(readlink -f "$seed/source")
	[ -d "$seedsrc" ] || return 1
	echo "pristine: starting from the objects of $seed (commit ${rev:0:12})"
	git -C "$wt" checkout -q -f --detach "$rev"
	with_own_config "$wt_obj" copy_objects "$seed" "$seedsrc"
}

# copy_objects SEED SEEDSRC: SEED's objects into the worktree's obj, moved
# from SEEDSRC to the worktree, all with one time.
copy_objects() {
	tar -C "$1" --exclude=./kselftest --exclude=./Documentation --exclude=./.source-rev \
		-cf - . | tar -C "$wt_obj" -xf -
	find "$wt_obj" -name '*.cmd' -exec sed -i "s#$2\([/ :]\|\$\)#$wt\1#g" {} +
	ln -sfn "$wt" "$wt_obj/source"
	find "$wt_obj" -exec touch -h -d "@$(date +%s)" {} +
}

if [ -n "$seed" ] && [ -f "$seed/.source-rev" ] && [ -f "$seed/vmlinux" ] &&
	[ ! -e "$wt_obj/vmlinux" ]; then
	seed_objects "$seed" || echo "pristine: $seed does not fit this tree: a whole build"
fi
git -C "$wt" checkout -q -f --detach pristine
log=${BUILD:-$proj/build}/logs/pristine-kernel.log
mkdir -p "$(dirname "$log")" "$(dirname "$out")"
echo "pristine: building (log: $log)"
if ! "$proj/tools/tree/kmake.sh" "$wt" "$wt_obj" CLIPPY=1 Image >"$log" 2>&1; then
	grep -E 'error|Error' "$log" | head -20 >&2
	echo "pristine: error: build failed, see $log" >&2
	exit 1
fi
cp "$wt_obj/arch/arm64/boot/Image" "$out"
