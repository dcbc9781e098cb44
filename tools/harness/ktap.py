# SPDX-License-Identifier: GPL-2.0
"""KTAP and test lists: the one place that reads and writes them.

KTAP results ("ok N NAME # DIRECTIVE"), the console format of a test boot
(tools/boot/guest/init prints ### BEGIN/END per program, ### DMESG BEGIN/END,
### DONE), the baseline of known failures, and the guest's test-list lines
("NAME SECONDS COMMAND...", run by tools/boot/guest/init).

    python3 -m harness.ktap result N STATUS NAME [WHY]   one KTAP line
                                   (STATUS 0 is ok, anything else not ok)
    python3 -m harness.ktap header COUNT                 TAP version, plan
    python3 -m harness.ktap list kvm FILE                list lines of
    python3 -m harness.ktap list gate FILE                 selftests/*.list
    python3 -m harness.ktap list both NAME SECONDS PROGRAM [ARG...]
        PROGRAM (of /kselftest/kvm) on the Rust suspend path (NAME) and on
        the C one (NAME@c), in the same boot
    python3 -m harness.ktap list one NAME SECONDS COMMAND...
    python3 -m harness.ktap output NAME CONSOLE          what program NAME
        printed in a test boot's console; exits with its exit code
"""
import re
import sys

# "ok N NAME # DIRECTIVE": group 3 is SKIP/XFAIL/TODO if the directive is one, group 4 the rest.
RESULT = re.compile(r'^(not ok|ok) \d+ (.*?)(?:\s+#\s*(?:(SKIP|XFAIL|TODO)\b\s*)?(.*))?$')
SUMMARY = re.compile(r'^\d+ passed, \d+ failed, \d+ skipped$')
TIMESTAMP = re.compile(r'^\[\s*\d+\.\d+\] ?')
SPLAT = re.compile(r'WARNING:|BUG:|Oops|Unable to handle kernel|Kernel panic|'
                   r'Call trace:|KASAN:|UBSAN:|INFO: task .* blocked|'
                   r'rcu: INFO: rcu_.* detected stall|refcount_t:|list_(add|del) corruption|'
                   r'suspected memory leaks')
KSFT = '/kselftest/kvm'


def line(n, status, name, comment=''):
    """One KTAP result line; status is pass, fail or skip."""
    text = f"{'not ok' if status == 'fail' else 'ok'} {n} {name}"
    if status == 'skip':
        return (text + f' # SKIP {comment}').rstrip()
    return text + (f' # {comment}' if comment else '')


def emit(results, out, summary=True):
    """KTAP of [(status, name, comment)], then the summary line; the failures."""
    print('TAP version 13', file=out)
    print(f'1..{len(results)}', file=out)
    for i, (status, name, comment) in enumerate(results, 1):
        print(line(i, status, name, comment), file=out)
    counts = {s: sum(1 for r in results if r[0] == s) for s in ('pass', 'fail', 'skip')}
    if summary:
        print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped",
              file=out)
    return counts['fail']


def parse(lines):
    """[(status, name, comment)] of the top-level results in KTAP lines."""
    results = []
    for text in lines:
        m = RESULT.match(text)
        if m:
            status = 'fail' if m.group(1) == 'not ok' else 'pass'
            if status == 'pass' and m.group(3) in ('SKIP', 'XFAIL'):
                status = 'skip'
            results.append((status, m.group(2), m.group(4) or ''))
    return results


def summary(lines):
    """The last "N passed, N failed, N skipped" line, or None."""
    found = [text for text in lines if SUMMARY.match(text)]
    return found[-1] if found else None


def load_baseline(path):
    """NAME: reason lines; '#' comments."""
    baseline = {}
    if not path:
        return baseline
    with open(path, encoding='utf-8') as f:
        for text in f:
            text = text.strip()
            if not text or text.startswith('#'):
                continue
            name, _, reason = text.partition(':')
            baseline[name.strip()] = reason.strip()
    return baseline


def split_console(text):
    """Returns ({program: (lines, rc, seconds)}, dmesg lines, done flag)."""
    programs, dmesg, done = {}, [], False
    current, lines, in_dmesg = None, [], False
    for raw in text.splitlines():
        text_line = raw.rstrip('\r')
        if text_line.startswith('### BEGIN '):
            current, lines = text_line[len('### BEGIN '):].strip(), []
        elif text_line.startswith('### END ') and current:
            fields = dict(f.split('=', 1) for f in text_line.split()[3:] if '=' in f)
            try:
                secs = float(fields.get('end', 0)) - float(fields.get('start', 0))
            except ValueError:
                secs = 0.0
            programs[current] = (lines, int(fields.get('rc', '255')), secs)
            current = None
        elif text_line == '### DMESG BEGIN':
            in_dmesg = True
        elif text_line == '### DMESG END':
            in_dmesg = False
        elif text_line == '### DONE':
            done = True
        elif in_dmesg:
            dmesg.append(TIMESTAMP.sub('', text_line))
        elif current is not None:
            lines.append(text_line)
    if current is not None:
        programs[current] = (lines, None, 0.0)
    return programs, dmesg, done


