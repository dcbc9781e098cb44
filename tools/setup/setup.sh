#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install everything the project needs, idempotently, from Debian's archive
# and crates.io only.  Safe to run again: each step checks first.
#
# Usage: tools/setup/setup.sh        (as root)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/setup/versions.env
. "$here/versions.env"

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get install)"

apt_pkgs=(
	"linux-source-6.12"
	rustc-web cargo-web rust-web-src rustfmt-web rust-web-clippy
	clang-19 lld-19 llvm-19 libclang-19-dev
	qemu-system-arm
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross
	flex bison bc libelf-dev libssl-dev cpio xz-utils make perl python3 rsync
	python3-sphinx python3-yaml python3-matplotlib
)
arm64_pkgs=("libstd-rust-web-dev:arm64")

missing=()
for p in "${apt_pkgs[@]}" "${arm64_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		log "adding the arm64 dpkg architecture"
		dpkg --add-architecture arm64
	fi
	log "apt-get update"
	apt-get update -qq
	# Pin the kernel source when the archive still has that version.
	for i in "${!missing[@]}"; do
		if [ "${missing[$i]}" = linux-source-6.12 ] &&
		   apt-cache madison linux-source-6.12 | grep -qF "$LINUX_SOURCE_DEB"; then
			missing[$i]="linux-source-6.12=$LINUX_SOURCE_DEB"
		fi
	done
	log "apt-get install ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
fi

# The target std for aarch64 must be the very same version as the host rustc.
host_v=$(dpkg-query -W -f='${Version}' rustc-web)
tgt_v=$(dpkg-query -W -f='${Version}' libstd-rust-web-dev:arm64)
[ "$host_v" = "$tgt_v" ] ||
	die "rustc-web $host_v and libstd-rust-web-dev:arm64 $tgt_v differ"

# bindgen: Debian's is too old for the kernel (needs >= 0.65.1).
bindgen="$CARGO_HOME_DIR/bin/bindgen"
if ! "$bindgen" --version 2>/dev/null | grep -qF "$BINDGEN_VERSION"; then
	log "cargo install bindgen-cli $BINDGEN_VERSION"
	CARGO_HOME="$CARGO_HOME_DIR" /usr/bin/cargo install --locked --quiet \
		--root "$CARGO_HOME_DIR" bindgen-cli --version "=$BINDGEN_VERSION"
fi

# busybox for the initramfs: the static arm64 binary, unpacked, not installed.
if [ ! -x "$BUSYBOX_DIR/bin/busybox" ]; then
	log "fetching busybox-static:arm64"
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -qq busybox-static:arm64)
	mkdir -p "$BUSYBOX_DIR"
	dpkg -x "$tmp"/busybox-static_*_arm64.deb "$BUSYBOX_DIR"
	rm -rf "$tmp"
fi

log "ok: $(/usr/bin/rustc --version), bindgen $("$bindgen" --version | cut -d' ' -f2), $(qemu-system-aarch64 --version | head -1)"
