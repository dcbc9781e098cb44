# SPDX-License-Identifier: GPL-2.0
"""Content keys of a check's inputs, so that make check re-runs only the
checks whose inputs changed, in this clone or in any other on the machine.

A key is the SHA-256 of every input's content: a file's bytes, every file
under a directory (build and cache directories and kbuild's .*.cmd files,
which name absolute paths, skipped), a git revision (git:REPO:REV, the commit
id, which covers the whole tree), the files a git work tree changes against
its HEAD (status:REPO), or a literal (=TEXT, for a make variable). Inputs
are named relative to the clone, so that the same content gives the same key
in every clone. The key of a check's last run is kept in
build/results/NAME.key, written only once the run left its output (and, for
KTAP output, no "not ok" line), and its output in the machine-wide result
cache, RESULT_CACHE/RESULTS/NAME/KEY/ (tools/setup/versions.env's
CACHE_ROOT/results; RESULTS relative to the clone): a fresh clone whose
inputs have the content of a run that passed on this machine takes its
output from there instead of running the check. make check forgets every
input key when its report fails, in the clone and in the machine's cache,
so that a failure is never taken from a cache.

    python3 -m harness.inputs fresh NAME OUTPUT[,OUTPUT...] -- INPUT...  exit 0: unchanged
    python3 -m harness.inputs save NAME OUTPUT[,OUTPUT...] -- INPUT...
    python3 -m harness.inputs forget [NAME...]              (none: all)

The first OUTPUT is the one that says whether the check passed; the others
are kept and restored with it.
"""
import contextlib
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

PROJ = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The build directory of the kernel base being built (the Makefile's BUILD).
RESULTS = os.path.join(os.environ.get('BUILD') or os.path.join(PROJ, 'build'), 'results')
SKIP_DIRS = {'target', '__pycache__', '.git'}


@functools.cache
def _cache_root():
    """The machine-wide result cache: RESULT_CACHE, else CACHE_ROOT/results,
    CACHE_ROOT as tools/setup/versions.env sets it (the environment's, else
    its default), read by the shell that every script sources it with."""
    if os.environ.get('RESULT_CACHE'):
        return os.environ['RESULT_CACHE']
    env = os.path.join(PROJ, 'tools/setup/versions.env')
    clean = {k: v for k, v in os.environ.items() if k not in ('BASH_ENV', 'ENV')}
    try:
        r = subprocess.run(['/bin/bash', '-c', '. "$1" && printf %s "$CACHE_ROOT"', 'bash', env],
                           capture_output=True, text=True, check=False, timeout=30, env=clean)
    except (OSError, subprocess.SubprocessError) as e:
        raise Error(f'cannot read CACHE_ROOT from {env}: {e}') from e
    if r.returncode != 0 or not r.stdout:
        raise Error(f'no CACHE_ROOT from {env}: {r.stderr.strip()}')
    return os.path.join(r.stdout, 'results')


def _relative(item):
    """item with the clone's own path replaced by '.', so that keys do not
    depend on where the clone is."""
    return item.replace(PROJ + '/', './').replace(PROJ, '.')


class Error(Exception):
    pass


def _file(h, path):
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)


def key(inputs, name=None):
    """The SHA-256 hex digest of the content of inputs; with name, says on
    stderr which input paths do not exist (hashed as "missing": a renamed
    file would otherwise leave the key of check name without it)."""
    h = hashlib.sha256()
    for item in inputs:
        h.update(b'\0' + _relative(item).encode())
        if item.startswith('='):
            continue
        if item.startswith('git:'):
            _, repo, rev = item.split(':', 2)
            r = subprocess.run(['git', '-C', repo, 'rev-parse', '--verify', '-q', rev],
                               capture_output=True, text=True, check=False)
            h.update(r.stdout.encode() if r.returncode == 0 else b'missing')
        elif item.startswith('status:'):
            repo = item.split(':', 1)[1]
            r = subprocess.run(['git', '-C', repo, 'diff', 'HEAD'],
                               capture_output=True, check=False)
            h.update(r.stdout if r.returncode == 0 else b'missing')
        elif os.path.isdir(item):
            for root, dirs, files in os.walk(item):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
                for fname in sorted(files):
                    if fname.startswith('.') and fname.endswith('.cmd'):
                        continue
                    path = os.path.join(root, fname)
                    h.update(b'\0' + os.path.relpath(path, item).encode() + b'\0')
                    if os.path.islink(path):
                        h.update(os.readlink(path).encode())
                    elif os.path.isfile(path):
                        _file(h, path)
        elif os.path.isfile(item):
            _file(h, item)
        else:
            h.update(b'missing')
            if name:
                print(f'inputs: {name}: warning: input {_relative(item)} does not exist',
                      file=sys.stderr)
    return h.hexdigest()


def _keyfile(name):
    return os.path.join(RESULTS, name + '.key')


def _entry(name, k):
    """The machine-wide cache's directory for check name with key k: below
    RESULTS' path in the clone, or, for a RESULTS outside the clone, below
    a digest of its path."""
    where = os.path.relpath(RESULTS, PROJ)
    if where.startswith('..'):
        where = 'elsewhere-' + hashlib.sha256(os.path.abspath(RESULTS).encode()).hexdigest()[:16]
    return os.path.join(_cache_root(), where, name, k)


