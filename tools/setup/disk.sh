#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The disk space a run of .ci/run needs, said before it starts writing
# instead of as "No space left on device" deep inside a stage (CI once
# stopped 17 s in, in prepare-tree's tar, with nothing said of the disk).
#
#   tools/setup/disk.sh report   what is free where the run writes, and what
#                                build/ and the machine-wide caches hold
#   tools/setup/disk.sh check    report, then exit 1 with a message unless
#                                the space the run still needs is free
#
# The need is what a cold .ci/run from a fresh clone on a fresh machine
# added to the disk at its peak (RUN_PEAK_MIB, measured with df every 30 s),
# less what build/ already holds, plus the packages that tools/setup/setup.sh
# installs when they are not there (SETUP_MIB). The figures are in
# tools/setup/versions.env, with the run they come from.
set -euo pipefail
proj=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tools/setup/versions.env
. "$proj/tools/setup/versions.env"

say() { printf 'disk: %s\n' "$*" >&2; }

# MiB free to the user on the file system that holds PATH (or its nearest
# existing parent).
free_mib() {
	local p=$1
	while [ ! -e "$p" ]; do p=$(dirname "$p"); done
	df -Pm "$p" | awk 'NR == 2 { print $4 }'
}

# MiB that PATH holds (0 when it does not exist; du's count even when a
# file vanished or could not be read on the way).
held_mib() {
	if [ -e "$1" ]; then
		{ du -sm "$1" 2>/dev/null || true; } | awk '{ print $1 } END { if (!NR) print 0 }'
	else
		echo 0
	fi
}

build=$proj/build
report() {
	build_held=$(held_mib "$build")
	cache_held=$(held_mib "$CACHE_ROOT")
	build_free=$(free_mib "$build")
	say "$build_free MiB free for build/ ($(df -P "$proj" | awk 'NR == 2 { print $6 }')," \
		"$(df -Pm "$proj" | awk 'NR == 2 { print $2 }') MiB in all);" \
		"build/ holds $build_held MiB, $CACHE_ROOT $cache_held MiB" \
		"($(free_mib "$CACHE_ROOT") MiB free there)"
}

case "${1:-}" in
report)
	report
	;;
check)
	report
	need=$(( RUN_PEAK_MIB - build_held ))
	[ "$need" -gt 0 ] || need=0
	setup=""
	if [ ! -f "$LINUX_TARBALL" ]; then
		need=$(( need + SETUP_MIB ))
		setup=", with $SETUP_MIB MiB for the packages tools/setup/setup.sh installs"
	fi
	if [ "$build_free" -lt "$need" ]; then
		say "error: a run needs about $need MiB more$setup; $build_free MiB are free."
		say "A cold run from a fresh clone adds $RUN_PEAK_MIB MiB at its peak" \
			"(tools/setup/versions.env). Free space there, or clone elsewhere."
		exit 1
	fi
	say "ok: the run needs about $need MiB more$setup"
	;;
*)
	echo "usage: tools/setup/disk.sh report|check" >&2
	exit 2
	;;
esac
