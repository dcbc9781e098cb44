#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the console log of a test boot into one KTAP report.

Reads the markers that tools/guest/init prints (### BEGIN/END per program,
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

# "ok N NAME # DIRECTIVE": group 3 is SKIP/XFAIL/TODO if the directive is one, group 4 the rest.
RESULT = re.compile(r'^(not ok|ok) \d+ (.*?)(?:\s+#\s*(?:(SKIP|XFAIL|TODO)\b\s*)?(.*))?$')
TIMESTAMP = re.compile(r'^\[\s*\d+\.\d+\] ?')
SPLAT = re.compile(r'WARNING:|BUG:|Oops|Unable to handle kernel|Kernel panic|'
                   r'Call trace:|KASAN:|UBSAN:|INFO: task .* blocked|'
                   r'rcu: INFO: rcu_.* detected stall|refcount_t:|list_(add|del) corruption|'
                   r'suspected memory leaks')


class Report:
    def __init__(self):
        self.results = []  # (status, name, comment) with status in pass/fail/skip

    def add(self, status, name, comment=''):
        self.results.append((status, name, comment))

    def emit(self, out):
        print('TAP version 13', file=out)
        print(f'1..{len(self.results)}', file=out)
        for i, (status, name, comment) in enumerate(self.results, 1):
            line = f"{'not ok' if status == 'fail' else 'ok'} {i} {name}"
            if status == 'skip':
                line += f' # SKIP {comment}'.rstrip()
            elif comment:
                line += f' # {comment}'
            print(line, file=out)
        counts = {s: sum(1 for r in self.results if r[0] == s) for s in ('pass', 'fail', 'skip')}
        print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped", file=out)
        return counts['fail']


def load_baseline(path):
    """NAME: reason lines; '#' comments."""
    baseline = {}
    if not path:
        return baseline
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            name, _, reason = line.partition(':')
            baseline[name.strip()] = reason.strip()
    return baseline


def split_console(text):
    """Returns ({program: (lines, rc, seconds)}, dmesg lines, done flag)."""
    programs, dmesg, done = {}, [], False
    current, lines, in_dmesg = None, [], False
    for raw in text.splitlines():
        line = raw.rstrip('\r')
        if line.startswith('### BEGIN '):
            current, lines = line[len('### BEGIN '):].strip(), []
        elif line.startswith('### END ') and current:
            fields = dict(f.split('=', 1) for f in line.split()[3:] if '=' in f)
            try:
                secs = float(fields.get('end', 0)) - float(fields.get('start', 0))
            except ValueError:
                secs = 0.0
            programs[current] = (lines, int(fields.get('rc', '255')), secs)
            current = None
        elif line == '### DMESG BEGIN':
            in_dmesg = True
        elif line == '### DMESG END':
            in_dmesg = False
        elif line == '### DONE':
            done = True
        elif in_dmesg:
            dmesg.append(TIMESTAMP.sub('', line))
        elif current is not None:
            lines.append(line)
    if current is not None:
        programs[current] = (lines, None, 0.0)
    return programs, dmesg, done


def program_results(name, lines, rc):
    """Top-level KTAP results of one program, and whether it failed overall."""
    leaves = []
    for line in lines:
        m = RESULT.match(line)
        if m:
            status = 'fail' if m.group(1) == 'not ok' else 'pass'
            if m.group(3) in ('SKIP', 'XFAIL') and status == 'pass':
                status = 'skip'
            leaves.append((status, f'{name}:{m.group(2)}', m.group(4) or ''))
    if rc is None:
        leaves.append(('fail', f'{name}:exit', 'did not finish (kernel died or time ran out)'))
    elif rc == 137:
        leaves.append(('fail', f'{name}:exit', 'killed by the time limit'))
    elif not leaves:
        status = {0: 'pass', 4: 'skip'}.get(rc, 'fail')
        leaves.append((status, name, f'exit code {rc}' if status != 'pass' else ''))
    elif rc not in (0, 4) and all(s != 'fail' for s, _, _ in leaves):
        leaves.append(('fail', f'{name}:exit', f'exit code {rc} with no failed case'))
    return leaves


def kunit_results(dmesg):
    """Leaf results of KUnit suites: indented KTAP below '# Subtest: SUITE'."""
    leaves, suite = [], None
    for line in dmesg:
        stripped = line.strip()
        if stripped.startswith('# Subtest: ') and line.startswith('    '):
            suite = stripped[len('# Subtest: '):]
            continue
        if suite and line.startswith('    ') and not line.startswith('        '):
            m = RESULT.match(stripped)
            if m:
                status = 'fail' if m.group(1) == 'not ok' else 'pass'
                if m.group(3) == 'SKIP':
                    status = 'skip'
                leaves.append((status, f'kunit:{suite}.{m.group(2)}', m.group(4) or ''))
    return leaves


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('console', help='console log of the test boot')
    ap.add_argument('--expect', action='append', default=[],
                    help='a program that must have run (repeatable)')
    ap.add_argument('--list', help='the guest test list: every program in it must have run')
    ap.add_argument('--baseline', help='file of known pristine-kernel failures')
    ap.add_argument('--host', action='append', default=[],
                    help='file of host-side results: "ok NAME" / "not ok NAME # why"')
    ap.add_argument('--kunit-min', type=int, default=1,
                    help='fewest KUnit results to accept')
    args = ap.parse_args()

    try:
        with open(args.console, encoding='utf-8', errors='replace') as f:
            text = f.read()
        baseline = load_baseline(args.baseline)
        if args.list:
            with open(args.list, encoding='utf-8') as f:
                args.expect += [l.split()[0] for l in f if l.strip() and not l.startswith('#')]
        host_lines = []
        for path in args.host:
            with open(path, encoding='utf-8') as f:
                host_lines += f.read().splitlines()
    except OSError as e:
        print(f'report: error: {e.filename}: {e.strerror}', file=sys.stderr)
        return 2

    programs, dmesg, done = split_console(text)
    rep = Report()
    out = sys.stdout

    for line in host_lines:
        m = RESULT.match(line)
        if m:
            status = 'fail' if m.group(1) == 'not ok' else 'pass'
            if status == 'pass' and m.group(3) == 'SKIP':
                status = 'skip'
            rep.add(status, f'host:{m.group(2)}', m.group(4) or '')

    for name in args.expect:
        if name not in programs:
            rep.add('fail', name, 'never ran (see the console log)')
            continue
        lines, rc, secs = programs[name]
        leaves = program_results(name, lines, rc)
        failed = any(s == 'fail' for s, _, _ in leaves)
        if name in baseline:
            if failed:
                print(f'# {name}: known baseline failure: {baseline[name]}', file=out)
                leaves = [('skip', name, f'baseline failure on pristine 6.12: {baseline[name]}')]
            else:
                print(f'# {name}: passed although listed as a baseline failure', file=out)
        elif failed:
            print(f'# ---- output of {name} (rc={rc}) ----', file=out)
            for line in lines:
                print(f'# {line}', file=out)
        print(f'# {name}: {len(leaves)} result(s), rc={rc}, {secs:.2f} s', file=out)
        for leaf in leaves:
            rep.add(*leaf)

    kunit = kunit_results(dmesg)
    print(f'# kunit: {len(kunit)} result(s) in the kernel log', file=out)
    if len(kunit) < args.kunit_min:
        rep.add('fail', 'kunit', f'{len(kunit)} results, expected at least {args.kunit_min}')
    for leaf in kunit:
        rep.add(*leaf)

    splats = [line for line in dmesg if SPLAT.search(line)]
    for line in splats[:20]:
        print(f'# kernel log: {line}', file=out)
    if not done or not dmesg:
        rep.add('fail', 'kernel-log', 'the guest did not finish: no kernel log dump')
    else:
        rep.add('fail' if splats else 'pass', 'kernel-log',
                f'{len(splats)} splat line(s)' if splats else '')

    return 1 if rep.emit(out) else 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