def program_results(name, lines, rc):
    """Top-level KTAP results of one program, and whether it failed overall."""
    leaves = [(s, f'{name}:{n}', c) for s, n, c in parse(lines)]
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
    for text in dmesg:
        stripped = text.strip()
        if stripped.startswith('# Subtest: ') and text.startswith('    '):
            suite = stripped[len('# Subtest: '):]
            continue
        if suite and text.startswith('    ') and not text.startswith('        '):
            m = RESULT.match(stripped)
            if m:
                status = 'fail' if m.group(1) == 'not ok' else 'pass'
                if m.group(3) == 'SKIP':
                    status = 'skip'
                leaves.append((status, f'kunit:{suite}.{m.group(2)}', m.group(4) or ''))
    return leaves


def list_line(name, secs, command):
    """A line of the guest's test list: NAME SECONDS COMMAND."""
    return f'{name} {secs} {command}'


def on_both(name, secs, program):
    """PROGRAM (of /kselftest/kvm, with its arguments) on the Rust suspend
    path as NAME and on the C one (the A/B switch) as NAME@c."""
    return [list_line(name, secs, f'{KSFT}/{program}'),
            list_line(f'{name}@c', secs, f'/bin/with-impl c {KSFT}/{program}')]


def selftest_list(path, with_args):
    """List lines of selftests/kvm.list or gate.list ("TARGET SECONDS
    [ARGS...]", TARGET relative to the kselftest kvm directory)."""
    out = []
    with open(path, encoding='utf-8') as f:
        for text in f:
            fields = text.split()
            if not fields or fields[0].startswith('#'):
                continue
            args = fields[2:] if with_args else []
            out.append(list_line(f'kvm/{fields[0]}', fields[1],
                                 ' '.join([f"{KSFT}/{fields[0].split('/')[-1]}"] + args)))
    return out


def shard(lines, n):
    """lines of a test list dealt into n lists for n boots at once: the
    longest time limit first to the list with the least so far, each list
    in the order of lines."""
    shards = [[] for _ in range(n)]
    load = [0] * n
    order = sorted(range(len(lines)), key=lambda i: -int(lines[i].split()[1]))
    for i in order:
        k = load.index(min(load))
        shards[k].append(i)
        load[k] += int(lines[i].split()[1])
    return [[lines[i] for i in sorted(s)] for s in shards]


def main(argv):
    usage = 'usage: python3 -m harness.ktap result N STATUS NAME [WHY] | header COUNT | ' \
            'list kvm|gate FILE | list both|one NAME SECONDS ... | output NAME CONSOLE | ' \
            'shard N LIST PREFIX'
    if len(argv) >= 4 and argv[0] == 'result':
        status = 'pass' if argv[2] == '0' else 'fail'
        print(line(argv[1], status, argv[3], ' '.join(argv[4:]) if status == 'fail' else ''))
    elif len(argv) == 2 and argv[0] == 'header':
        print(f'TAP version 13\n1..{argv[1]}')
    elif len(argv) == 3 and argv[0] == 'list' and argv[1] in ('kvm', 'gate'):
        print('\n'.join(selftest_list(argv[2], argv[1] == 'gate')))
    elif len(argv) >= 5 and argv[:2] == ['list', 'both']:
        print('\n'.join(on_both(argv[2], argv[3], ' '.join(argv[4:]))))
    elif len(argv) >= 5 and argv[:2] == ['list', 'one']:
        print(list_line(argv[2], argv[3], ' '.join(argv[4:])))
    elif len(argv) == 4 and argv[0] == 'shard' and argv[1].isdigit() and int(argv[1]) > 0:
        with open(argv[2], encoding='utf-8') as f:
            lines = [t.rstrip('\n') for t in f if t.strip() and not t.startswith('#')]
        for k, part in enumerate(shard(lines, int(argv[1])), 1):
            with open(f'{argv[3]}-{k}.list', 'w', encoding='utf-8') as f:
                f.write(''.join(t + '\n' for t in part))
    elif len(argv) == 3 and argv[0] == 'output':
        with open(argv[2], encoding='utf-8', errors='replace') as f:
            programs, _, _ = split_console(f.read())
        if argv[1] not in programs:
            print(f'ktap: {argv[1]} did not run (see {argv[2]})', file=sys.stderr)
            return 1
        lines, rc, _ = programs[argv[1]]
        print('\n'.join(lines))
        return 1 if rc is None else min(rc, 255)
    else:
        print(usage, file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except OSError as e:
        print(f'ktap: error: {e.filename}: {e.strerror}', file=sys.stderr)
        sys.exit(2)
