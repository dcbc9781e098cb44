# SPDX-License-Identifier: GPL-2.0
# Sourced by the host-side check scripts: numbered KTAP result lines that
# tools/report.py reads.
#   result STATUS NAME [WHY]   STATUS 0 is "ok", anything else "not ok"
ktap_n=0
result() {
	ktap_n=$((ktap_n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $ktap_n $2"
	else
		echo "not ok $ktap_n $2 # ${3:-}"
	fi
}
