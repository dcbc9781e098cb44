#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write Documentation/project/results.md from the result files of a run.

Every table of results in the project's documents is generated here from
build/results/ (check.ktap, check-debug.ktap, gate.md, gate.ktap, mutants.ktap,
mutants.txt, patches-check.ktap, rust-host.ktap, host-checks.ktap,
docs-check.ktap, linux-suspend.ktap, stress-widened.ktap), so that no
figure is typed by hand and none can drift from the logs. A missing file
gets a line naming the make target that writes it.

Usage: tools/report/results-docs.py [LOGS [OUT]]
    LOGS  default: build/results of this repository
    OUT   default: Documentation/project/results.md of this repository
Exits 0 when written, 1 when LOGS holds none of the files or a file cannot
be read or written, 2 on bad usage.
"""
import datetime
import os
import re
import sys

from harness import ktap

PROJ = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_LOGS = os.path.join(PROJ, 'build', 'results')
DEFAULT_OUT = os.path.join(PROJ, 'Documentation', 'project', 'results.md')

# Result file -> the make target that writes it, in the order of the summary.
SOURCES = [
    ('check.ktap', 'make check'),
    ('check-debug.ktap', 'make check-debug'),
    ('gate.ktap', 'make gate (make check runs it)'),
    ('gate.md', 'make gate (make check runs it)'),
    ('mutants.ktap', 'make check'),
    ('mutants.txt', 'make check'),
    ('patches-check.ktap', 'make patches-check (make check runs it)'),
    ('rust-host.ktap', 'make rust-selftest-host (make check runs it)'),
    ('host-checks.ktap', 'make check'),
    ('docs-check.ktap', 'make docs-check (make check runs it)'),
    ('linux-suspend.ktap', 'make linux-suspend'),
    ('stress-widened.ktap', 'make stress-widened'),
]
TARGET = dict(SOURCES)

PROGRAM = re.compile(r'^# (\S+): (\d+) result\(s\), rc=(\S+), ([\d.]+) s$')
NOTE = re.compile(r'^# (\S+): (known baseline failure.*|passed although.*)$')
SUSPEND = re.compile(r'^kvm/aarch64/(vcpu_suspend(?:_rs)?)(@c)?:(.*)$')
# The two runs of a selftest in one boot: the Rust path, then 6.12's C path
# (the A/B switch, "@c").
SELFTESTS = [('vcpu_suspend', 'C selftest `vcpu_suspend`'),
             ('vcpu_suspend_rs', 'Rust selftest `vcpu_suspend_rs`')]
BOOTS = [('check.ktap', 'make check'), ('check-debug.ktap', 'make check-debug')]


def boots_present(logs):
    """The boots' result files in logs, the nested guest's included."""
    return [(f, t) for f, t in BOOTS + [('linux-suspend.ktap', 'make linux-suspend')]
            if f in logs]


class Error(Exception):
    pass


class Result:
    """One KTAP result line."""

    def __init__(self, status, name, comment):
        self.name = name
        self.status = {'pass': 'ok', 'fail': 'FAIL', 'skip': 'skip'}[status]
        self.why = comment

    def cell(self):
        return {'ok': 'ok', 'skip': 'skip', 'FAIL': '**FAIL**'}[self.status]


class Log:
    """A result file of LOGS: its lines, KTAP results and comments."""

    def __init__(self, logs, name):
        self.name = name
        self.path = os.path.join(logs, name)
        try:
            with open(self.path, encoding='utf-8', errors='replace') as f:
                self.lines = f.read().splitlines()
            mtime = os.stat(self.path).st_mtime
        except OSError as e:
            raise Error(f'cannot read {self.path}: {e.strerror}') from e
        self.written = datetime.datetime.fromtimestamp(
            mtime, datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
        self.results = [Result(*r) for r in ktap.parse(self.lines)]

    def summary(self):
        """The report's last "N passed, N failed, N skipped" line, else one
        counted from the result lines."""
        last = ktap.summary(line.strip() for line in self.lines)
        if last:
            return last
        n = {'ok': 0, 'FAIL': 0, 'skip': 0}
        for r in self.results:
            n[r.status] += 1
        return (f'{n["ok"]} passed, {n["FAIL"]} failed, {n["skip"]} skipped '
                f'(counted from its result lines)')

    def programs(self):
        """{program: (results, rc, seconds)} from report.py's comments."""
        out = {}
        for line in self.lines:
            m = PROGRAM.match(line)
            if m:
                out[m.group(1)] = (m.group(2), m.group(3), m.group(4))
        return out

    def notes(self):
        return [(m.group(1), m.group(2)) for m in map(NOTE.match, self.lines) if m]


