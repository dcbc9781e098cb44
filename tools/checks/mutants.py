#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Mutation testing of the Rust suspend path and PSCI.

For each mutant in selftests/mutants: write the mutated file into the
"series" worktree (tools/tree/worktree.sh) checked out at the prepared tree's
branch work (the series and the A/B switch), rebuild that kernel
incrementally, boot it with the C and Rust suspend selftests, on the Rust
path and again on the C path (the A/B switch), and record which cases
failed; a mutant boots while the next one builds. A mutant is killed when a case fails on the Rust path while every
case passes on the C path; a failure on the C path means the mutant or the
switch is broken. build/src and build/kernel are never touched, so an
interrupted run leaves nothing broken behind.

Usage: tools/checks/mutants.py [--tests c|all] [--ktap FILE] [NAME...]
(default: every mutant, booted with every test: --tests all)
Prints a table; exits 1 if a mutant that is not marked equivalent survives.
--tests c boots each mutant with the C selftest alone (make check's).
--ktap FILE also writes one KTAP result per mutant, for tools/report.py.
"""
import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time

from harness import ktap

PROJ = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
B = os.environ.get('BUILD') or os.path.join(PROJ, 'build')
SRC = os.path.join(B, 'src')
WORK = os.path.join(B, 'mutants')
# The suspend tests each mutant is booted with: (name, binary, arguments).
KSFT = os.path.join(B, 'kselftest/install/kvm')
# The selftests' directory in the kernel base: arm64 (7.3; aarch64 in 6.12).
ARCH = os.environ.get('KSFT_ARCH') or 'arm64'
# --tests c (make check's): the C selftest and the PSCI tests below, each
# mutant booted with those of its file (tests_for); --tests all adds the
# whole Rust selftest and the fuzzer (mutants.md has which tests killed which
# mutant in the last run of each).
C_SELFTEST = (f'{ARCH}/vcpu_suspend', os.path.join(KSFT, 'vcpu_suspend'), '')
# The PSCI tests, for every mutant: upstream psci_test, the Rust selftest's
# PSCI cases (those of cases.rs named psci_*) and the differential fuzzer,
# which compares the Rust PSCI with the C one call by call.
RUST_SELFTEST = os.path.join(KSFT, 'vcpu_suspend_rs')


def psci_case_names():
    """The Rust selftest's PSCI cases, from its case table (selftests/rust/src/cases.rs)."""
    with open(os.path.join(PROJ, 'selftests/rust/src/cases.rs'), encoding='utf-8') as f:
        return sorted(set(re.findall(r'\("(psci_[a-z0-9_]+)"', f.read())))


PSCI_TESTS = [
    ('psci_test', os.path.join(KSFT, 'psci_test'), ''),
    ('psci_rs', RUST_SELFTEST, ' '.join(psci_case_names())),
    ('psci-diff', RUST_SELFTEST, '--psci-diff 1 1000'),
]
# Tests that are not run again on the C implementation: the fuzzer switches
# between the two itself.
RUST_ONLY = {'psci-diff'}
PSCI_NAMES = {name for name, _, _ in PSCI_TESTS}


def tests_for(mutant, tests):
    """The tests a mutant boots with: a suspend.rs mutant with the suspend
    tests, a psci_rust.rs one with the PSCI tests, one of the abstraction's
    (which both use) with all."""
    if mutant['file'] == 'rust/arm64/suspend.rs':
        return [t for t in tests if t[0] not in PSCI_NAMES]
    if mutant['file'] == 'rust/arm64/psci_rust.rs':
        return [t for t in tests if t[0] in PSCI_NAMES]
    return tests


_INITRAMFS = {}


def initramfs(tests, log):
    """An initramfs with tests on the Rust implementation, then (but for
    RUST_ONLY) the same on the C one; made once per set of tests and run."""
    names = '-'.join(sorted(name.replace('/', '_') for name, _, _ in tests))
    cpio = os.path.join(WORK, f'test-{hashlib.sha256(names.encode()).hexdigest()[:12]}.cpio')
    if cpio in _INITRAMFS:
        return cpio
    _INITRAMFS[cpio] = True
    lst = cpio[:-len('.cpio')] + '.list'
    with open(lst, 'w', encoding='utf-8') as f:
        for name, binary, args in tests:
            f.write(ktap.list_line(f'kvm/{name}', 120,
                                   f'/kvm/{os.path.basename(binary)} {args}') + '\n')
        # The same tests on the C implementation, in the same boot: they
        # must pass, which shows the A/B switch works and the failures above
        # come from the Rust code.
        for name, binary, args in tests:
            if name not in RUST_ONLY:
                f.write(ktap.list_line(f'kvm/{name}@c', 120,
                                       f'/bin/with-impl c /kvm/{os.path.basename(binary)} {args}')
                        + '\n')
    binaries = sorted({binary for _, binary, _ in tests})
    if sh([os.path.join(PROJ, 'tools/boot/mkinitramfs.sh'), cpio, lst]
          + [f'{binary}:/kvm/{os.path.basename(binary)}' for binary in binaries], log):
        raise Error(f'mkinitramfs failed, see {log}')
    return cpio
TEST_SETS = {
    'c': [C_SELFTEST] + PSCI_TESTS,
    'all': [C_SELFTEST] + PSCI_TESTS + [
        (f'{ARCH}/vcpu_suspend_rs', RUST_SELFTEST, ''),
        # The fuzzer, with the seed and budget of make check's but shorter.
        ('fuzz', RUST_SELFTEST, '--fuzz 1 1000'),
    ],
}


class Error(Exception):
    pass


def parse(path):
    mutants, cur = [], None
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip('\n')
            if line.startswith('@ '):
                parts = line[2:].split()
                if len(parts) != 2:
                    raise Error(f'{path}:{n}: expected "@ NAME FILE"')
                cur = {'name': parts[0], 'file': parts[1], 'old': [], 'new': [], 'equiv': ''}
                mutants.append(cur)
            elif cur is None or not line or line.startswith('#'):
                continue
            elif line.startswith('- ') or line == '-':
                cur['old'].append(line[2:])
            elif line.startswith('+ ') or line == '+':
                cur['new'].append(line[2:])
            elif line.startswith('= '):
                cur['equiv'] = line[2:]
            else:
                raise Error(f'{path}:{n}: unexpected line: {line}')
    return mutants


def remove(path):
    """Removes path, which may be gone already."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def sh(cmd, log, **kw):
    with open(log, 'a', encoding='utf-8') as f:
        f.write(f'$ {" ".join(cmd)}\n')
        f.flush()
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, **kw)
    return r.returncode


def tree_paths():
    """{project file: its path in the kernel tree} from tools/tree/series' add lines."""
    paths = {}
    with open(os.path.join(PROJ, 'tools/tree/series'), encoding='utf-8') as f:
        for line in f:
            fields = line.split()
            if len(fields) == 3 and fields[0] == 'add':
                paths[fields[1]] = fields[2]
    return paths


def worktree(log):
    """The "series" worktree, checked out at the prepared tree's work, and its
    kbuild output directory."""
    try:
        r = subprocess.run(['bash', os.path.join(PROJ, 'tools/tree/worktree.sh'), SRC, 'series',
                            'work'], capture_output=True, text=True, check=False)
    except OSError as e:
        raise Error(f'tools/tree/worktree.sh: {e.strerror}') from e
    with open(log, 'a', encoding='utf-8') as f:
        f.write(r.stderr)
    if r.returncode:
        raise Error(f'tools/tree/worktree.sh failed, see {log}')
    wt, obj = r.stdout.split()
    return wt, obj


def build_mutant(m, tree, log):
    """Builds the kernel with mutant m in the worktree and copies its Image
    aside (the next mutant's build overwrites the worktree's); returns the
    copy's path, None if the build failed, and the seconds it took."""
    wt, obj = tree
    path = tree_paths().get(m['file'])
    if path is None:
        raise Error(f"mutant {m['name']}: {m['file']} is not a file tools/tree/series adds")
    with open(os.path.join(PROJ, m['file']), encoding='utf-8') as f:
        text = f.read()
    old, new = '\n'.join(m['old']) + '\n', '\n'.join(m['new']) + '\n'
    if text.count(old) != 1:
        raise Error(f"mutant {m['name']}: its '-' text occurs {text.count(old)} times in {m['file']}")
    with open(os.path.join(wt, path), 'w', encoding='utf-8') as f:
        f.write(text.replace(old, new))
    t = time.monotonic()
    try:
        if sh([os.path.join(PROJ, 'tools/tree/kmake.sh'), wt, obj, 'CLIPPY=1', 'Image'], log):
            return None, time.monotonic() - t
    finally:
        sh(['git', '-C', wt, 'checkout', '-q', '-f', '--', path], log)
    image = os.path.join(WORK, f"{m['name']}.Image")
    shutil.copyfile(os.path.join(obj, 'arch/arm64/boot/Image'), image)
    return image, time.monotonic() - t


class Boot:
    """A mutant's boot, running in the background while the next mutant
    builds (a boot keeps one core busy, the link of the next mutant the
    other)."""

    def __init__(self, m, image, cpio, log, tests):
        self.m, self.image, self.tests = m, image, tests
        self.console = os.path.join(WORK, f"{m['name']}.console.log")
        cmd = [os.path.join(PROJ, 'tools/boot/boot.sh'), image, cpio, self.console]
        self.log = open(log, 'a', encoding='utf-8')
        self.log.write(f'$ {" ".join(cmd)}\n')
        self.log.flush()
        self.start = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        # The boot's own end, not when wait() is called (after the next
        # mutant's build).
        self.end = None
        self.watch = threading.Thread(target=self._watch, daemon=True)
        self.watch.start()

    def _watch(self):
        self.proc.wait()
        self.end = time.monotonic()

    def wait(self):
        """Waits for the boot (boot.sh bounds it); the cases that failed on
        the Rust path and on the C path, and the boot's seconds. The Image
        is kept for a second boot (again()) until discard()."""
        self.watch.join()
        self.log.close()
        secs = self.end - self.start
        with open(self.console, encoding='utf-8', errors='replace') as f:
            programs, _, _ = ktap.split_console(f.read())
        failed, c_failed = [], []
        for name, _, _ in self.tests:
            runs = [(f'kvm/{name}', failed)]
            if name not in RUST_ONLY:
                runs.append((f'kvm/{name}@c', c_failed))
            for prog, bucket in runs:
                lines, rc, _ = programs.get(prog, ([], None, 0))
                bad = [n for s_, n, _ in ktap.program_results(prog, lines, rc) if s_ == 'fail']
                bucket.extend(n.split(':', 1)[-1] for n in bad)
        return failed, c_failed, secs

    def again(self, cpio, log):
        """The same Image and initramfs booted once more, in the foreground."""
        return Boot(self.m, self.image, cpio, log, self.tests)

    def discard(self):
        remove(self.image)


def boot_once_more(boot, cpio, log, c_failed):
    """A second boot of a mutant whose C path failed: that path is not
    mutated (the main boot and every other mutant's pass it), so its failure
    is the boot's, not the mutant's (a rare KVM_BUG_ON of the emulated host,
    mutants.md); the second boot's results are the mutant's, both boots'
    seconds its time, and a C failure there says the mutant or the switch is
    broken."""
    with open(log, 'a', encoding='utf-8') as f:
        f.write(f"mutant {boot.m['name']}: the C path failed ({', '.join(c_failed)}); "
                'booting it once more\n')
    # The first boot's console is kept beside the second's.
    os.replace(boot.console, boot.console[:-len('.console.log')] + '.first-boot.console.log')
    return boot.again(cpio, log).wait()


def boots_at_once():
    """How many mutants boot at once: a QEMU keeps about one core busy, and
    make check's other lane boots on one more; on this project's 2 cores,
    one (booting while the next mutant builds)."""
    return max(1, ((os.cpu_count() or 2) - 2) // 2)


def run_all(mutants, order, tree, log, tests):
    """Builds the mutants in order, booting each while the next ones build,
    up to boots_at_once() boots at once; {index: (failed or None if the
    build failed, c_failed, seconds, why it was booted twice or '')}."""
    results, running, limit = {}, [], boots_at_once()

    def finish(keep, again=True):
        while len(running) > keep:
            i, boot, cpio, build_secs = running.pop(0)
            try:
                failed, c_failed, boot_secs = boot.wait()
                first = ''
                if c_failed and again:
                    first = f"C failed in a first boot ({', '.join(c_failed)})"
                    failed, c_failed, more = boot_once_more(boot, cpio, log, c_failed)
                    boot_secs += more
            finally:
                boot.discard()
            results[i] = (failed, c_failed, build_secs + boot_secs, first)

    for m in mutants:
        remove(os.path.join(WORK, f"{m['name']}.first-boot.console.log"))
    try:
        for i in order:
            mtests = tests_for(mutants[i], tests)
            cpio = initramfs(mtests, log)
            image, build_secs = build_mutant(mutants[i], tree, log)
            finish(limit - 1)
            if image is None:
                results[i] = (None, [], build_secs, '')
            else:
                running.append((i, Boot(mutants[i], image, cpio, log, mtests), cpio, build_secs))
        finish(0)
    finally:
        # What is still booting after an error or an interrupt: waited for,
        # not booted again.
        finish(0, again=False)
    return results


def main(argv):
    ktap_file, tests = None, TEST_SETS['all']
    while argv[:1] in (['--ktap'], ['--tests']):
        if len(argv) < 2:
            raise Error(f'{argv[0]} needs an argument')
        if argv[0] == '--tests':
            if argv[1] not in TEST_SETS:
                raise Error(f'--tests {argv[1]}: expected one of {", ".join(TEST_SETS)}')
            tests = TEST_SETS[argv[1]]
        else:
            ktap_file = argv[1]
        argv = argv[2:]
    mutants = parse(os.path.join(PROJ, 'selftests/mutants'))
    if argv:
        unknown = set(argv) - {m['name'] for m in mutants}
        if unknown:
            raise Error(f'no such mutant: {", ".join(sorted(unknown))}')
        mutants = [m for m in mutants if m['name'] in argv]
    for _, binary, _ in tests:
        if not os.path.exists(binary):
            raise Error(f'{binary} missing: run make kselftest-tar first')
    os.makedirs(WORK, exist_ok=True)
    log = os.path.join(WORK, 'mutants.log')
    open(log, 'w').close()
    rows, bad = [], 0
    tree = worktree(log)
    # Build order, not report order: the mutants of one file one after the
    # other, the abstraction's (rust/kernel/, which every Rust object depends
    # on) last, so that restoring a file rebuilds the kernel crate only
    # between two of its own mutants, not before a suspend.rs or psci_rust.rs
    # one.
    def build_order(i):
        return mutants[i]['file'].startswith('rust/kernel/'), mutants[i]['file'], i
    order = sorted(range(len(mutants)), key=build_order)
    # make results-docs reads which tests were booted from this line.
    print(f"# booted with: {', '.join(name for name, _, _ in tests)}", flush=True)
    built = run_all(mutants, order, tree, log, tests)
    for i, m in enumerate(mutants):
        failed, c_failed, secs, first = built[i]
        if failed is None:
            status, failed = 'build-failed', []
        elif c_failed:
            status = 'broken: C failed too'
            failed = failed + [f"(on the C implementation: {', '.join(c_failed)})"]
        else:
            status = 'killed' if failed else 'survived'
        if status == 'survived' and m['equiv']:
            status = 'equivalent'
        elif status != 'killed':
            bad += 1
        rows.append((m['name'], status, failed, secs, m['equiv']))
        again = f' [booted twice: {first}]' if first else ''
        print(f"mutant {m['name']}: {status} ({secs:.0f} s){again} {' '.join(failed)}", flush=True)

    print()
    print('| mutant | result | failing cases |')
    print('|---|---|---|')
    for name, status, failed, _, equiv in rows:
        why = ', '.join(failed) if failed else (equiv or '')
        print(f'| {name} | {status} | {why} |')
    killed = sum(1 for r in rows if r[1] == 'killed')
    print(f'\n{killed} killed, {sum(1 for r in rows if r[1] == "equivalent")} equivalent, {bad} survived or broken, of {len(rows)}')
    if ktap_file:
        with open(ktap_file, 'w', encoding='utf-8') as f:
            for i, (name, status, failed, _, equiv) in enumerate(rows, 1):
                ok = status in ('killed', 'equivalent')
                why = f'killed by {", ".join(failed)}' if status == 'killed' else (equiv or status)
                f.write(ktap.line(i, 'pass' if ok else 'fail', f'mutant-{name}', why) + '\n')
    return 1 if bad else 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except (Error, OSError) as e:
        print(f'mutants: error: {e}', file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
