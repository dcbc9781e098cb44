#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# What patch 1's fold of irq_lines into hcr_el2 before every guest entry
# costs: the round trip of a guest exit that KVM handles in the kernel (an
# HVC to SMCCC_VERSION, vcpu_suspend_rs --exit-bench, see its
# selftests/rust/src/exit_bench.rs) on the pristine 7.3 kernel and on ours.
# Boots them interleaved, pristine first (pristine, ours, pristine, ours,
# ...), ROUNDS boots of each, one --exit-bench run per boot, in VHE (no
# extra kernel argument), and writes build/results/exit-roundtrip.md: a row
# per boot and the ratio ours/pristine of the medians, with the spread of
# the per-pair ratios (pair i: pristine boot i and ours boot i).
#   tools/report/exit-roundtrip.sh [ROUNDS]
# Environment: ROUNDS (default 3), EXIT_CALLS (hypercalls per run, default
# 5000), BUILD (default build/), PIMAGE and IMAGE (the two kernels),
# RUST_BIN (the selftest binary; default the kselftest install's).
# It builds nothing, and boots QEMU: run it under /tmp/heavy.lock. Each boot
# is bounded by BOOT_TIMEOUT (default 600 s) and the run by its list line's
# limit; a boot without the result line fails the script (exit 1) after
# the table is written, with the program's output in the table's notes.
set -euo pipefail
proj=$(cd "$(dirname "$0")/../.." && pwd)
b=${BUILD:-$proj/build}
rounds=${1:-${ROUNDS:-3}}
calls=${EXIT_CALLS:-5000}
pimage=${PIMAGE:-$b/pristine/Image}
image=${IMAGE:-$b/Image}
bin=${RUST_BIN:-$b/kselftest/install/kvm/vcpu_suspend_rs}
out=${OUT:-$b/results/exit-roundtrip.md}
logs=$b/logs
export BOOT_TIMEOUT=${BOOT_TIMEOUT:-600}

die() { printf 'exit-roundtrip: error: %s\n' "$*" >&2; exit 2; }
case $rounds in '' | *[!0-9]* | 0) die "ROUNDS must be a positive number, not '$rounds'" ;; esac
case $calls in '' | *[!0-9]* | 0) die "EXIT_CALLS must be a positive number, not '$calls'" ;; esac
for f in "$pimage" "$image" "$bin"; do
	[ -f "$f" ] || die "$f missing (make pristine-kernel kselftest-tar)"
done
mkdir -p "$logs" "$(dirname "$out")"

list=$b/exit-roundtrip.list cpio=$b/exit-roundtrip.cpio
PYTHONPATH=$proj/tools python3 -m harness.ktap list one exit-bench 300 \
	/kselftest/kvm/vcpu_suspend_rs --exit-bench "$calls" >"$list"
"$proj/tools/boot/mkinitramfs.sh" "$cpio" "$list" "$bin:/kselftest/kvm/vcpu_suspend_rs"

consoles=()
for i in $(seq 1 "$rounds"); do
	for kernel in pristine ours; do
		if [ $kernel = pristine ]; then img=$pimage; else img=$image; fi
		log=$logs/exit-roundtrip-$kernel-$i.log
		# The host's load before the boot: anything else running on the
		# machine shows in the guest's times (QEMU TCG, 2 vCPU threads).
		load=$(cut -d' ' -f1 /proc/loadavg)
		echo "exit-roundtrip: round $i of $rounds, $kernel ($img), host load $load" >&2
		"$proj/tools/boot/boot.sh" "$img" "$cpio" "$log"
		consoles+=("$kernel:$i:$load:$log")
	done
done

PYTHONPATH=$proj/tools python3 - "$proj" "$out" "$calls" "$pimage" "$image" "${consoles[@]}" <<'EOF'
import os
import re
import statistics
import subprocess
import sys
import time

from harness import ktap

proj, out, calls, pimage, image = sys.argv[1:6]
specs = sys.argv[6:]
FIELDS = ('n', 'median_ns', 'p10_ns', 'p90_ns', 'min_ns', 'max_ns', 'kvm_run_median_ns')
rows, notes, failed = [], [], False
for spec in specs:
    kernel, rnd, load, log = spec.split(':', 3)
    with open(log, encoding='utf-8', errors='replace') as f:
        text = f.read()
    programs, _, done = ktap.split_console(text)
    lines, rc, _ = programs.get('exit-bench', ([], None, 0.0))
    booted = re.search(r'^### BOOTED (\S+)', text, re.M)
    found = [l for l in lines if l.startswith('EXIT-BENCH ')]
    if not found or rc != 0:
        failed = True
        state = ('did not run: the boot ended before it' if 'exit-bench' not in programs
                 else 'did not finish' if rc is None else f'ended with exit code {rc}')
        tail = ' / '.join(l for l in lines[-3:]) or '(no output)'
        notes.append(f'- {kernel} boot {rnd}: no result, the program {state}; '
                     f'its last output: `{tail}`; console {log}')
        rows.append((kernel, int(rnd), booted.group(1) if booted else '?', load, None))
        continue
    kv = dict(f.split('=', 1) for f in found[-1].split()[1:])
    rows.append((kernel, int(rnd), booted.group(1) if booted else '?', load, kv))

