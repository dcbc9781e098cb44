#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The pristine kernel for the regression gate: Debian's 6.12.117 as it is
# (the prepared tree's tag "pristine"), checked out in a git worktree of its
# own and built with the project's config fragment, so that the only
# difference from build/Image is the series.
#   tools/pristine.sh SRC PRISTINE_SRC PRISTINE_OBJ
set -euo pipefail
src=$1 psrc=$2 pobj=$3
proj=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -e "$psrc/.git" ]; then
	git -C "$src" worktree prune
	git -C "$src" worktree add -q --detach "$psrc" pristine
fi
git -C "$psrc" checkout -q --detach pristine
if [ ! -f "$pobj/.config" ]; then
	"$proj/tools/mkconfig.sh" "$psrc" "$pobj" "$proj/tools/config/kvm-rust.config"
fi
log=$proj/build/logs/pristine-kernel.log
mkdir -p "$(dirname "$log")"
echo "pristine: building (log: $log)"
if ! "$proj/tools/kmake.sh" "$psrc" "$pobj" Image >"$log" 2>&1; then
	grep -E 'error|Error' "$log" | head -20 >&2
	echo "pristine: error: build failed, see $log" >&2
	exit 1
fi
