# SPDX-License-Identifier: GPL-2.0
"""Content keys of a check's inputs, so that make check re-runs only the
checks whose inputs changed.

A key is the SHA-256 of every input's content: a file's bytes, every file
under a directory (build and cache directories skipped), a git revision
(git:REPO:REV, the commit id, which covers the whole tree), the files a
git work tree changes against its HEAD (status:REPO), or a literal (=TEXT,
for a make variable). The key of a check's last run is kept in
build/results/NAME.key, written only once the run left its output (and, for
KTAP output, no "not ok" line); make check forgets every key when its
report fails, so that a failure is never taken from the cache.

    python3 -m harness.inputs fresh NAME OUTPUT -- INPUT...  exit 0: unchanged
    python3 -m harness.inputs save NAME OUTPUT -- INPUT...
    python3 -m harness.inputs forget [NAME...]              (none: all)
"""
import hashlib
import os
import subprocess
import sys

# The build directory of the kernel base being built (the Makefile's BUILD).
RESULTS = os.path.join(os.environ.get('BUILD') or os.path.join(os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'build'), 'results')
SKIP_DIRS = {'target', '__pycache__', '.git'}


class Error(Exception):
    pass


def _file(h, path):
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)


def key(inputs):
    """The SHA-256 hex digest of the content of inputs."""
    h = hashlib.sha256()
    for item in inputs:
        h.update(b'\0' + item.encode())
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
                for name in sorted(files):
                    path = os.path.join(root, name)
                    h.update(b'\0' + os.path.relpath(path, item).encode() + b'\0')
                    if os.path.islink(path):
                        h.update(os.readlink(path).encode())
                    elif os.path.isfile(path):
                        _file(h, path)
        elif os.path.isfile(item):
            _file(h, item)
        else:
            h.update(b'missing')
    return h.hexdigest()


def _keyfile(name):
    return os.path.join(RESULTS, name + '.key')


def _passed(output):
    if not os.path.isfile(output):
        return False
    if output.endswith('.ktap'):
        with open(output, encoding='utf-8', errors='replace') as f:
            return not any(line.startswith('not ok') for line in f)
    return True


def fresh(name, output, inputs):
    try:
        with open(_keyfile(name), encoding='utf-8') as f:
            old = f.read().strip()
    except OSError:
        return False
    return _passed(output) and old == key(inputs)


def save(name, output, inputs):
    if _passed(output):
        os.makedirs(RESULTS, exist_ok=True)
        with open(_keyfile(name), 'w', encoding='utf-8') as f:
            f.write(key(inputs) + '\n')
    else:
        forget([name])


def forget(names):
    if not names and os.path.isdir(RESULTS):
        names = [n[:-4] for n in os.listdir(RESULTS) if n.endswith('.key')]
    for name in names:
        try:
            os.remove(_keyfile(name))
        except FileNotFoundError:
            pass


def main(argv):
    if len(argv) >= 1 and argv[0] == 'forget':
        forget(argv[1:])
        return 0
    if len(argv) < 4 or argv[0] not in ('fresh', 'save') or argv[3] != '--':
        raise Error('usage: python3 -m harness.inputs fresh|save NAME OUTPUT -- INPUT... '
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
