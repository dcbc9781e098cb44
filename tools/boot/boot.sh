#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot an arm64 kernel with an initramfs under QEMU (TCG, with EL2 so that
# KVM runs inside, in VHE mode) and save the console.
#   tools/boot/boot.sh IMAGE INITRAMFS CONSOLE_LOG [EXTRA_KERNEL_ARGS]
# BOOT_TIMEOUT (seconds, default 900) bounds the whole boot.
#
# A guest that prints nothing for longer than it may is wedged, and is not
# waited for until BOOT_TIMEOUT: while a program of the test list runs, it
# may be silent for the time limit the guest's init prints before starting
# it ("### LIMIT N", the limit after which init kills it and prints its END)
# plus BOOT_GRACE (default 120 s) or a tenth of the limit, the longer;
# otherwise (the kernel booting, KUnit, the leak scan and the log dump at
# the end) for BOOT_SILENCE (default 600 s).
# A wedged guest's console ends with a "### WEDGED" line and what QEMU's
# monitor says of every vCPU (info registers -a: where each one is, at
# which exception level), then QEMU is stopped; the report fails the boot,
# as it has no "### DONE".
set -euo pipefail
image=$1 initrd=$2 log=$3 extra=${4:-}
grace=${BOOT_GRACE:-120} silence=${BOOT_SILENCE:-600}
[[ "$grace$silence" =~ ^[0-9]+$ ]] || {
	echo "boot: error: BOOT_GRACE and BOOT_SILENCE are seconds, not '$grace' and '$silence'" >&2
	exit 2
}
mkdir -p "$(dirname "$log")"
: >"$log"
monitor=$(mktemp -d)
# timeout leads a process group of its own, QEMU in it: however this script
# ends (an error, a signal), QEMU does not outlive it.
qemu=""
trap '[ -z "$qemu" ] || kill -KILL -- "-$qemu" 2>/dev/null; rm -rf "$monitor"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
start=$(date +%s.%N)
timeout "${BOOT_TIMEOUT:-900}" qemu-system-aarch64 \
	-M virt,virtualization=on,gic-version=3 -cpu max -smp 2 -m 2048 \
	-nographic -no-reboot -nic none -monitor "unix:$monitor/sock,server=on,wait=off" \
	-kernel "$image" -initrd "$initrd" \
	-append "console=ttyAMA0 panic=-1 $extra" </dev/null >"$log" 2>&1 &
qemu=$!

# The seconds the guest may be silent now: the running program's limit
# and its grace, or BOOT_SILENCE outside a program.
allowed() {
	awk -v grace="$grace" -v silence="$silence" '
		/^### LIMIT / { limit = $3 + 0 }
		/^### BEGIN / { running = 1 }
		/^### END / { running = 0 }
		END {
			# busybox timeout counts sleeps: a loaded guest kills late
			if (running && limit) print limit + (limit / 10 > grace ? int(limit / 10) : grace)
			else print silence
		}' "$log"
}

# The program running when the guest stopped printing, for the message.
running() {
	awk '/^### BEGIN / { p = $3 } /^### END / { p = "" }
		END { print (p == "" ? "none" : p) }' "$log" | tr -d '\r'
}

# Every vCPU's registers, from QEMU's monitor.
vcpus() {
	python3 - "$monitor/sock" <<-'EOF'
	import re, socket, sys, time
	s = socket.socket(socket.AF_UNIX)
	s.settimeout(5)
	try:
	    s.connect(sys.argv[1])
	    s.sendall(b'info registers -a\n')
	    out, end = b'', time.monotonic() + 10
	    while time.monotonic() < end:
	        try:
	            block = s.recv(65536)
	        except socket.timeout:
	            break
	        if not block:
	            break
	        out += block
	    # Without the monitor's banner, prompts and line editing, and the
	    # SIMD registers: per vCPU its PC, X registers and PSTATE (EL).
	    text = re.sub(r'\x1b\[[0-9;]*[A-Za-z]', '', out.decode(errors='replace'))
	    for line in text.replace('\r', '').splitlines():
	        if line.startswith(('CPU#', ' PC=', 'X', 'PSTATE=')):
	            print(line)
	    if 'CPU#' not in text:
	        print('no registers from QEMU monitor: it did not answer within 10 s')
	except OSError as e:
	    print(f'no answer from QEMU monitor: {e}')
	EOF
}

# stop: QEMU asked to end (timeout passes the signal on), then killed if
# it has not within 10 s.
stop() {
	kill "$qemu" 2>/dev/null || return 0
	for _ in $(seq 10); do
		sleep 1
		kill -0 "$qemu" 2>/dev/null || return 0
	done
	kill -KILL -- "-$qemu" 2>/dev/null || true
}

# No allowance is shorter than this: the log is read only past it.
least=$(( grace < silence ? grace : silence ))
wedged=""
while kill -0 "$qemu" 2>/dev/null; do
	sleep 1
	changed=$(stat -c %Y "$log" 2>/dev/null) || continue
	quiet=$(( $(date +%s) - changed ))
	[ "$quiet" -gt "$least" ] || continue
	may=$(allowed)
	if [ "$quiet" -gt "$may" ] && kill -0 "$qemu" 2>/dev/null; then
		wedged="no console output for $quiet s (more than $may s), program running: $(running)"
		state=$(vcpus || true)
		stop
		break
	fi
done
rc=0
wait "$qemu" || rc=$?
qemu=""
end=$(date +%s.%N)
printf 'boot: %s in %.1f s, console in %s\n' "$(basename "$image")" \
	"$(echo "$end - $start" | bc)" "$log" >&2
if [ -n "$wedged" ]; then
	printf '\n### WEDGED %s\n%s\n' "$wedged" "$state" >>"$log"
	echo "boot: error: wedged: $wedged; QEMU stopped, its vCPUs at the end of $log" >&2
elif [ $rc = 124 ]; then
	echo "boot: error: QEMU still running after ${BOOT_TIMEOUT:-900} s, killed" >&2
elif [ $rc != 0 ]; then
	echo "boot: error: QEMU exited with $rc" >&2
fi
# The report decides about failures; a QEMU that did not finish leaves no
# "### DONE" in the log, which the report counts as a failure.
exit 0
