#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Export the prepared tree's two series with git format-patch, each with its
# cover letter (tools/submit/cover-letters/, figures from the last results),
# and the fix series' 6.12.y backport when make stable has prepared it:
#   OUT/fixes        [PATCH]         pristine..fixes    the C fixes, api.rst, selftest
#   OUT/rust         [PATCH RFC]     fixes..upstream    the Rust abstraction and path
#   OUT/stable-6.12  [PATCH 6.12.y]  pristine..fixes of build/stable-6.12/src
# Each names its base (--base); the RFC lists the fixes as prerequisites.
#   tools/submit/mkpatches.sh SRC [OUT]      (OUT defaults to build/patches)
set -euo pipefail
proj=$(cd "$(dirname "$0")/../.." && pwd)
src=$1 out=${2:-${BUILD:-$proj/build}/patches}
logs=${BUILD:-$proj/build}/results
rm -rf "$out"
mkdir -p "$out"
export GIT_COMMITTER_NAME="vCPU Suspend Developers" GIT_COMMITTER_EMAIL="vcpu-suspend@example.org"

# export NAME PREFIX RANGE [SRC LOGS BASE_PKG]
export_series() {
	local dir=$out/$1 tree=${4:-$src}
	git -C "$tree" format-patch -q --notes --cover-letter --base=pristine \
		--subject-prefix="$2" -o "$dir" "$3"
	COVER_BASE_PKG=${6:-linux-source-7.3} PYTHONPATH=$proj/tools python3 \
		"$proj/tools/submit/cover-letter.py" "$proj/tools/submit/cover-letters/$1.txt" \
		"${5:-$logs}" "$dir/0000-cover-letter.patch"
	echo "patches: $(($(find "$dir" -name '0*.patch' | wc -l) - 1)) patches and a cover letter in $dir"
}
export_series fixes "PATCH" pristine..fixes
export_series rust "PATCH RFC" fixes..upstream
stable=$proj/build/stable-6.12
if git -C "$stable/src" rev-parse -q --verify fixes >/dev/null 2>&1; then
	export_series stable-6.12 "PATCH 6.12.y" pristine..fixes "$stable/src" "$stable/results" \
		linux-source-6.12
fi
