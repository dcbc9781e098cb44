#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot an arm64 kernel with an initramfs under QEMU (TCG, with EL2 so that
# KVM runs inside, in VHE mode) and save the console.
#   tools/boot/boot.sh IMAGE INITRAMFS CONSOLE_LOG [EXTRA_KERNEL_ARGS]
# BOOT_TIMEOUT (seconds, default 900) bounds the whole boot.
set -euo pipefail
image=$1 initrd=$2 log=$3 extra=${4:-}
mkdir -p "$(dirname "$log")"
start=$(date +%s.%N)
rc=0
timeout "${BOOT_TIMEOUT:-900}" qemu-system-aarch64 \
	-M virt,virtualization=on,gic-version=3 -cpu max -smp 2 -m 2048 \
	-nographic -no-reboot -nic none \
	-kernel "$image" -initrd "$initrd" \
	-append "console=ttyAMA0 panic=-1 $extra" </dev/null >"$log" 2>&1 || rc=$?
end=$(date +%s.%N)
printf 'boot: %s in %.1f s, console in %s\n' "$(basename "$image")" \
	"$(echo "$end - $start" | bc)" "$log" >&2
if [ $rc = 124 ]; then
	echo "boot: error: QEMU still running after ${BOOT_TIMEOUT:-900} s, killed" >&2
elif [ $rc != 0 ]; then
	echo "boot: error: QEMU exited with $rc" >&2
fi
# The report decides about failures; a QEMU that did not finish leaves no
# "### DONE" in the log, which the report counts as a failure.
exit 0
