#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the console log of a test boot into one KTAP report.

Reads the markers that tools/boot/guest/init prints (### BEGIN/END per program,
### DMESG BEGIN/END, ### DONE), takes every top-level KTAP result of each
program as a test, KUnit's leaf results from the kernel log, checks the
kernel log for splats, and adds host-side results given with --host.
Known failures of the pristine kernel (--baseline) count as skipped with
their reason; everything else that fails counts as failed.

Prints KTAP and, last, "N passed, N failed, N skipped"; exits 1 on any
failure, 2 on unusable input.
"""
import argparse
import re
import sys

from harness.ktap import (RESULT, SPLAT, emit, kunit_results, load_baseline, parse,
                          program_results, split_console)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('console', nargs='+',
                    help='console log of the test boot, or of each of the boots of one '
                         'kernel that shared the test list (the KUnit results: the first\'s)')
    ap.add_argument('--expect', action='append', default=[],
                    help='a program that must have run (repeatable)')
    ap.add_argument('--list', help='the guest test list: every program in it must have run')
    ap.add_argument('--baseline', help='file of known pristine-kernel failures')
    ap.add_argument('--host', action='append', default=[],
                    help='file of host-side results: "ok NAME" / "not ok NAME # why"')
    ap.add_argument('--results', action='append', default=[],
                    help='KTAP of another report (of another boot), taken as it is')
    ap.add_argument('--expect-log', action='append', default=[], metavar='NAME=REGEX',
                    help='a result NAME: the kernel log has a line matching REGEX')
    ap.add_argument('--prefix', default='',
                    help='put before the name of every result of this console')
    ap.add_argument('--figures', action='append', default=[], metavar='PREFIX',
                    help='copy the comment lines of each program whose name starts with '
                         'PREFIX, as "# PROGRAM: LINE" (the figures of a stress or a fuzzer '
                         'run, for make results-docs)')
    ap.add_argument('--kunit-min', type=int, default=1,
                    help='fewest KUnit results to accept')
    ap.add_argument('--no-kunit', action='store_true',
                    help='leave out the KUnit results: another boot of the same kernel '
                         'reports them')
    args = ap.parse_args()

    try:
        texts = []
        for path in args.console:
            with open(path, encoding='utf-8', errors='replace') as f:
                texts.append(f.read())
        baseline = load_baseline(args.baseline)
        if args.list:
            with open(args.list, encoding='utf-8') as f:
                args.expect += [l.split()[0] for l in f if l.strip() and not l.startswith('#')]
        host_lines = []
        for path in args.host:
            with open(path, encoding='utf-8') as f:
                host_lines += f.read().splitlines()
        other = []
        for path in args.results:
            with open(path, encoding='utf-8') as f:
                other += parse(f.read().splitlines())
    except OSError as e:
        print(f'report: error: {e.filename}: {e.strerror}', file=sys.stderr)
        return 2

    programs, dmesg, done, kunit_dmesg = {}, [], True, None
    for text in texts:
        p, d, ok = split_console(text)
        programs.update(p)
        dmesg += d
        done = done and ok and bool(d)
        kunit_dmesg = d if kunit_dmesg is None else kunit_dmesg
    results = []
    out = sys.stdout

    for line in host_lines:
        m = RESULT.match(line)
        if m:
            status = 'fail' if m.group(1) == 'not ok' else 'pass'
            if status == 'pass' and m.group(3) == 'SKIP':
                status = 'skip'
            results.append((status, f'host:{m.group(2)}', m.group(4) or ''))

    for name in args.expect:
        if name not in programs:
            results.append(('fail', name, 'never ran (see the console log)'))
            continue
        lines, rc, secs = programs[name]
        leaves = program_results(name, lines, rc)
        failed = any(s == 'fail' for s, _, _ in leaves)
        if name in baseline:
            if failed:
                print(f'# {name}: known baseline failure: {baseline[name]}', file=out)
                leaves = [('skip', name, f'baseline failure on the pristine kernel: {baseline[name]}')]
            else:
                print(f'# {name}: passed although listed as a baseline failure', file=out)
        elif failed:
            print(f'# ---- output of {name} (rc={rc}) ----', file=out)
            for line in lines:
                print(f'# {line}', file=out)
        print(f'# {name}: {len(leaves)} result(s), rc={rc}, {secs:.2f} s', file=out)
        if any(name.startswith(p) for p in args.figures):
            for line in lines:
                if line.startswith('# '):
                    print(f'# {name}: {line[2:]}', file=out)
        results += leaves

    kunit = kunit_results(kunit_dmesg)
    if args.no_kunit:
        print(f'# kunit: {len(kunit)} result(s) in the kernel log, left out (--no-kunit)',
              file=out)
    else:
        print(f'# kunit: {len(kunit)} result(s) in the kernel log', file=out)
        if len(kunit) < args.kunit_min:
            results.append(('fail', 'kunit',
                            f'{len(kunit)} results, expected at least {args.kunit_min}'))
        results += kunit

    for spec in args.expect_log:
        name, _, regex = spec.partition('=')
        try:
            found = any(re.search(regex, line) for line in dmesg)
        except re.error as e:
            print(f'report: error: --expect-log {spec}: {e}', file=sys.stderr)
            return 2
        results.append(('pass' if found else 'fail', name,
                        '' if found else f'no kernel log line matches "{regex}"'))

    splats = [line for line in dmesg if SPLAT.search(line)]
    for line in splats[:20]:
        print(f'# kernel log: {line}', file=out)
    if not done or not dmesg:
        results.append(('fail', 'kernel-log', 'the guest did not finish: no kernel log dump'))
    else:
        results.append(('fail' if splats else 'pass', 'kernel-log',
                        f'{len(splats)} splat line(s)' if splats else ''))

    if args.prefix:
        results = [(s, args.prefix + n, c) for s, n, c in results]
    results += other
    return 1 if emit(results, out) else 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
