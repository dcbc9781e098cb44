#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Host side of a Rust crate of the project (the selftest, the VMM), as KTAP
# result lines for tools/report/report.py: each cargo test, then clippy (host and
# aarch64, warnings denied) and rustfmt; PREFIX starts each result's name.
#   tools/checks/rust-host-checks.sh CRATE BUILD_DIR [PREFIX]
set -uo pipefail
crate=$1
b=$(mkdir -p "$2" && cd "$2" && pwd)
p=${3:-}
tdir=$b/${p:-rust-selftest}
# Debian's toolchain first: cargo finds its clippy and rustfmt helpers in PATH,
# and the rustup ones in ~/.cargo/bin have no std for aarch64.
export PATH=/usr/bin:$PATH
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
# shellcheck source=tools/checks/ktap.sh
. "$(cd "$(dirname "$0")" && pwd)/ktap.sh"
cd "$crate" || exit 2

out=$(/usr/bin/cargo test --locked --target-dir "$tdir-host" 2>&1)
rc=$?
tests=$(echo "$out" | grep -E '^test .* \.\.\. (ok|FAILED|ignored)$')
while read -r _ name _ status; do
	[ -n "$name" ] || continue
	[ "$status" = ok ]
	result $? "${p}cargo-test:$name" "$status"
done <<<"$tests"
[ $rc = 0 ] && [ -n "$tests" ]
result $? "${p}cargo-test" "$(echo "$out" | grep -E '^error|panicked' | head -3 | tr '\n' ' ')"

for target in "" "--target aarch64-unknown-linux-gnu"; do
	# shellcheck disable=SC2086
	out=$(/usr/bin/cargo clippy --locked $target --all-targets \
		--target-dir "$tdir-clippy" -- -D warnings 2>&1)
	result $? "${p}clippy${target:+-aarch64}" "$(echo "$out" | grep -E '^(error|warning)' | head -3 | tr '\n' ' ')"
done

out=$(/usr/bin/cargo fmt --check 2>&1 | head -5)
[ -z "$out" ]
result $? "${p}rustfmt" "$(echo "$out" | tr '\n' ' ')"
