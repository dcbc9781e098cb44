#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The nested (L2) guest's initramfs for selftests/vmm: static arm64 busybox
# and guest/init (suspend to RAM, checks, poweroff).
#   selftests/vmm/guest/mkinitrd.sh OUT.cpio
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
proj=$(cd "$here/../../.." && pwd)
. "$proj/tools/setup/versions.env"
out=$1
[ -x "$BUSYBOX_DIR/bin/busybox" ] ||
	{ echo "mkinitrd: no busybox in $BUSYBOX_DIR: run tools/setup/setup.sh" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys}
cp "$BUSYBOX_DIR/bin/busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$here/init" "$root/init"
chmod 755 "$root/init"
mkdir -p "$(dirname "$out")"
# Fixed times and inode numbers: the same files give the same archive, in
# any clone (harness/inputs.py keys checks by content).
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 --reproducible) >"$out.tmp"
mv "$out.tmp" "$out"
