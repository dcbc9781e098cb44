#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Fill a cover letter that git format-patch --cover-letter wrote.

The subject and the blurb come from a template in tools/submit/cover-letters/
(first line: the subject; the rest: the blurb); its @NAME@ placeholders
are filled from the last runs' result files in build/results/, so that no
figure is typed by hand. A figure whose result file is missing says which
make target gives it.

    cover-letter.py TEMPLATE LOGS COVER   (COVER is rewritten in place)
"""
import os
import re
import sys
import textwrap

from harness import ktap, pins

# The selftests' directory in the kernel base: arm64 (7.3), aarch64 (6.12).
ARCH = os.environ.get('KSFT_ARCH') or 'arm64'


def lines(logs, name):
    path = os.path.join(logs, name)
    if not os.path.exists(path):
        return None
    with open(path, encoding='utf-8') as f:
        return f.read().splitlines()


def results(lines, prefix):
    """(passed or skipped, failed) results whose name starts with prefix."""
    found = [r for r in ktap.parse(lines) if r[1].startswith(prefix)]
    return [r for r in found if r[0] != 'fail'], [r for r in found if r[0] == 'fail']


def summary(lines):
    return ktap.summary(lines)


def cases(check, test):
    ok, bad = results(check, f'{test}:')
    return len(ok), len(ok) + len(bad)


def figures(logs):
    check = lines(logs, 'check.ktap')
    gate = lines(logs, 'gate.ktap')
    debug = lines(logs, 'check-debug.ktap')
    mutants = lines(logs, 'mutants.ktap')
    widened = lines(logs, 'stress-widened.ktap')
    f = {}
    if check:
        c_ok, c_all = cases(check, f'kvm/{ARCH}/vcpu_suspend')
        cc_ok, cc_all = cases(check, f'kvm/{ARCH}/vcpu_suspend@c')
        r_ok, r_all = cases(check, f'kvm/{ARCH}/vcpu_suspend_rs')
        rc_ok, rc_all = cases(check, f'kvm/{ARCH}/vcpu_suspend_rs@c')
        ls_ok, ls_bad = results(check, 'linux-suspend')
        kunit = len(results(check, 'kunit:')[0])
        f['C_CASES'] = str(c_all)
        tests = [
            f'make check: {summary(check)}.',
            f'The new selftest: {c_ok} of {c_all} cases pass on the Rust suspend '
            f'path, {cc_ok} of {cc_all} on the C one.',
            f'A Rust selftest of the same contract (rust-vmm kvm-ioctls): {r_ok} of '
            f'{r_all} on Rust, {rc_ok} of {rc_all} on C.',
            f'A Linux guest suspends to RAM through PSCI SYSTEM_SUSPEND and is woken '
            f'by its RTC alarm through the in-kernel vGICv3: {len(ls_ok)} of '
            f'{len(ls_ok) + len(ls_bad)} runs (Rust, C, and the first suspend '
            f'answered DENIED).',
            f'{kunit} KUnit results, Rust doctests included; a clean kernel log.',
        ]
        series = lines(logs, 'patches-check.ktap')
        if series:
            p_all = ktap.parse(series)
            p_ok = [r for r in p_all if r[0] != 'fail']
            tests.append(
                f'Both series patch by patch (applies, builds for arm64 with the Rust '
                f'and the C choice and for x86_64 with Rust, CLIPPY=1, checkpatch '
                f'--strict, rustfmt): {len(p_ok)} of {len(p_all)} checks pass.')
        if debug:
            tests.append(f'The same on a debug kernel (lockdep, KASAN, UBSAN, '
                         f'panic_on_warn): {summary(debug)}.')
        f['RUST_TESTS'] = ' '.join(tests)
    if check and gate:
        g = ktap.parse(gate)
        g_pass = [r for r in g if r[0] == 'pass']
        g_known = [r for r in g if r[0] == 'skip' and r[2].startswith('known')]
        g_skip = [r for r in g if r[0] == 'skip' and r[2].startswith('skip on both')]
        g_bad = [r for r in g if r[0] == 'fail']
        st = 'passes' if any(r[1] == f'gate:kvm/{ARCH}/vcpu_suspend' for r in g_pass) \
            else 'does NOT pass'
        c_ok, c_all = cases(check, f'kvm/{ARCH}/vcpu_suspend@c')
        f['FIXES_TESTS'] = ' '.join([
            f'The new selftest {st} on the unmodified kernel, and {c_ok} of {c_all} '
            f'of its cases pass with the series.',
            f'The KVM selftests on both kernels: {len(g_pass)} pass on both, '
            f'{len(g_known)} fail the same way on both (timing margins and CPU '
            f'features of TCG), {len(g_skip)} skip on both, {len(g_bad)} differ.',
        ])
        s_ok, s_bad = results(check, 'stress')
        if s_ok or s_bad:
            f['FIXES_TESTS'] += (
                f' A stress of 8 vCPUs suspended and woken by KVM_IRQ_LINE while '
                f'signals reschedule their threads, on both suspend paths: '
                f'{len(s_ok)} of {len(s_ok) + len(s_bad)} runs lose no wakeup.')
    if mutants:
        total = ktap.parse(mutants)
        killed = [r for r in total if r[0] == 'pass' and r[2].startswith('killed by')]
        others = [r[1].removeprefix('mutant-') for r in total
                  if r[0] == 'pass' and r not in killed]
        failed = [r for r in total if r[0] == 'fail']
        text = (f'{len(killed)} of {len(total)} deliberately broken variants of '
                f'suspend.rs fail the selftests')
        if others:
            text += (f'; the {len(others)} others ({", ".join(others)}) are '
                     f'equivalent to the original, for the reasons the project '
                     f'records with each')
        if failed:
            text += f'; {len(failed)} survive unexplained'
        f['MUTANTS'] = text + '.'
    leads = lines(logs, 'leads.ktap')
    if leads:
        f['LEADS'] = reproduced(ktap.parse(leads))
    stable = lines(logs, 'stable.ktap')
    if stable:
        st = ktap.parse(stable)
        ours = [x for x in st if not x[1].startswith('stable-6.12:reproducer:')]
        ours_ok = [x for x in ours if x[0] != 'fail']
        f['STABLE'] = (f'on the backport, {len(ours_ok)} of {len(ours)} results pass '
                       f'(the selftest in VHE and in protected mode, and clean kernel '
                       f'logs); on the unmodified 6.12.y, '
                       + reproduced([x for x in st if x not in ours]))
    base = pins.kernel_base((os.environ.get('COVER_BASE_PKG') or 'linux-source-7.3')
                            .removeprefix('linux-source-'))
    if base:
        f['BASE'] = base
    protected = lines(logs, 'protected.ktap')
    if protected:
        p_all = [x for x in ktap.parse(protected) if not x[1].startswith('protected:kunit:')]
        p_ok = [x for x in p_all if x[0] != 'fail']
        case = [x for x in p_all if x[1].endswith('.line_raised_while_running')]
        f['PROTECTED'] = (f'{len(p_ok)} of {len(p_all)} results pass, the suspend selftests and '
                          f'the stress on both suspend paths included, and '
                          f'line_raised_while_running passes in '
                          f'{sum(1 for x in case if x[0] == "pass")} of {len(case)} runs.')
    if widened:
        notes = [l[2:] for l in widened if l.startswith('# without-fix') or
                 l.startswith('# with-fix')]
        f['WIDENED'] = ' '.join(notes) if notes else None
    return f


def reproduced(found):
    """What reproducer.py's results say: each case that failed on pristine."""
    shown = [x[1].rsplit(':', 1)[-1] for x in found if x[0] == 'pass']
    other = [f'{x[1].rsplit(":", 1)[-1]} ({x[2]})' for x in found if x[0] != 'pass']
    text = f'{len(shown)} of {len(found)} shown ({", ".join(shown) or "none"})'
    return text + (f'; not shown: {"; ".join(other)}.' if other else '.')


