#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The pristine kernel for the regression gate and the leads: Debian's tree as it is
# (the prepared tree's tag "pristine"), built with the project's config
# fragment, so that the only difference from build/Image is the series; the
# Image is copied to OUT_IMAGE. It is built in the series check's worktree
# (tools/tree/worktree.sh), which starts at pristine too: the series check that
# follows in make check then builds each patch incrementally on it instead
# of building the base kernel a second time.
#   tools/tree/pristine.sh SRC OUT_IMAGE
set -euo pipefail
src=$1 out=$2
proj=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tools/tree/worktree.sh
. "$proj/tools/tree/worktree.sh"
ensure_worktree "$src" series
git -C "$wt" checkout -q -f --detach pristine
log=${BUILD:-$proj/build}/logs/pristine-kernel.log
mkdir -p "$(dirname "$log")" "$(dirname "$out")"
echo "pristine: building (log: $log)"
if ! "$proj/tools/tree/kmake.sh" "$wt" "$wt_obj" Image >"$log" 2>&1; then
	grep -E 'error|Error' "$log" | head -20 >&2
	echo "pristine: error: build failed, see $log" >&2
	exit 1
fi
cp "$wt_obj/arch/arm64/boot/Image" "$out"
