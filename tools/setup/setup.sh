#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Install everything the project needs, idempotently, from Debian's archive
# and crates.io only, each outside input at the exact version of
# tools/setup/pins. A pinned version the archive no longer serves, or a
# kernel tarball whose sha256 differs from the recorded one, stops the
# set-up at once with a message; nothing falls back to another version.
#
# Usage: tools/setup/setup.sh             (as root) install what is missing
#        tools/setup/setup.sh --outdated  list the newer versions the archive
#                                         offers for each pin (make pins-outdated)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/setup/versions.env
. "$here/versions.env"
PINS=${PINS:-$here/pins}

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# Host utilities whose version does not enter a result: installed when
# missing, at the version of the machine's suites.
base_pkgs=(flex bison bc libelf-dev libssl-dev cpio xz-utils make perl python3 rsync
	python3-sphinx python3-yaml python3-matplotlib)

# The extra suites are known to apt with a priority below that of the
# machine's own (500), so that nothing is installed or upgraded from them
# unless a pin names the suite.
SOURCES=/etc/apt/sources.list.d/vcpu-suspend.sources
PREFS=/etc/apt/preferences.d/vcpu-suspend

# pins KIND: the fields of the pins of that kind, one per line.
pins() {
	[ -r "$PINS" ] || die "$PINS missing"
	awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$PINS"
}

# The versions of PACKAGE the archive serves, on one line.
served() {
	apt-cache madison "$1" 2>/dev/null |
		awk -F'|' '{ gsub(/ /, "", $2) } !seen[$2]++ { printf "%s ", $2 }'
}

# Fail unless the archive serves PACKAGE at VERSION.
require_served() {
	local have
	have=$(served "$1")
	[[ " $have " == *" $2 "* ]] && return 0
	die "$1 is pinned to $2 in $PINS, but the archive serves ${have:-no version of it}" \
		"(change the pin on purpose: make pins-outdated lists what is newer)"
}

installed_version() {
	{ dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null || true; } |
		awk '$3 == "installed" { print $4 }'
}

apt_updated=0
apt_update() {
	[ $apt_updated = 1 ] && return 0
	log "apt-get update"
	apt-get update -qq || die "apt-get update failed"
	apt_updated=1
}

# The suites the pins name, as an apt source and a low pin priority.
apt_suites() {
	local suites want_src want_prefs s
	suites=$(pins apt | awk 'NF >= 3 { print $3 }' | sort -u | tr '\n' ' ')
	suites=${suites% }
	[ -n "$suites" ] || return 0
	want_src="Types: deb
URIs: http://deb.debian.org/debian
Suites: $suites
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
	want_prefs=""
	for s in $suites; do
		want_prefs+="Package: *
Pin: release n=$s
Pin-Priority: 100

"
	done
	if [ "$(cat "$SOURCES" 2>/dev/null)" != "$want_src" ] ||
	   [ "$(cat "$PREFS" 2>/dev/null)" != "$(printf '%s' "$want_prefs")" ]; then
		log "adding the suites $suites (apt pin priority 100)"
		printf '%s\n' "$want_src" >"$SOURCES"
		printf '%s' "$want_prefs" >"$PREFS"
		apt_updated=0
		apt_update
	fi
}

