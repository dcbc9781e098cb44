# SPDX-License-Identifier: GPL-2.0
"""Measured wall times of the project's commands, one file of results.

build/results/timings.txt holds one line per measurement, the last one of
each name kept:

    NAME SECONDS DATE COMMIT [WHAT...]

written by .ci/run (the fresh-clone make check and CI in all) and by
make measure-loop (make check with nothing changed, make test after a
one-line change); tools/report/results-docs.py turns it into the timing
tables of README.md and Documentation/project/results.md.

make check also writes a line per stage, stage:NAME, from the marks it
leaves after each stage (build/stage-marks, "NAME EPOCH [TICKS]" lines, the
first one "begin EPOCH [TICKS]"), and from those of each of its lanes, which
run at once (build/stage-marks-lane-LANE; the stage's line says "(lane
LANE)"); where the marks have TICKS (the CPU time used so far, in clock
ticks), cpu:NAME, the CPU seconds of the stage: on two cores, what a stage
costs the other lane.

.ci/run then keeps its figures under the state of the machine's caches
at its start (label): ci-check-cold, stage-cold:NAME, cpu-cold:NAME, and
the same with -warm, which the next make check does not replace; merge
copies those of one clone's file into another's (the README's table shows
both).

    python3 -m harness.timings record FILE NAME SECONDS [WHAT...]
    python3 -m harness.timings stages MARKS FILE [LANE]
    python3 -m harness.timings label FILE cold|warm
    python3 -m harness.timings merge FROM TO
    python3 -m harness.timings compare BEFORE AFTER cold|warm
    python3 -m harness.timings show FILE
"""
import datetime
import os
import subprocess
import sys

FIELDS = ('name', 'seconds', 'date', 'commit', 'what')
# .ci/run's measurements, which label() keeps under the caches' state.
CI_NAMES = ('ci-check', 'ci-check-debug', 'ci-total')
STATES = ('cold', 'warm')
# The per-stage figures of make check: wall seconds, CPU seconds.
KINDS = ('stage', 'cpu')


def load(path):
    """The measurements of path, by name: dicts of FIELDS; {} if none."""
    found = {}
    try:
        with open(path, encoding='utf-8') as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return found
    for line in lines:
        parts = line.split(None, 4)
        if len(parts) < 4 or line.startswith('#'):
            continue
        try:
            seconds = int(parts[1])
        except ValueError:
            continue
        found[parts[0]] = {'name': parts[0], 'seconds': seconds, 'date': parts[2],
                           'commit': parts[3], 'what': parts[4] if len(parts) > 4 else ''}
    return found


def commit_of(directory):
    """Short commit of the repository at directory, '-' outside one."""
    try:
        out = subprocess.run(['git', '-C', directory, 'rev-parse', '--short', 'HEAD'],
                             capture_output=True, text=True, check=True, timeout=30)
        return out.stdout.strip() or '-'
    except (OSError, subprocess.SubprocessError):
        return '-'


def record(path, name, seconds, what=''):
    """Sets the measurement name of path to seconds, dated now."""
    record_all(path, [(name, seconds, what)])


def record_all(path, measured):
    """Sets each (NAME, SECONDS, WHAT) of measured in path, dated now: one
    read and one write of the file."""
    entries = load(path)
    date = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%MZ')
    commit = commit_of(os.path.dirname(os.path.abspath(path)))
    for name, seconds, what in measured:
        entries[name] = {'name': name, 'seconds': seconds, 'date': date,
                         'commit': commit, 'what': what}
    write(path, entries)


def labelled(name, state):
    """The name a measurement is kept under for a run whose caches were
    state; None for one .ci/run does not keep."""
    if name in CI_NAMES:
        return f'{name}-{state}'
    for kind in KINDS:
        if name.startswith(f'{kind}:'):
            return f'{kind}-{state}:{name[len(kind) + 1:]}'
    return None


def of_state(name, state):
    """Whether name is one of the figures label() keeps for state."""
    return (any(name.startswith(f'{kind}-{state}:') for kind in KINDS)
            or name in {f'{c}-{state}' for c in CI_NAMES})


def label(path, state):
    """Copies .ci/run's figures and make check's stages of path under the
    caches' state, in place of that state's earlier ones; the names
    written."""
    entries = {n: e for n, e in load(path).items() if not of_state(n, state)}
    done = []
    for e in list(entries.values()):
        new = labelled(e['name'], state)
        if new:
            entries[new] = dict(e, name=new)
            done.append(new)
    write(path, entries)
    return done


def merge(src, dst):
    """Copies the labelled figures of src (a cold run's, a warm run's) into
    dst, each state's in place of dst's figures of that state: one run per
    state."""
    if not os.path.exists(src):
        raise FileNotFoundError(2, 'No such file', src)
    theirs = {n: e for n, e in load(src).items() if any(of_state(n, s) for s in STATES)}
    states = [s for s in STATES if any(of_state(n, s) for n in theirs)]
    ours = {n: e for n, e in load(dst).items() if not any(of_state(n, s) for s in states)}
    ours.update(theirs)
    write(dst, ours)
    return list(theirs)


