#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Host-side checks of the built kernel and the prepared tree, as KTAP result
# lines ("ok NAME" / "not ok NAME # why") for tools/report.py.
#   tools/checks/host-checks.sh SRC OBJ
set -uo pipefail
proj=$(cd "$(dirname "$0")/../.." && pwd)
src=$1 obj=$2
# shellcheck source=tools/checks/ktap.sh
. "$(cd "$(dirname "$0")" && pwd)/ktap.sh"

# The suspend entry points in vmlinux are the Rust ones from suspend.o.
entry_points="kvm_arm_vcpu_suspend kvm_arm_vcpu_handle_suspend"
for sym in $entry_points; do
	in_rust=$(llvm-nm-19 --defined-only "$obj/arch/arm64/kvm/suspend.o" 2>/dev/null | grep -c " T $sym$")
	in_vmlinux=$(llvm-nm-19 --defined-only "$obj/vmlinux" 2>/dev/null | grep -c " T $sym$")
	in_arm=$(llvm-nm-19 --defined-only "$obj/arch/arm64/kvm/arm.o" 2>/dev/null | grep -c " [tT] $sym$")
	[ "$in_rust" = 1 ] && [ "$in_vmlinux" = 1 ] && [ "$in_arm" = 0 ]
	result $? "vmlinux-$sym-is-rust" "suspend.o:$in_rust vmlinux:$in_vmlinux arm.o:$in_arm definitions"
done

# The PSCI entry point in vmlinux is the Rust one from psci_rust.o; psci.c's
# is there only as the A/B switch's kvm_psci_call_c.
in_rust=$(llvm-nm-19 --defined-only "$obj/arch/arm64/kvm/psci_rust.o" 2>/dev/null | grep -c " T kvm_psci_call$")
in_vmlinux=$(llvm-nm-19 --defined-only "$obj/vmlinux" 2>/dev/null | grep -c " T kvm_psci_call$")
in_c=$(llvm-nm-19 --defined-only "$obj/arch/arm64/kvm/psci.o" 2>/dev/null | grep -c " [tT] kvm_psci_call$")
[ "$in_rust" = 1 ] && [ "$in_vmlinux" = 1 ] && [ "$in_c" = 0 ]
result $? "vmlinux-kvm_psci_call-is-rust" "psci_rust.o:$in_rust vmlinux:$in_vmlinux psci.o:$in_c definitions"

# arm.c keeps its C suspend (the default choice) only where it is compiled
# out with the Rust one: every C body of what suspend.rs replaces, and the
# WAKEUP exit, sit inside #ifndef CONFIG_KVM_ARM64_SUSPEND_RUST.
bodies=$(awk '
	/^#ifndef CONFIG_KVM_ARM64_SUSPEND_RUST$/ { inside = 1; next }
	/^#endif/ { inside = 0 }
	!inside && (/^[a-z].*[ *](kvm_arm_vcpu_suspend|kvm_arm_vcpu_suspended|kvm_vcpu_suspend|kvm_arm_vcpu_handle_suspend)\(struct kvm_vcpu \*vcpu\)$/ ||
		    /KVM_SYSTEM_EVENT_WAKEUP/) { print FNR ": " $0 }
' "$src/arch/arm64/kvm/arm.c")
[ -z "$bodies" ]
result $? "arm.c-c-suspend-only-without-rust-choice" "$(echo "$bodies" | tr '\n' ' ')"

# The prepared tree is exactly pristine + tools/tree/series: no hand edits.
dirty=$(git -C "$src" status --porcelain --untracked-files=no | head -5)
[ -z "$dirty" ]
result $? "prepared-tree-has-no-hand-edits" "$(echo "$dirty" | tr '\n' ' ')"

# suspend.rs and psci_rust.rs, the logic, have no unsafe code: all of it is
# in kernel::kvm.
for f in suspend.rs psci_rust.rs; do
	unsafe_lines=$(grep -n '\bunsafe\b' "$proj/rust/arm64/$f" | grep -v '^\s*//' | head -3)
	[ -z "$unsafe_lines" ]
	result $? "$f-has-no-unsafe" "$unsafe_lines"
done

# Every unsafe block in kernel::kvm has a SAFETY comment right above it.
missing=$(awk '/^[[:space:]]*\/\// { if (/SAFETY:/) safety = 1; next }
	/unsafe \{/ && !safety { print FILENAME ":" FNR }
	{ safety = 0 }' "$proj/rust/kernel/kvm.rs" "$proj"/rust/kernel/kvm/*.rs)
[ -z "$missing" ]
result $? "kvm.rs-unsafe-blocks-have-safety-comments" "$missing"

# No panic machinery reachable from the Rust objects.
for o in suspend.o psci_rust.o; do
	panics=$(llvm-nm-19 --undefined-only "$obj/arch/arm64/kvm/$o" | grep -iE 'panic|unwrap|expect_failed' | head -3)
	[ -z "$panics" ]
	result $? "$o-references-no-panic" "$panics"
done

# The boots run on the pinned QEMU: 7.2's TCG leaked the guest's TPIDR_EL0
# into host threads (debug-kernel.md), so an older QEMU must not come back
# unnoticed.
qemu_pin=$(awk '$1 == "apt" && $2 == "qemu-system-arm" { print $3 }' "$proj/tools/setup/pins")
qemu_now=$(qemu-system-aarch64 --version 2>/dev/null | head -1)
[ -n "$qemu_pin" ] && [[ "$qemu_now" == *"(Debian $qemu_pin)"* ]]
result $? "qemu-is-the-pinned-version" "pinned $qemu_pin, running: $qemu_now"