def esc(text):
    """Text for a markdown table cell."""
    return text.replace('\\', '\\\\').replace('|', '\\|').replace('\n', ' ')


def table(head, rows):
    out = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    out += ['| ' + ' | '.join(esc(c) for c in row) + ' |' for row in rows]
    return out


def missing(name):
    return f'Not in these logs: `{name}` (written by `{TARGET[name]}`).'


def load(logs):
    found = {}
    for name, _ in SOURCES:
        if os.path.isfile(os.path.join(logs, name)):
            found[name] = Log(logs, name)
    return found


def section_summary(logs):
    out = ['## Summary of each result file', '']
    rows = []
    for name, target in SOURCES:
        log = logs.get(name)
        if log is None:
            rows.append([f'`{name}`', f'`{target}`', 'not in these logs', ''])
        elif name.endswith('.ktap'):
            rows.append([f'`{name}`', f'`{target}`', log.summary(), log.written])
        else:
            rows.append([f'`{name}`', f'`{target}`', f'{len(log.lines)} lines',
                         log.written])
    out += table(['file', 'written by', 'result', 'file written'], rows)
    return out + ['']


def section_programs(logs):
    out = ['## Programs of the test boots', '',
           'One line per program of the guest\'s test list (`tools/report/report.py`): '
           'its KTAP results, exit code and time.', '']
    boots = boots_present(logs)
    if not boots:
        return out + [missing('check.ktap'), '']
    progs = []
    for f, _ in boots:
        for p in logs[f].programs():
            if p not in progs:
                progs.append(p)
    rows = []
    for p in progs:
        row = [f'`{p}`']
        for f, _ in boots:
            got = logs[f].programs().get(p)
            row.append(f'{got[0]} result(s), rc {got[1]}, {got[2]} s' if got else '-')
        rows.append(row)
    out += table(['program'] + [f'`{t}`' for _, t in boots], rows)
    out.append('')
    for f, t in boots:
        for prog, note in logs[f].notes():
            out.append(f'- `{t}`, `{prog}`: {note}')
    for f, _ in BOOTS:
        if f not in logs:
            out.append(f'- {missing(f)}')
    return out + ['']


def suspend_cases(log):
    """{selftest: {case: {"": Result, "@c": Result}}}, cases in order."""
    out = {t: {} for t, _ in SELFTESTS}
    for r in log.results:
        m = SUSPEND.match(r.name)
        if not m:
            continue
        test, impl, case = m.group(1), m.group(2) or '', m.group(3)
        case = case.split('.', 1)[1] if case.startswith(test + '.') else case
        out[test].setdefault(case, {})[impl] = r
    return out


