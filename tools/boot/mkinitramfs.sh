#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the test initramfs: static arm64 busybox, tools/boot/guest/init, a test
# list and the test programs.
#   tools/boot/mkinitramfs.sh OUT.cpio LIST FILE:DEST...
# LIST becomes /tests.list; each FILE (or directory) is copied to DEST
# (absolute).
set -euo pipefail
proj=$(cd "$(dirname "$0")/../.." && pwd)
. "$proj/tools/setup/versions.env"
out=$1 list=$2
shift 2

die() { printf 'mkinitramfs: error: %s\n' "$*" >&2; exit 1; }
[ -x "$BUSYBOX_DIR/bin/busybox" ] || die "no busybox in $BUSYBOX_DIR: run tools/setup/setup.sh"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp}
cp "$BUSYBOX_DIR/bin/busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$proj/tools/boot/guest/init" "$root/init"
cp "$proj/tools/boot/guest/with-impl" "$root/bin/with-impl"
cp "$proj/tools/boot/guest/ab-loop" "$root/bin/ab-loop"
cp "$list" "$root/tests.list"
for spec in "$@"; do
	src=${spec%%:*} dest=${spec#*:}
	if [ -d "$src" ]; then
		mkdir -p "$root$dest"
		cp -a "$src/." "$root$dest"
	else
		[ -f "$src" ] || die "$src missing"
		mkdir -p "$root$(dirname "$dest")"
		cp "$src" "$root$dest"
	fi
done
mkdir -p "$(dirname "$out")"
# Fixed times and inode numbers: the same files give the same archive, in
# any clone (harness/inputs.py keys checks by content).
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 --reproducible) >"$out.tmp"
mv "$out.tmp" "$out"
