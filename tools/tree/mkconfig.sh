#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# allnoconfig + the committed fragments, then olddefconfig; fail loudly if
# any requested option did not end up as requested.
#   tools/tree/mkconfig.sh SRC OBJ FRAGMENT...
set -euo pipefail
proj=$(cd "$(dirname "$0")/../.." && pwd)
src=$1 obj=$2
shift 2
km() { "$proj/tools/tree/kmake.sh" "$src" "$obj" -s "$@"; }

mkdir -p "$obj"
cat "$@" >"$obj/fragment.config"
KCONFIG_ALLCONFIG="$(cd "$obj" && pwd)/fragment.config" km allnoconfig >/dev/null
km olddefconfig >/dev/null

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
done < <(cat "$@")
[ $bad = 0 ] || { echo "mkconfig: error: config fragment not honoured (see above)" >&2; exit 1; }