def stat(kernel, rnd, field='median_ns'):
    for k, r, _, _, kv in rows:
        if k == kernel and r == rnd and kv:
            return float(kv[field])
    return None


def ratios(field):
    """Over the rounds with a result on both kernels: the ratio ours/pristine
    of the median over boots of `field`, and the per-pair ratios."""
    pairs = [(r, stat('pristine', r, field), stat('ours', r, field))
             for r in sorted({row[1] for row in rows})]
    pairs = [(r, p, o) for r, p, o in pairs if p and o]
    if not pairs:
        return None
    pm = statistics.median(p for _, p, _ in pairs)
    om = statistics.median(o for _, _, o in pairs)
    return om / pm, [(r, o / p) for r, p, o in pairs], pm, om

def git(*args):
    return subprocess.run(['git', '-C', proj, *args], capture_output=True,
                          text=True).stdout.strip()

rev = git('rev-parse', '--short', 'HEAD') or '?'
dirty = ' with uncommitted changes' if git('status', '--porcelain', '--untracked-files=no') else ''
with open(out, 'w', encoding='utf-8') as f:
    print('# Exit round trip: pristine 7.3.4 vs ours', file=f)
    print(file=f)
    print(f'`tools/report/exit-roundtrip.sh` at {rev}{dirty}, '
          f'{time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())}: '
          f'the pristine kernel (`{pimage}`) and ours (`{image}`) booted interleaved '
          f'in VHE, one `vcpu_suspend_rs --exit-bench {calls}` per boot: {calls} guest '
          '`HVC #0` calls of SMCCC_VERSION, which KVM answers in the kernel, each timed '
          'by the guest with CNTVCT_EL0 (after 20 dropped). `KVM_RUN` is the wall '
          'time of the sample\'s `KVM_RUN` from userspace: the call plus one MMIO exit '
          'to userspace. Times in ns; host load: the 1-minute load average of the '
          f'machine ({os.cpu_count()} CPUs) before the boot.', file=f)
    print(file=f)
    print('| boot | kernel | uname -r | host load | calls | median | p10 | p90 | min | max '
          '| KVM_RUN median |', file=f)
    print('|---|---|---|---|---|---|---|---|---|---|---|', file=f)
    order = sorted(rows, key=lambda r: (r[1], r[0] != 'pristine'))
    for n, (kernel, rnd, uname, load, kv) in enumerate(order, 1):
        cells = [kv[k] for k in FIELDS] if kv else ['no result'] + [''] * (len(FIELDS) - 1)
        print(f'| {n} | {kernel} {rnd} | {uname} | {load} | ' + ' | '.join(cells) + ' |', file=f)
    print(file=f)
    med, p10 = ratios('median_ns'), ratios('p10_ns')
    if med and p10:
        line = []
        for name, (ratio, each, pm, om) in (('median', med), ('p10', p10)):
            lo, hi = min(x for _, x in each), max(x for _, x in each)
            listed = ', '.join(f'{x:.3f} (round {r})' for r, x in each)
            print(f'Ratio ours/pristine of the {name}s (median over the boots): '
                  f'**{ratio:.3f}** ({om:.0f} / {pm:.0f} ns), per-pair ratios '
                  f'{lo:.3f}..{hi:.3f}: {listed}.', file=f)
            print(file=f)
            line.append(f'{name}_ratio={ratio:.3f} {name}_pair_min={lo:.3f} '
                        f'{name}_pair_max={hi:.3f} pristine_{name}_ns={pm:.0f} '
                        f'ours_{name}_ns={om:.0f}')
        print('The p10 is the less disturbed figure when the host is busy: time the '
              'machine spends elsewhere lengthens some calls (the median, the p90) and '
              'leaves the fastest ones.', file=f)
        print(f'EXIT-ROUNDTRIP {" ".join(line)} pairs={len(med[1])}')
    else:
        print('No ratio: no round has a result on both kernels.', file=f)
        failed = True
    if notes:
        print(file=f)
        print('Failures:', file=f)
        print('\n'.join(notes), file=f)
print(f'exit-roundtrip: {out}' + (' (with failures)' if failed else ''), file=sys.stderr)
sys.exit(1 if failed else 0)
EOF
