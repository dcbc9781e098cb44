#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make(1) in the prepared kernel tree with the project's toolchain:
# Debian's rustc 1.96 (the rustup one in PATH has no rust-src), clang-19.
# Warnings are errors, C and Rust: the pristine tree builds without any, so
# a warning can only come from the project's changes. The build is
# reproducible (fixed timestamp, version, user and host): the same sources
# give the same Image, so that make check can tell what changed by content.
# C goes through ccache ($CCACHE_DIR, a machine-wide cache outside the
# clone): paths below the build directory are hashed relative to the object
# directory (CCACHE_BASEDIR), which is ../src for build/kernel and for every
# worktree's obj, so that the pristine kernel, the series check and a fresh
# clone reuse what another tree compiled from the same source and headers.
# Depend mode: a miss compiles once and takes the headers from the
# compiler's own -MMD file, where ccache's default would run the
# preprocessor first to hash its output (the price a cold build paid for
# the cache). It does not see what .incbin embeds: setup.sh empties the
# cache when the pins change (ccache_for_pins).
#   [KARCH=x86_64] tools/tree/kmake.sh SRC OBJ [make args...]   (default arm64)
set -euo pipefail
proj=$(cd "$(dirname "$0")/../.." && pwd)
. "$proj/tools/setup/versions.env"
mkdir -p "$2"
src=$(cd "$1" && pwd) obj=$(cd "$2" && pwd)
shift 2
cc=clang-19
if [ -z "${NO_CCACHE:-}" ] && command -v ccache >/dev/null; then
	export CCACHE_DIR=${CCACHE_DIR:-$CCACHE_DIR_DEFAULT} CCACHE_NOHASHDIR=1
	export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(cd "$src/.." && pwd)}
	export CCACHE_COMPILERCHECK=content CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-20G} CCACHE_DEPEND=1
	cc="ccache clang-19"
fi
exec make -C "$src" O="$obj" ARCH="${KARCH:-arm64}" LLVM=-19 CC="$cc" \
	RUSTC=/usr/bin/rustc HOSTRUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
	RUSTFMT=/usr/bin/rustfmt CLIPPY_DRIVER=/usr/bin/clippy-driver \
	BINDGEN="$CARGO_HOME_DIR/bin/bindgen" \
	KCFLAGS=-Werror KRUSTFLAGS=-Dwarnings \
	KBUILD_BUILD_TIMESTAMP="2026-11-25 00:00:00 UTC" KBUILD_BUILD_VERSION=1 \
	KBUILD_BUILD_USER=vcpu-suspend KBUILD_BUILD_HOST=build \
	-j"$(nproc)" "$@"
