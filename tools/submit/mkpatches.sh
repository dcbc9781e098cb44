#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Export the prepared tree's two series with git format-patch, each with its
# cover letter (tools/submit/cover-letters/, figures from the last results):
#   OUT/fixes  [PATCH]      pristine..fixes    the C fix, api.rst, selftest
#   OUT/rust   [PATCH RFC]  fixes..upstream    the Rust abstraction and path
# Both name their base (--base); the RFC lists the fixes as prerequisites.
#   tools/submit/mkpatches.sh SRC [OUT]      (OUT defaults to build/patches)
set -euo pipefail
proj=$(cd "$(dirname "$0")/../.." && pwd)
src=$1 out=${2:-${BUILD:-$proj/build}/patches}
logs=${BUILD:-$proj/build}/results
rm -rf "$out"
mkdir -p "$out"
export GIT_COMMITTER_NAME="vCPU Suspend Developers" GIT_COMMITTER_EMAIL="vcpu-suspend@example.org"

# export NAME PREFIX RANGE
export_series() {
	local dir=$out/$1
	git -C "$src" format-patch -q --cover-letter --base=pristine \
		--subject-prefix="$2" -o "$dir" "$3"
	PYTHONPATH=$proj/tools python3 "$proj/tools/submit/cover-letter.py" "$proj/tools/submit/cover-letters/$1.txt" \
		"$logs" "$dir/0000-cover-letter.patch"
	echo "patches: $(($(find "$dir" -name '0*.patch' | wc -l) - 1)) patches and a cover letter in $dir"
}
export_series fixes "PATCH" pristine..fixes
export_series rust "PATCH RFC" fixes..upstream
