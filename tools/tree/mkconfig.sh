#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# allnoconfig + the committed fragments, then olddefconfig; fail loudly if
# any requested option did not end up as requested (the last fragment that
# sets an option wins).
#   tools/tree/mkconfig.sh SRC OBJ FRAGMENT...
set -euo pipefail
proj=$(cd "$(dirname "$0")/../.." && pwd)
src=$1 obj=$2
shift 2
km() { "$proj/tools/tree/kmake.sh" "$src" "$obj" -s "$@"; }

mkdir -p "$obj"
cat "$@" >"$obj/fragment.config"
# Kconfig warns of each option a later fragment overrides: meant, not shown.
KCONFIG_ALLCONFIG="$(cd "$obj" && pwd)/fragment.config" km allnoconfig 2>&1 >/dev/null |
	{ grep -v 'warning: override: reassigning to symbol' || true; } >&2
km olddefconfig >/dev/null

# A later fragment overrides an earlier one, as in Kconfig: only the last
# line of each option is checked.
bad=0
while IFS= read -r want; do
	case "$want" in
	CONFIG_*=*) name=${want%%=*} ;;
	'# CONFIG_'*' is not set') name=${want#\# }; name=${name%% *} ;;
	*) continue ;;
	esac
	got=$(grep -E "^($name=|# $name is not set)" "$obj/.config" || echo "$name: absent")
	if [ "$got" != "$want" ]; then
		# "not set" is also satisfied by an option that does not exist.
		case "$want" in '# '*) [ "$got" = "$name: absent" ] && continue ;; esac
		echo "mkconfig: wanted '$want', got '$got'" >&2
		bad=1
	fi
done < <(cat "$@" | sed -nE 's/^(# )?(CONFIG_[A-Za-z0-9_]+)(=| is not set).*/\2 &/p' |
	awk '{ last[$1] = NR; line[NR] = $0 } END { for (n in last) print last[n], line[last[n]] }' |
	sort -n | cut -d' ' -f3-)
[ $bad = 0 ] || { echo "mkconfig: error: config fragment not honoured (see above)" >&2; exit 1; }