def section_cases(logs):
    out = ['## Suspend selftest cases', '',
           'Each case of the two suspend selftests, run on the Rust suspend path '
           'and again on 6.12\'s C path (`@c`, the A/B switch) in the same boot.', '']
    boots = [(f, t, suspend_cases(logs[f])) for f, t in BOOTS if f in logs]
    if not boots:
        return out + [missing('check.ktap'), '']
    for test, title in SELFTESTS:
        out += [f'### The {title}', '']
        cases = []
        for _, _, by in boots:
            for c in by[test]:
                if c not in cases:
                    cases.append(c)
        head = ['case']
        for _, t, _ in boots:
            head += [f'`{t}`, Rust path', f'`{t}`, C path']
        rows, failed = [], []
        for c in cases:
            row = [f'`{c}`']
            for _, t, by in boots:
                for impl in ('', '@c'):
                    r = by[test].get(c, {}).get(impl)
                    row.append(r.cell() if r else '-')
                    if r and r.status == 'FAIL':
                        failed.append(f'{t}, {test}{impl}.{c}: {r.why or "no reason given"}')
            rows.append(row)
        count = ['cases passed']
        for _, _, by in boots:
            for impl in ('', '@c'):
                rs = [v[impl] for v in by[test].values() if impl in v]
                count.append(f'{sum(r.status == "ok" for r in rs)} of {len(rs)}')
        out += table(head, rows + [count])
        out += [''] + [f'- {f}' for f in failed] + ([''] if failed else [])
    for f, _ in BOOTS:
        if f not in logs:
            out += [missing(f), '']
    return out


def section_other(logs):
    out = ['## Other results of the test boots', '',
           'Every result of the boots but the suspend selftests\' cases, the '
           'Rust doctests (counted) and the host-side results (below).', '']
    boots = boots_present(logs)
    if not boots:
        return out + [missing('check.ktap'), '']
    names, by = [], {}
    for f, _ in boots:
        by[f] = {}
        for r in logs[f].results:
            if r.name.startswith(('host:', 'kunit:')) or SUSPEND.match(r.name):
                continue
            by[f][r.name] = r
            if r.name not in names:
                names.append(r.name)
    rows = []
    for n in names:
        row = [f'`{n}`']
        for f, _ in boots:
            r = by[f].get(n)
            row.append('-' if r is None else
                       r.cell() + (f': {r.why}' if r.why and r.status != 'ok' else ''))
        rows.append(row)
    kunit = ['Rust doctests (KUnit `rust_doctests_kernel`)']
    for f, _ in boots:
        ks = [r for r in logs[f].results if r.name.startswith('kunit:')]
        kunit.append(f'{sum(r.status == "ok" for r in ks)} of {len(ks)} ok')
    out += table(['result'] + [f'`{t}`' for _, t in boots], rows + [kunit])
    return out + ['']


def section_gate(logs):
    out = ['## The regression gate', '',
           'The same upstream selftests on the pristine 6.12.117 kernel and on '
           'the project\'s (`tools/checks/gate.py`; `gate.md` as it wrote it).', '']
    if 'gate.ktap' in logs:
        g = logs['gate.ktap']
        groups = {}
        for r in g.results:
            test = r.name.removeprefix('gate:')
            if r.status == 'ok':
                key = 'pass on both'
            elif r.status == 'FAIL':
                key = 'FAILS the gate'
            elif r.why.startswith('known'):
                key = 'fail on both, in the baseline list'
            else:
                key = r.why or 'skip'
            groups.setdefault(key, []).append(test.removeprefix('kvm/'))
        out += table(['result', 'tests', 'count'],
                     [[k, ', '.join(v), str(len(v))] for k, v in groups.items()])
        out += ['', f'`gate.ktap`: {g.summary()}.', '']
    else:
        out += [missing('gate.ktap'), '']
    if 'gate.md' in logs:
        out += [line for line in logs['gate.md'].lines]
    else:
        out.append(missing('gate.md'))
    return out + ['']


