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

# suspend.rs, the logic, has no unsafe code: all of it is in kernel::kvm.
unsafe_lines=$(grep -n '\bunsafe\b' "$proj/rust/arm64/suspend.rs" | grep -v '^\s*//' | head -3)
[ -z "$unsafe_lines" ]
result $? "suspend.rs-has-no-unsafe" "$unsafe_lines"

# Every unsafe block in kernel::kvm has a SAFETY comment right above it.
missing=$(awk '/^[[:space:]]*\/\// { if (/SAFETY:/) safety = 1; next }
	/unsafe \{/ && !safety { print FILENAME ":" FNR }
	{ safety = 0 }' "$proj/rust/kernel/kvm.rs")
[ -z "$missing" ]
result $? "kvm.rs-unsafe-blocks-have-safety-comments" "$missing"

# No panic machinery reachable from the suspend object.
panics=$(llvm-nm-19 --undefined-only "$obj/arch/arm64/kvm/suspend.o" | grep -iE 'panic|unwrap|expect_failed' | head -3)
[ -z "$panics" ]
result $? "suspend.o-references-no-panic" "$panics"

# The boots run on the pinned QEMU: 7.2's TCG leaked the guest's TPIDR_EL0
# into host threads (debug-kernel.md), so an older QEMU must not come back
# unnoticed.
qemu_pin=$(awk '$1 == "apt" && $2 == "qemu-system-arm" { print $3 }' "$proj/tools/setup/pins")
qemu_now=$(qemu-system-aarch64 --version 2>/dev/null | head -1)
[ -n "$qemu_pin" ] && [[ "$qemu_now" == *"(Debian $qemu_pin)"* ]]
result $? "qemu-is-the-pinned-version" "pinned $qemu_pin, running: $qemu_now"
