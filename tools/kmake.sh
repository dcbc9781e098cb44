#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make(1) in the prepared kernel tree with the project's toolchain:
# Debian's rustc 1.96 (the rustup one in PATH has no rust-src), clang-19.
# Warnings are errors, C and Rust: the pristine tree builds without any, so
# a warning can only come from the project's changes.
#   [KARCH=x86_64] tools/kmake.sh SRC OBJ [make args...]   (default arm64)
set -euo pipefail
proj=$(cd "$(dirname "$0")/.." && pwd)
. "$proj/tools/versions.env"
mkdir -p "$2"
src=$(cd "$1" && pwd) obj=$(cd "$2" && pwd)
shift 2
exec make -C "$src" O="$obj" ARCH="${KARCH:-arm64}" LLVM=-19 \
	RUSTC=/usr/bin/rustc HOSTRUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
	RUSTFMT=/usr/bin/rustfmt CLIPPY_DRIVER=/usr/bin/clippy-driver \
	BINDGEN="$CARGO_HOME_DIR/bin/bindgen" \
	KCFLAGS=-Werror KRUSTFLAGS=-Dwarnings \
	-j"$(nproc)" "$@"