install_apt_pins() {
	local pkg ver suite cur
	local -a plain=() suited=()
	while read -r pkg ver suite; do
		cur=$(installed_version "$pkg")
		[ "$cur" = "$ver" ] && continue
		apt_update
		require_served "$pkg" "$ver"
		log "$pkg: ${cur:-not installed} -> $ver${suite:+ (from $suite)}"
		if [ -n "$suite" ]; then
			suited+=("$suite:$pkg=$ver")
		else
			plain+=("$pkg=$ver")
		fi
	done < <(pins apt)
	if [ ${#plain[@]} -gt 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			--allow-downgrades "${plain[@]}" >/dev/null || die "apt-get install ${plain[*]} failed"
	fi
	# One transaction per suite, so that the pinned package's dependencies
	# that only that suite has come from it too.
	for suite in $(printf '%s\n' "${suited[@]}" | cut -d: -f1 | sort -u); do
		local -a these=()
		for s in "${suited[@]}"; do
			[ "${s%%:*}" = "$suite" ] && these+=("${s#*:}")
		done
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			--allow-downgrades -t "$suite" "${these[@]}" >/dev/null ||
			die "apt-get install -t $suite ${these[*]} failed"
	done
	# What apt chose for a pin is what the pin says, or the set-up stops.
	while read -r pkg ver suite; do
		cur=$(installed_version "$pkg")
		[ "$cur" = "$ver" ] || die "$pkg is $cur after the install, not the pinned $ver"
	done < <(pins apt)
}

install_base() {
	local p
	local -a missing=()
	for p in "${base_pkgs[@]}"; do
		[ -n "$(installed_version "$p")" ] || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	apt_update
	log "apt-get install ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
}

check_sha256() {
	local file want got
	while read -r file want; do
		[ -r "$file" ] || die "$file missing after the install of its package"
		got=$(sha256sum "$file" | cut -d' ' -f1)
		[ "$got" = "$want" ] ||
			die "$file has sha256 $got, $PINS records $want"
	done < <(pins sha256)
}

# busybox for the initramfs: the static arm64 binary, unpacked, not installed.
unpack_pins() {
	local pkg ver tmp
	while read -r pkg ver; do
		[ "$(cat "$BUSYBOX_DIR/.version" 2>/dev/null)" = "$pkg=$ver" ] && continue
		apt_update
		require_served "$pkg" "$ver"
		log "unpacking $pkg $ver into $BUSYBOX_DIR"
		tmp=$(mktemp -d)
		chmod 755 "$tmp"
		(cd "$tmp" && apt-get download -qq "$pkg=$ver") || die "apt-get download $pkg=$ver failed"
		rm -rf "$BUSYBOX_DIR"
		mkdir -p "$BUSYBOX_DIR"
		dpkg -x "$tmp"/*.deb "$BUSYBOX_DIR"
		rm -rf "$tmp"
		echo "$pkg=$ver" >"$BUSYBOX_DIR/.version"
	done < <(pins unpack)
	[ -x "$BUSYBOX_DIR/bin/busybox" ] || die "$BUSYBOX_DIR/bin/busybox missing"
}

install_crates() {
	local name ver bin
	while read -r name ver; do
		bin="$CARGO_HOME_DIR/bin/${name%-cli}"
		[ "$("$bin" --version 2>/dev/null | awk '{ print $2 }')" = "$ver" ] && continue
		log "cargo install $name $ver"
		CARGO_HOME="$CARGO_HOME_DIR" /usr/bin/cargo install --locked --quiet \
			--root "$CARGO_HOME_DIR" "$name" --version "=$ver" ||
			die "cargo install $name $ver failed"
	done < <(pins crate)
}

# --outdated: each pin against the newest version its suite serves.
outdated() {
	local pkg ver suite newest n=0 policy
	apt_suites
	apt_update
	while read -r pkg ver suite; do
		policy=$(served "$pkg")
		newest=$(for v in $policy; do echo "$v"; done |
			while read -r v; do
				if dpkg --compare-versions "$v" gt "$ver"; then echo "$v"; fi
			done | tr '\n' ' ')
		if [ -n "$newest" ]; then
			printf '%-28s pinned %-32s newer: %s\n' "$pkg" "$ver" "$newest"
			n=$((n + 1))
		else
			printf '%-28s pinned %-32s newest served\n' "$pkg" "$ver"
		fi
	done < <(pins apt; pins unpack)
	echo "pins-outdated: $n of the pins have newer versions in the archive"
}

# ccache runs in depend mode (tools/tree/kmake.sh), which in the pinned
# ccache 4.7.5 does not see a file that an assembler source embeds with
# .incbin (arch/arm64/kernel/vdso-wrap.S: the vDSO; usr/initramfs_data.S):
# such an object is taken from the cache by its source and headers alone.
# The embedded files come from the pinned trees (the series changes
# neither the vDSO nor usr/), so a change of the pins empties the cache.
ccache_for_pins() {
	local dir=${CCACHE_DIR:-$CCACHE_DIR_DEFAULT} want
	want=$(sha256sum <"$here/pins" | cut -d' ' -f1)
	if [ -f "$dir/pins.sha256" ] && [ "$(cat "$dir/pins.sha256")" != "$want" ]; then
		log "the pins changed since ccache was filled: emptying $dir"
		CCACHE_DIR=$dir ccache -C >/dev/null
	fi
	mkdir -p "$dir"
	echo "$want" >"$dir/pins.sha256"
}

[ "$(id -u)" = 0 ] || die "must run as root (apt-get install)"
if [[ " $(dpkg --print-foreign-architectures | tr '\n' ' ') " != *" arm64 "* ]]; then
	log "adding the arm64 dpkg architecture"
	dpkg --add-architecture arm64
	apt_updated=0
fi
if [ "${1:-}" = --outdated ]; then
	outdated
	exit 0
fi
[ $# = 0 ] || die "usage: $0 [--outdated]"

apt_suites
install_apt_pins
install_base
check_sha256
unpack_pins
install_crates
ccache_for_pins

log "ok: $(/usr/bin/rustc --version), bindgen $("$CARGO_HOME_DIR/bin/bindgen" --version | cut -d' ' -f2), $(qemu-system-aarch64 --version | head -1)"