def _passed(output):
    """Whether output says its check passed: it exists, and a KTAP file has
    at least one result and no "not ok" (an empty one is a check that died)."""
    if not os.path.isfile(output):
        return False
    if output.endswith('.ktap'):
        with open(output, encoding='utf-8', errors='replace') as f:
            lines = f.read().splitlines()
        return (any(line.startswith('ok ') for line in lines)
                and not any(line.startswith('not ok') for line in lines))
    return True


def _restore(name, outputs, k):
    """Copies the outputs of the machine cache's entry for key k into
    place; False if it has no such entry."""
    entry = _entry(name, k)
    if not all(os.path.isfile(os.path.join(entry, os.path.basename(o))) for o in outputs):
        return False
    for o in outputs:
        os.makedirs(os.path.dirname(os.path.abspath(o)), exist_ok=True)
        shutil.copyfile(os.path.join(entry, os.path.basename(o)), o)
    _touch(entry)
    print(f'{name}: its inputs are those of a run that passed on this machine: '
          f'output taken from {entry}', file=sys.stderr)
    return True


def _complete(outputs):
    """Whether every output exists and the first says its check passed."""
    return all(os.path.isfile(o) for o in outputs) and _passed(outputs[0])


def fresh(name, output, inputs):
    outputs = output.split(',')
    try:
        with open(_keyfile(name), encoding='utf-8') as f:
            old = f.read().strip()
    except OSError:
        old = None
    k = key(inputs, name)
    if old == k and _complete(outputs):
        # Passed here: the machine cache gets it too if it lost it (a
        # failure elsewhere forgot it, or it was emptied).
        _store(name, outputs, k)
        return True
    if _restore(name, outputs, k) and _passed(outputs[0]):
        _write_key(name, k)
        return True
    return False


def _write_key(name, k):
    os.makedirs(RESULTS, exist_ok=True)
    with open(_keyfile(name), 'w', encoding='utf-8') as f:
        f.write(k + '\n')


def save(name, output, inputs):
    outputs = output.split(',')
    if not _complete(outputs):
        forget([name])
        return
    k = key(inputs)
    _write_key(name, k)
    _store(name, outputs, k)


def _store(name, outputs, k):
    """Copies outputs into the machine cache's entry for key k, unless it
    has one."""
    entry = _entry(name, k)
    if os.path.isdir(entry):
        _touch(entry)
        return
    tmp = None
    try:
        os.makedirs(os.path.dirname(entry), exist_ok=True)
        tmp = tempfile.mkdtemp(dir=os.path.dirname(entry))
        for o in outputs:
            shutil.copyfile(o, os.path.join(tmp, os.path.basename(o)))
        os.rename(tmp, entry)
        _prune(name, entry)
    except OSError as e:
        # Another clone saved the same entry first, or the cache is not
        # writable: the check passed all the same.
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        if not os.path.isdir(entry):
            print(f'inputs: {name}: not kept in the machine cache: {e}', file=sys.stderr)


# How many entries of each check the machine cache keeps: the newest used
# (a run that takes an entry touches it), so that a CI machine that runs
# for every landing does not fill its disk with results no input leads to.
KEEP = 8


def _touch(entry):
    """Marks entry used now: _prune keeps the entries used last."""
    with contextlib.suppress(OSError):
        os.utime(entry)


def _prune(name, entry):
    """Removes check name's entries beyond the KEEP most recently used,
    never entry itself."""
    parent = os.path.dirname(entry)
    try:
        others = [os.path.join(parent, e) for e in os.listdir(parent)
                  if os.path.join(parent, e) != entry]
        ages = {o: os.path.getmtime(o) for o in others}
    except OSError:
        return
    # A tmp* directory is an entry being stored, or one that a killed run
    # left: removed once a day old.
    stale = [o for o in others if os.path.basename(o).startswith('tmp')]
    day_ago = time.time() - 86400
    kept = sorted((o for o in others if o not in stale), key=ages.get, reverse=True)
    for old in kept[KEEP - 1:] + [o for o in stale if ages[o] < day_ago]:
        shutil.rmtree(old, ignore_errors=True)


def forget(names):
    if not names and os.path.isdir(RESULTS):
        names = [n[:-4] for n in os.listdir(RESULTS) if n.endswith('.key')]
    for name in names:
        try:
            with open(_keyfile(name), encoding='utf-8') as f:
                k = f.read().strip()
            if k:
                shutil.rmtree(_entry(name, k), ignore_errors=True)
            os.remove(_keyfile(name))
        except FileNotFoundError:
            pass


def main(argv):
    if len(argv) >= 1 and argv[0] == 'forget':
        forget(argv[1:])
        return 0
    if len(argv) < 4 or argv[0] not in ('fresh', 'save') or argv[3] != '--':
        raise Error('usage: python3 -m harness.inputs fresh|save NAME OUTPUT[,OUTPUT...] -- INPUT... '
                    '| forget [NAME...]')
    cmd, name, output, inputs = argv[0], argv[1], argv[2], argv[4:]
    if cmd == 'fresh':
        return 0 if fresh(name, output, inputs) else 1
    save(name, output, inputs)
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except (Error, OSError, ValueError) as e:
        print(f'inputs: error: {e}', file=sys.stderr)
        sys.exit(2)
