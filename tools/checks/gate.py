#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The regression gate: the same upstream KVM selftests, booted once on the
pristine kernel (the pinned base, tools/setup/pins) and once on the project's, compared test by test.

A test that passes on pristine must pass on the project kernel. A test that
fails (or times out) on both must be explained in the baseline list, so that
no environment failure goes unexplained; a listed test is reported as known
whatever the two kernels gave (the list holds tests that fail or flap on
pristine under TCG, each with its evidence). A test that skips on both (rc 4:
the feature is absent under TCG) is a skip. The project boot's kernel log
must be clean.

Usage: tools/checks/gate.py PRISTINE_CONSOLE PROJECT_CONSOLE --list LIST
                     --baseline FILE [--table OUT.md]
Prints KTAP (one result per test, named gate:TEST, and gate:kernel-log) for
tools/report/report.py --host; exits 1 on a regression, 2 on unusable input.
"""
import argparse
import os
import sys

from harness import ktap, pins


def outcomes(path):
    """{program: (status, seconds)} and the kernel log's splat lines."""
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('pristine')
    ap.add_argument('project')
    ap.add_argument('--list', required=True)
    ap.add_argument('--baseline', required=True)
    ap.add_argument('--table')
    args = ap.parse_args()

    try:
        with open(args.list, encoding='utf-8') as f:
            tests = [line.split()[0] for line in f if line.strip() and not line.startswith('#')]
    except OSError as e:
        raise SystemExit(f'gate: error: {e}') from e
    baseline = ktap.load_baseline(args.baseline)
    pristine, _ = outcomes(args.pristine)
    project, splats = outcomes(args.project)

    rows, results = [], []
    for t in tests:
        p, p_secs = pristine.get(t, ('not run', 0))
        q, q_secs = project.get(t, ('not run', 0))
        if q == 'pass':
            verdict, status = 'pass' if p == 'pass' else f'pass (pristine: {p})', 'pass'
        elif t in baseline:
            # Listed with evidence that the environment makes it fail (or
            # flap) on pristine too: never a regression, always shown.
            verdict, status = f'known (pristine: {p}): {baseline[t]}', 'skip'
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

    ktap.emit([(s, n, '' if s == 'pass' else why) for s, n, why in results], sys.stdout,
              summary=False)

    if args.table:
        with open(args.table, 'w', encoding='utf-8') as f:
            f.write(f'| test | pristine {pins.kernel() or "kernel"} | project | verdict |\n'
                    '|---|---|---|---|\n')
            for t, p, p_secs, q, q_secs, verdict in rows:
                f.write(f'| {t} | {p}, {p_secs:.0f} s | {q}, {q_secs:.0f} s | {verdict} |\n')
    return 1 if any(r[0] == 'fail' for r in results) else 0


if __name__ == '__main__':
    sys.exit(main())
