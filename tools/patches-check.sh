#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Check the exported series (tools/mkpatches.sh) the way a maintainer would,
# patch by patch, in order, on the pristine tree in a worktree of its own:
# it applies (git am), the kernel builds (bisectable; warnings are errors,
# Rust built with CLIPPY=1), and checkpatch.pl --strict is clean. At the end,
# the applied series must equal the prepared tree and pass rustfmtcheck.
# KTAP result lines on stdout, build logs in build/bisect/.
#   tools/patches-check.sh SRC PATCH_DIR
set -uo pipefail
proj=$(cd "$(dirname "$0")/.." && pwd)
src=$(cd "$1" && pwd) pdir=$(cd "$2" && pwd)
# shellcheck source=tools/worktree.sh
. "$proj/tools/worktree.sh"
ensure_worktree "$src" || exit 2
obj=$wt_obj
# shellcheck source=tools/ktap.sh
. "$(cd "$(dirname "$0")" && pwd)/ktap.sh"
kmake() { "$proj/tools/kmake.sh" "$wt" "$obj" "$@"; }

export GIT_COMMITTER_NAME="vCPU Suspend Developers" GIT_COMMITTER_EMAIL="vcpu-suspend@example.org"
git -C "$wt" checkout -q -f --detach pristine || exit 2

for p in "$pdir"/0*.patch; do
	name=$(basename "$p" .patch)
	case "$name" in 0000-*) continue ;; esac
	git -C "$wt" am -q "$p" >"$obj.am.log" 2>&1
	result $? "$name:applies" "$(head -2 "$obj.am.log" | tr '\n' ' ')"
	kmake CLIPPY=1 Image >"$proj/build/bisect/$name.log" 2>&1
	result $? "$name:builds" "see build/bisect/$name.log: $(grep -m2 -E 'error' "$proj/build/bisect/$name.log" | tr '\n' ' ')"
	# checkpatch asks "does MAINTAINERS need updating?" of every patch
	# that adds a file and does not touch MAINTAINERS. The question is
	# answered here, not ignored: get_maintainer.pl must find each added
	# file a maintained section (KVM/arm64, RUST, ...); then the warning is
	# dropped for that patch.
	added=$(awk '/^diff --git /{f=$4; sub(/^b\//, "", f)} /^new file mode/{print f}' "$p")
	orphans=""
	for f in $added; do
		(cd "$wt" && perl scripts/get_maintainer.pl --no-git --no-git-fallback \
			--no-email --no-l --subsystem --no-status -f "$f" 2>/dev/null) |
			grep -v '@' | grep -qv '^THE REST$' || orphans="$orphans $f"
	done
	ignore=()
	[ -n "$added" ] && [ -z "$orphans" ] && ignore=(--ignore FILE_PATH_CHANGES)
	out=$(cd "$wt" && perl scripts/checkpatch.pl --strict --no-tree -q --terse \
		"${ignore[@]}" "$p" 2>&1)
	echo "$out" | grep -q '^total: 0 errors, 0 warnings, 0 checks'
	result $? "$name:checkpatch" "$(echo "$out" | head -3 | tr '\n' ' ')${orphans:+; no maintainer for:$orphans}"
done

git -C "$wt" diff --quiet HEAD "$(git -C "$src" rev-parse upstream)"
result $? "series-equals-prepared-tree" "the applied patches differ from build/src's upstream tag"
out=$(kmake rustfmtcheck 2>&1)
result $? "rustfmtcheck" "$(echo "$out" | grep -m3 -E 'Diff|error' | tr '\n' ' ')"