MISSING = {
    'C_CASES': 'N',
    'RUST_TESTS': '(make check gives the figures)',
    'FIXES_TESTS': '(make check gives the figures)',
    'MUTANTS': '(make mutants gives the figures)',
    'WIDENED': '(make stress-widened gives the figures)',
    'LEADS': '(make leads gives the figures)',
    'STABLE': '(make stable gives the figures)',
    'BASE': '(the pinned base: tools/setup/pins)',
    'PROTECTED': '(make protected gives the figures)',
}


def main():
    if len(sys.argv) != 4:
        sys.exit('usage: cover-letter.py TEMPLATE LOGS COVER')
    template, logs, cover = sys.argv[1:]
    try:
        with open(template, encoding='utf-8') as t:
            subject, _, blurb = t.read().partition('\n')
        with open(cover, encoding='utf-8') as c:
            text = c.read()
    except OSError as e:
        sys.exit(f'cover-letter: error: {e}')
    fig = figures(logs)

    def fill(m):
        value = fig.get(m.group(1)) or MISSING.get(m.group(1))
        if value is None:
            sys.exit(f'cover-letter: error: unknown placeholder @{m.group(1)}@')
        return value

    out = []
    for line in blurb.strip('\n').split('\n'):
        filled = re.sub(r'@([A-Z_]+)@', fill, line)
        if filled != line and len(filled) > 72:
            indent = re.match(r'\s*', line).group(0)
            filled = '\n'.join(textwrap.wrap(filled, 72, subsequent_indent=indent))
        out.append(filled)
    for marker in ('*** SUBJECT HERE ***', '*** BLURB HERE ***'):
        if marker not in text:
            sys.exit(f'cover-letter: error: {cover} has no "{marker}"')
    text = text.replace('*** SUBJECT HERE ***', subject.strip())
    text = text.replace('*** BLURB HERE ***', '\n'.join(out))
    with open(cover, 'w', encoding='utf-8') as c:
        c.write(text)


if __name__ == '__main__':
    main()
