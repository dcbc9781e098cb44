#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make measure-loop: the developer's loop, timed, into build/results/timings.txt
# (tools/harness/timings.py; make results-docs puts it in README.md):
#   check-nochange  make check with nothing changed since it last passed;
#                   every cached check must say it kept its result, or it is
#                   run once more (the first run brought something up to date)
#   test-oneline    make test after a one-line change to rust/arm64/suspend.rs
#                   (a comment appended; the file is restored afterwards)
#   run-built       make run with everything built
# Logs: build/logs/measure-*.log. Exits non-zero when a command fails.
set -euo pipefail
proj=$(cd "$(dirname "$0")/../.." && pwd)
results=${BUILD:-$proj/build}/results
logs=${BUILD:-$proj/build}/logs
timings=$results/timings.txt
suspend=$proj/rust/arm64/suspend.rs
# The checks of make check that keep their result when their inputs did not
# change (the Makefile's "cached" calls).
cached_checks=10
mkdir -p "$results" "$logs"

die() { printf 'measure-loop: error: %s\n' "$*" >&2; exit 1; }
record() { PYTHONPATH=$proj/tools python3 -m harness.timings record "$timings" "$@"; }

# timed NAME TARGET: make TARGET with its log in build/logs/measure-NAME.log;
# sets $secs.
timed() {
	local start
	start=$(date +%s)
	make -C "$proj" --no-print-directory CHECK_STAGE_TIMES= "$2" >"$logs/measure-$1.log" 2>&1 ||
		{ tail -20 "$logs/measure-$1.log"; die "make $2 failed, see $logs/measure-$1.log"; }
	secs=$(( $(date +%s) - start ))
}

kept() { grep -c 'inputs unchanged since it last passed' "$logs/measure-check-nochange.log" || true; }

echo "measure-loop: make check with nothing changed"
timed check-nochange check
if [ "$(kept)" -lt $cached_checks ]; then
	echo "measure-loop: $(kept) of $cached_checks checks kept their result: once more, now that all is up to date"
	timed check-nochange check
	[ "$(kept)" -ge $cached_checks ] ||
		die "only $(kept) of $cached_checks checks kept their result with nothing changed"
fi
record check-nochange "$secs" "$(kept) of $cached_checks checks kept their result"

git -C "$proj" diff --quiet -- "$suspend" ||
	die "$suspend has uncommitted changes; commit or stash them first"
trap 'git -C "$proj" checkout -q -- "$suspend"' EXIT
echo "// measure-loop: a one-line change" >>"$suspend"
echo "measure-loop: make test after a one-line change to rust/arm64/suspend.rs"
timed test-oneline test
grep -q ' 0 failed' "$logs/measure-test-oneline.log" ||
	die "make test did not pass, see $logs/measure-test-oneline.log"
record test-oneline "$secs" "$(grep -E '^[0-9]+ passed' "$logs/measure-test-oneline.log" | tail -1)"
git -C "$proj" checkout -q -- "$suspend"
trap - EXIT

echo "measure-loop: make run, everything built (the one-line change undone)"
make -C "$proj" --no-print-directory kernel >"$logs/measure-rebuild.log" 2>&1 ||
	die "rebuilding after the change failed, see $logs/measure-rebuild.log"
timed run-built run
record run-built "$secs"
PYTHONPATH=$proj/tools python3 -m harness.timings show "$timings"
