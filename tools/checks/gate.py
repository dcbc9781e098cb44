#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The regression gate: the upstream KVM selftests booted on the project's
kernel, and those that do not pass there booted again on the pristine kernel
(the pinned base, tools/setup/pins) to decide them, test by test.

A test that passes on the project kernel passes; pristine is not asked. A
test listed in the baseline is reported as known with its reason and is not
run again (the list holds tests that fail or flap on pristine under TCG,
each with its evidence). Every other test that fails, times out or skips on
the project kernel is decided on pristine, in one boot of just those tests
(--decide prints their list lines): passing there, it is a regression; a
skip on both (rc 4: the feature is absent under TCG) is a skip; a failure on
both must be explained in the baseline. The project boot's kernel log must be
clean.

Usage: tools/checks/gate.py --decide PROJECT_CONSOLE --list LIST --baseline FILE
           the list lines of the tests to run on pristine (none: no boot)
       tools/checks/gate.py PRISTINE_CONSOLE PROJECT_CONSOLE --list LIST
                     --baseline FILE [--table OUT.md]
           KTAP (one result per test, named gate:TEST, and gate:kernel-log)
           for tools/report/report.py --host; PRISTINE_CONSOLE may be
           missing when --decide chose no test
Exits 1 on a regression, 2 on unusable input.
"""
import argparse
import os
import sys

from harness import ktap, pins


def outcomes(path, missing_ok=False):
    """{program: (status, seconds)} and the kernel log's splat lines."""
    if missing_ok and not os.path.exists(path):
        return {}, []
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            programs, dmesg, _ = ktap.split_console(f.read())
    except OSError as e:
        raise SystemExit(f'gate: error: {e}') from e
    result = {}
    for name, (_, rc, secs) in programs.items():
        if rc == 0:
            status = 'pass'
        elif rc == 4:
            status = 'skip'
        elif rc == 137:
            status = 'timeout'
        elif rc is None:
            status = 'unfinished'
        else:
            status = f'fail (rc {rc})'
        result[name] = (status, secs)
    splats = [line for line in dmesg if ktap.SPLAT.search(line)]
    return result, splats


def read_list(path):
    """[(test, list line)] of a gate list."""
    try:
        with open(path, encoding='utf-8') as f:
            return [(line.split()[0], line) for line in f
                    if line.strip() and not line.startswith('#')]
    except OSError as e:
        raise SystemExit(f'gate: error: {e}') from e


def to_decide(tests, project, baseline):
    """The tests that pristine must decide: not passing here, not known."""
    return [t for t in tests if project.get(t, ('not run', 0))[0] != 'pass'
            and t not in baseline]


def decide(argv):
    """--decide PROJECT_CONSOLE --list LIST --baseline FILE."""
    ap = argparse.ArgumentParser(prog='gate.py --decide')
    ap.add_argument('project')
    ap.add_argument('--list', required=True)
    ap.add_argument('--baseline', required=True)
    args = ap.parse_args(argv)
    entries = read_list(args.list)
    project, _ = outcomes(args.project)
    chosen = set(to_decide([t for t, _ in entries], project,
                           ktap.load_baseline(args.baseline)))
    sys.stdout.write(''.join(line for t, line in entries if t in chosen))
    return 0


def main():
    if sys.argv[1:2] == ['--decide']:
        return decide(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('pristine')
    ap.add_argument('project')
    ap.add_argument('--list', required=True)
    ap.add_argument('--baseline', required=True)
    ap.add_argument('--table')
    args = ap.parse_args()

    tests = [t for t, _ in read_list(args.list)]
    baseline = ktap.load_baseline(args.baseline)
    project, splats = outcomes(args.project)
    asked = set(to_decide(tests, project, baseline))
    pristine, _ = outcomes(args.pristine, missing_ok=not asked)

    rows, results = [], []
    for t in tests:
        q, q_secs = project.get(t, ('not run', 0))
        p, p_secs = pristine.get(t, ('not run', 0)) if t in asked else ('not asked', 0)
        if q == 'pass':
            verdict, status = 'pass', 'pass'
        elif t in baseline:
            # Listed with evidence that the environment makes it fail (or
            # flap) on pristine too: never a regression, always shown.
            verdict, status = f'known: {baseline[t]}', 'skip'
        elif p == 'pass':
            verdict, status = f'REGRESSION: passes on pristine, {q} here', 'fail'
        elif p == 'skip' and q == 'skip':
            verdict, status = 'skip on both (rc 4)', 'skip'
        else:
            verdict = f'{p} on pristine, {q} here, and not explained in {os.path.basename(args.baseline)}'
            status = 'fail'
        rows.append((t, p, p_secs, q, q_secs, verdict))
        results.append((status, f'gate:{t}', verdict))
    results.append(('fail' if splats else 'pass', 'gate:kernel-log',
                    splats[0].strip() if splats else ''))
    decided = ', '.join(sorted(asked)) or 'none'

    ktap.emit([(s, n, '' if s == 'pass' else why) for s, n, why in results], sys.stdout,
              summary=False)

    if args.table:
        with open(args.table, 'w', encoding='utf-8') as f:
            f.write(f'Decided on the pristine kernel (not passing on ours, not known): '
                    f'{decided}.\n\n'
                    f'| test | project | pristine {pins.kernel() or "kernel"} | verdict |\n'
                    '|---|---|---|---|\n')
            for t, p, p_secs, q, q_secs, verdict in rows:
                pcell = p if p == 'not asked' else f'{p}, {p_secs:.0f} s'
                f.write(f'| {t} | {q}, {q_secs:.0f} s | {pcell} | {verdict} |\n')
    return 1 if any(r[0] == 'fail' for r in results) else 0


if __name__ == '__main__':
    sys.exit(main())