def compare(before, after, state):
    """Rows (NAME, BEFORE, AFTER, RATIO) of the labelled figures of state
    (.ci/run's times, make check's stages, their CPU seconds) in two
    timings files, in after's order, then those only before has; a figure
    missing on one side is None, so is the ratio then or of a 0 before."""
    old, new = load(before), load(after)
    names = [n for n in new if of_state(n, state)]
    names += [n for n in old if of_state(n, state) and n not in new]
    rows = []
    for n in names:
        a = old.get(n, {}).get('seconds')
        b = new.get(n, {}).get('seconds')
        rows.append((n, a, b, round(b / a, 2) if a and b is not None else None))
    return rows


def write(path, entries):
    """Writes entries (load()'s form) to path, whole, at once."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        for e in entries.values():
            f.write(' '.join(str(e[k]) for k in FIELDS if e[k] != '') + '\n')
    os.replace(tmp, path)


def stages(marks_path, path, lane=''):
    """Records stage:NAME for each mark of marks_path: the seconds since the
    mark before it, and cpu:NAME, the CPU seconds since it, where both
    marks have ticks; lane names the lane of make check the marks are of.
    Returns (NAME, SECONDS, CPU_SECONDS or None) for each stage."""
    with open(marks_path, encoding='utf-8') as f:
        marks = [line.split() for line in f if len(line.split()) in (2, 3)]
    tick = os.sysconf('SC_CLK_TCK')
    times = []
    for before, after in zip(marks, marks[1:]):
        cpu = None
        if len(before) == 3 and len(after) == 3:
            cpu = round(max(0, int(after[2]) - int(before[2])) / tick)
        times.append((after[0], max(0, int(after[1]) - int(before[1])), cpu))
    where = f' (lane {lane})' if lane else ''
    measured = []
    for name, seconds, cpu in times:
        measured.append((f'stage:{name}', seconds, f"make check's stage {name}{where}"))
        if cpu is not None:
            measured.append((f'cpu:{name}', cpu, f"CPU seconds of make check's stage {name}{where}"))
    record_all(path, measured)
    return times


def human(seconds):
    """'2569 s (42 min 49 s)' for a table."""
    if seconds < 60:
        return f'{seconds} s'
    m, s = divmod(seconds, 60)
    return f'{seconds} s ({m} min {s} s)'


def main(argv):
    if len(argv) >= 4 and argv[0] == 'record':
        try:
            seconds = int(argv[3])
        except ValueError:
            print(f'timings: error: SECONDS must be an integer, got {argv[3]!r}',
                  file=sys.stderr)
            return 2
        if seconds < 0:
            print(f'timings: error: SECONDS must not be negative, got {seconds}',
                  file=sys.stderr)
            return 2
        try:
            record(argv[1], argv[2], seconds, ' '.join(argv[4:]))
        except OSError as e:
            print(f'timings: error: cannot write {argv[1]}: {e.strerror}', file=sys.stderr)
            return 1
        print(f'timings: {argv[2]} {human(seconds)} recorded in {argv[1]}')
        return 0
    if len(argv) in (3, 4) and argv[0] == 'stages':
        try:
            for name, seconds, cpu in stages(*argv[1:]):
                used = '' if cpu is None else f', {cpu} CPU s'
                print(f'timings: stage {name}: {human(seconds)}{used}')
        except (OSError, ValueError) as e:
            print(f'timings: error: {argv[1]}: {e}', file=sys.stderr)
            return 1
        return 0
    # label FILE STATE, merge FROM TO: what each does, and what it says.
    copies = {'label': (label, '{n} figures kept as {b} in {a}'),
              'merge': (merge, '{n} labelled figures of {a} copied into {b}')}
    if len(argv) == 3 and argv[0] in copies and (argv[0] == 'merge' or argv[2] in STATES):
        run, said = copies[argv[0]]
        try:
            done = run(argv[1], argv[2])
        except OSError as e:
            print(f'timings: error: {e.filename or argv[1]}: {e.strerror}', file=sys.stderr)
            return 1
        print('timings: ' + said.format(n=len(done), a=argv[1], b=argv[2]))
        return 0
    if len(argv) == 4 and argv[0] == 'compare' and argv[3] in STATES:
        for path in argv[1:3]:
            if not os.path.isfile(path):
                print(f'timings: error: {path}: No such file', file=sys.stderr)
                return 1
        rows = compare(*argv[1:])
        if not rows:
            print(f'timings: error: no {argv[3]} figures in {argv[1]} or {argv[2]}',
                  file=sys.stderr)
            return 1
        print(f'| figure | {argv[1]} | {argv[2]} | ratio |\n|---|---|---|---|')
        for name, a, b, ratio in rows:
            print(f"| {name} | {'-' if a is None else a} | {'-' if b is None else b} | "
                  f"{'-' if ratio is None else ratio} |")
        return 0
    if len(argv) == 2 and argv[0] == 'show':
        for e in load(argv[1]).values():
            print(f"{e['name']}: {human(e['seconds'])} on {e['date']} at {e['commit']}"
                  f"{' (' + e['what'] + ')' if e['what'] else ''}")
        return 0
    print(__doc__.strip().split('\n\n')[-1], file=sys.stderr)
    return 2


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:  # the reader (head) stopped early: not an error
        sys.stderr.close()
        sys.exit(0)
