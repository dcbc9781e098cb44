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
# The need, on each file system it falls on: what a cold .ci/run from a
# fresh clone on a fresh machine added to the disk at its peak after the
# set-up (RUN_PEAK_MIB, measured with df every 30 s, rounded up), less
# what build/ already holds; and on /usr's, the packages that
# tools/setup/setup.sh installs when they are not there (SETUP_MIB). The
# figures are in tools/setup/versions.env, with the run they come from.
set -euo pipefail
proj=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tools/setup/versions.env
. "$proj/tools/setup/versions.env"

say() { printf 'disk: %s\n' "$*" >&2; }

# PATH, or its nearest existing parent: what df and stat can be asked of
# for a directory a run has yet to make.
existing() {
	local p=$1
	while [ ! -e "$p" ]; do p=$(dirname "$p"); done
	echo "$p"
}

# MiB free to the user on the file system that holds PATH.
free_mib() {
	df -Pm "$(existing "$1")" | awk 'NR == 2 { print $4 }'
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
	say "$build_free MiB free for build/ ($(df -Pm "$proj" | awk 'NR == 2 { print $6 ", " $2 }')" \
		"MiB in all);" \
		"build/ holds $build_held MiB, $CACHE_ROOT $cache_held MiB" \
		"($(free_mib "$CACHE_ROOT") MiB free there)"
}

# need NAME PATH MIB: counts MIB more MiB on PATH's file system.
declare -A needs=() paths=() names=()
need() {
	local d
	d=$(stat -c %d "$(existing "$2")")
	needs[$d]=$(( ${needs[$d]:-0} + $3 ))
	paths[$d]=${paths[$d]:-$2}
	names[$d]="${names[$d]:+${names[$d]}, }$3 MiB for $1"
}

case "${1:-}" in
report)
	report
	;;
check)
	report
	# What the run adds at its peak, less what a run here left, on build/'s
	# file system (the caches' share is not counted apart: the cold run's
	# ended at 117 MiB); the packages on /usr's.
	need build/ "$build" "$(( RUN_PEAK_MIB > build_held ? RUN_PEAK_MIB - build_held : 0 ))"
	if [ ! -f "$LINUX_TARBALL" ]; then
		need "the packages tools/setup/setup.sh installs" /usr "$SETUP_MIB"
	fi
	short=0
	for d in "${!needs[@]}"; do
		free=$(free_mib "${paths[$d]}")
		if [ "$free" -lt "${needs[$d]}" ]; then
			say "error: $free MiB free on the file system of ${paths[$d]}, a run needs" \
				"about ${needs[$d]} MiB more there (${names[$d]})"
			short=1
		else
			say "ok: ${needs[$d]} MiB needed on the file system of ${paths[$d]}" \
				"(${names[$d]}), $free MiB free"
		fi
	done
	if [ $short = 1 ]; then
		say "A cold run from a fresh clone adds $RUN_PEAK_MIB MiB to build/ at its" \
			"peak (tools/setup/versions.env). Free space there, or clone elsewhere."
		exit 1
	fi
	;;
*)
	echo "usage: tools/setup/disk.sh report|check" >&2
	exit 2
	;;
esac
