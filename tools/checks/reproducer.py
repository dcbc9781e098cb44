#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The lost line behind the fix series' first patch, reproduced on the
pristine kernel: in protected mode (kvm-arm.mode=protected), the hypervisor
copies the whole of HCR_EL2 back to the host after every run, so a line that
KVM_IRQ_LINE raised while the guest ran is dropped. The selftests' case
line_raised_while_running must therefore FAIL on the pristine kernel booted
that way (and pass on ours, which make check's protected boot checks).

Reads the console log of that boot; one KTAP result per program of the list:
ok when the case failed there and protected mode was on.

    reproducer.py CONSOLE LIST
"""
import re
import sys

from harness import ktap

CASE = 'line_raised_while_running'
PROTECTED = re.compile(r'kvm \[\d+\]: Protected [hn]VHE mode initialized')


def main(argv):
    if len(argv) != 2:
        print('usage: reproducer.py CONSOLE LIST', file=sys.stderr)
        return 2
    try:
        with open(argv[0], encoding='utf-8', errors='replace') as f:
            programs, dmesg, _ = ktap.split_console(f.read())
        with open(argv[1], encoding='utf-8') as f:
            names = [line.split()[0] for line in f if line.strip()]
    except OSError as e:
        print(f'reproducer: error: {e.filename}: {e.strerror}', file=sys.stderr)
        return 2
    protected = any(PROTECTED.search(line) for line in dmesg)
    results = []
    for name in names:
        lines, rc, _ = programs.get(name, ([], None, 0.0))
        found = {n.split(':', 1)[-1].split('.', 1)[-1]: s
                 for s, n, _ in ktap.program_results(name, lines, rc)}
        status = found.get(CASE, 'missing')
        ok = protected and status == 'fail'
        why = ('' if ok else
               'protected mode is not on' if not protected else
               f'{CASE} did not run' if status == 'missing' else
               f'{CASE} gave {status} on the pristine kernel: the line was not lost')
        results.append(('pass' if ok else 'fail', f'reproducer:{name}:pristine-loses-the-line', why))
    return 1 if ktap.emit(results, sys.stdout, summary=False) else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
