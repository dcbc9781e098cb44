#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A bug behind a patch of the fix series, reproduced on the pristine kernel:
the selftests' case that shows it must FAIL there (and pass on ours, which
make check's boots check). By default the case is line_raised_while_running
in protected mode (kvm-arm.mode=protected): 6.12's hypervisor (make stable) copies the
whole of HCR_EL2 back to the host after every run, so a line that
KVM_IRQ_LINE raised while the guest ran is dropped.

Reads the console log of that boot; one KTAP result per program of the list:
ok when the case failed there, in the mode asked for.

    reproducer.py CONSOLE LIST [--case NAME] [--mode protected|vhe] [--what TEXT] [--record]

--record: a bug that did not show is a skip with the reason, not a failure
(for a kernel on which it is not known to be there).
"""
import re
import sys

from harness import ktap

PROTECTED = re.compile(r'kvm \[\d+\]: Protected [hn]VHE mode initialized')


def options(argv):
    """CONSOLE, LIST and the options, or None for a bad command line."""
    opts = {'--case': 'line_raised_while_running', '--mode': 'protected',
            '--what': 'pristine-loses-the-line', '--record': False}
    args = []
    while argv:
        a = argv.pop(0)
        if a == '--record':
            opts[a] = True
        elif a in opts and argv:
            opts[a] = argv.pop(0)
        elif a.startswith('-'):
            return None
        else:
            args.append(a)
    if len(args) != 2 or opts['--mode'] not in ('protected', 'vhe'):
        return None
    return args, opts['--case'], opts['--mode'], opts['--what'], opts['--record']


def main(argv):
    parsed = options(list(argv))
    if parsed is None:
        print('usage: reproducer.py CONSOLE LIST [--case NAME] [--mode protected|vhe] '
              '[--what TEXT] [--record]', file=sys.stderr)
        return 2
    (console, test_list), case, mode, what, record = parsed
    argv = [console, test_list]
    try:
        with open(argv[0], encoding='utf-8', errors='replace') as f:
            programs, dmesg, _ = ktap.split_console(f.read())
        with open(argv[1], encoding='utf-8') as f:
            names = [line.split()[0] for line in f if line.strip()]
    except OSError as e:
        print(f'reproducer: error: {e.filename}: {e.strerror}', file=sys.stderr)
        return 2
    protected = any(PROTECTED.search(line) for line in dmesg)
    in_mode = protected == (mode == 'protected')
    results = []
    for name in names:
        lines, rc, _ = programs.get(name, ([], None, 0.0))
        found = {n.split(':', 1)[-1].split('.', 1)[-1]: s
                 for s, n, _ in ktap.program_results(name, lines, rc)}
        status = found.get(case, 'missing')
        ok = in_mode and status == 'fail'
        why = ('' if ok else
               f'the kernel did not run in {mode} mode' if not in_mode else
               f'{case} did not run' if status == 'missing' else
               f'{case} gave {status} on the pristine kernel: the bug did not show')
        verdict = 'pass' if ok else 'skip' if record and in_mode and status == 'pass' else 'fail'
        results.append((verdict, f'reproducer:{name}:{what}', why))
    return 1 if ktap.emit(results, sys.stdout, summary=False) else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