def times(logs):
    """{mutant: "N s"} from mutants.txt."""
    if 'mutants.txt' not in logs:
        return {}
    out = {}
    for line in logs['mutants.txt'].lines:
        m = re.match(r'^mutant (\S+): \S+ \((\d+ s)\)', line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def case_list(names, total):
    """Failing cases of one selftest, short: the names, or "all but" the
    others when most failed."""
    if not names:
        return 'none'
    if total and len(names) == len(total):
        return f'all {len(total)}'
    if total and len(names) > len(total) / 2:
        rest = [c for c in total if c not in names]
        return f'{len(names)} of {len(total)}: all but ' + ', '.join(rest)
    head = f'{len(names)} of {len(total)}: ' if total else ''
    return head + ', '.join(names)


def section_mutants(logs):
    out = ['## Mutants', '',
           'Each deliberately broken variant of the Rust suspend path '
           '(`selftests/mutants`, `tools/checks/mutants.py`): the cases that failed '
           'on it, or why it is equivalent.', '']
    if 'mutants.ktap' not in logs:
        return out + [missing('mutants.ktap'), '']
    totals = {t: [] for t, _ in SELFTESTS}
    if 'check.ktap' in logs:
        for test, cases in suspend_cases(logs['check.ktap']).items():
            totals[test] = list(cases)
    secs = times(logs)
    rows, killed, by_fuzz = [], 0, 0
    for r in logs['mutants.ktap'].results:
        name = r.name.removeprefix('mutant-')
        row = [f'`{name}`']
        if r.status == 'ok' and r.why.startswith('killed by'):
            killed += 1
            cases = [c.strip() for c in r.why[len('killed by'):].split(',') if c.strip()]
            per = {t: [] for t, _ in SELFTESTS}
            other = []
            for c in cases:
                test, dot, case = c.partition('.')
                if dot and test in per:
                    per[test].append(case)
                else:
                    other.append(c)
            if 'fuzz_against_model' in other:
                by_fuzz += 1
            row += ['killed', case_list(per['vcpu_suspend'], totals['vcpu_suspend']),
                    case_list(per['vcpu_suspend_rs'], totals['vcpu_suspend_rs']),
                    ', '.join(other) or 'none']
        elif r.status == 'ok':
            row += ['equivalent', r.why, '', '']
        else:
            row += [f'**{r.status}**', r.why or 'no reason given', '', '']
        row.append(secs.get(name, '-'))
        rows.append(row)
    out += table(['mutant', 'result', 'C selftest cases failing',
                  'Rust selftest cases failing', 'other results failing',
                  'time (rebuild and boot)'], rows)
    out += ['', f'`mutants.ktap`: {logs["mutants.ktap"].summary()}.']
    if 'mutants.txt' in logs:
        last = [l for l in logs['mutants.txt'].lines if l.strip()]
        if last:
            out.append(f'`tools/checks/mutants.py`: {last[-1].strip()}.')
    out.append(f'The fuzzer (`fuzz_against_model`, seed 1, 1000 steps) fails on '
               f'{by_fuzz} of the {killed} killed mutants.')
    return out + ['']


def section_series(logs):
    out = ['## The two series, patch by patch', '',
           '`tools/checks/patches-check.sh` on `build/patches/fixes/` then '
           '`build/patches/rust/`.', '']
    if 'patches-check.ktap' not in logs:
        return out + [missing('patches-check.ktap'), '']
    patches, checks, single = {}, [], []
    for r in logs['patches-check.ktap'].results:
        patch, colon, check = r.name.rpartition(':')
        if not colon:
            single.append(r)
            continue
        patches.setdefault(patch, {})[check] = r
        if check not in checks:
            checks.append(check)
    rows = []
    for patch, by in patches.items():
        row = [f'`{patch}`']
        for c in checks:
            r = by.get(c)
            row.append('-' if r is None else
                       r.cell() + (f': {r.why}' if r.why and r.status != 'ok' else ''))
        rows.append(row)
    out += table(['patch'] + checks, rows)
    out += [''] + [f'- `{r.name}`: {r.cell()}' + (f' ({r.why})' if r.why else '')
                   for r in single]
    return out + ['', f'`patches-check.ktap`: {logs["patches-check.ktap"].summary()}.', '']


def section_host(logs):
    out = ['## Host-side checks', '']
    for name, title in [('host-checks.ktap', 'The built kernel and the prepared tree'),
                        ('docs-check.ktap', 'Documentation'),
                        ('rust-host.ktap', 'The Rust crates on the host')]:
        out += [f'### {title} (`{name}`)', '']
        if name not in logs:
            out += [missing(name), '']
            continue
        groups, order = {}, []
        for r in logs[name].results:
            key = r.name.split(':', 1)[0] if ':' in r.name else r.name
            if key not in groups:
                order.append(key)
            groups.setdefault(key, []).append(r)
        rows = []
        for key in order:
            rs = groups[key]
            whole = [r for r in rs if r.name == key]
            parts = [r for r in rs if r.name != key]
            cell = '; '.join(r.cell() + (f': {r.why}' if r.why else '') for r in whole)
            if parts:
                bad = [r.name for r in parts if r.status == 'FAIL']
                cell += ('; ' if cell else '') + (
                    f'{len(parts)} tests, {sum(r.status == "ok" for r in parts)} ok' +
                    (', failing: ' + ', '.join(bad) if bad else ''))
            rows.append([f'`{key}`', cell])
        out += table(['check', 'result'], rows)
        out += ['', f'`{name}`: {logs[name].summary()}.', '']
    return out


def section_widened(logs):
    out = ['## The lost-wakeup experiment (`make stress-widened`)', '']
    if 'stress-widened.ktap' not in logs:
        return out + [missing('stress-widened.ktap'), '']
    rows = [[f'`{r.name}`', r.cell(), r.why] for r in logs['stress-widened.ktap'].results]
    out += table(['variant', 'result', 'stress summary'], rows)
    return out + ['']


def render(logs, source):
    out = [
        '<!-- Generated by tools/report/results-docs.py: do not edit. -->',
        '# Results of the last run',
        '',
        f'Generated by `make results-docs` (`tools/report/results-docs.py`) from the '
        f'result files in `{source}`; do not edit it by hand: run the tests, then '
        f'`make results-docs`. What each check asserts is in '
        f'[checks.md](checks.md).',
        '',
    ]
    for section in (section_summary, section_programs, section_cases, section_other,
                    section_gate, section_mutants, section_series, section_host,
                    section_widened):
        out += section(logs)
    while out and not out[-1]:
        out.pop()
    return '\n'.join(out) + '\n'


def main(argv):
    if len(argv) > 2 or any(a.startswith('-') for a in argv):
        usage = [p for p in __doc__.split('\n\n') if p.startswith('Usage:')]
        print(usage[0].strip(), file=sys.stderr)
        return 0 if argv in (['-h'], ['--help']) else 2
    logs_dir = argv[0] if argv else DEFAULT_LOGS
    out = argv[1] if len(argv) > 1 else DEFAULT_OUT
    if not os.path.isdir(logs_dir):
        print(f'results-docs: error: {logs_dir} is not a directory '
              f'(make check writes build/results)', file=sys.stderr)
        return 1
    try:
        logs = load(logs_dir)
        if not logs:
            print(f'results-docs: error: no result file in {logs_dir} '
                  f'(expected {", ".join(n for n, _ in SOURCES)}); run make check '
                  f'first. {out} left as it was.', file=sys.stderr)
            return 1
        logs_abs = os.path.abspath(logs_dir)
        source = (os.path.relpath(logs_abs, PROJ) if logs_abs.startswith(PROJ + os.sep)
                  else 'build/results')
        text = render(logs, source)
        tmp = out + '.tmp'
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)
        os.replace(tmp, out)
    except Error as e:
        print(f'results-docs: error: {e}', file=sys.stderr)
        return 1
    except OSError as e:
        print(f'results-docs: error: cannot write {out}: {e.strerror}', file=sys.stderr)
        return 1
    absent = [n for n, _ in SOURCES if n not in logs]
    print(f'results-docs: wrote {out} from {len(logs)} result file(s) in {logs_dir}')
    for n in absent:
        print(f'results-docs: not in {logs_dir}: {n} (written by {TARGET[n]})')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # no traceback for the user, but say what it was
        print(f'results-docs: internal error: {type(e).__name__}: {e}', file=sys.stderr)
        sys.exit(3)
