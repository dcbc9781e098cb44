# SPDX-License-Identifier: GPL-2.0
# Sourced by the host-side check scripts: numbered KTAP result lines that
# tools/report/report.py reads, written by the one KTAP module (tools/harness/ktap.py).
#   result STATUS NAME [WHY]   STATUS 0 is "ok", anything else "not ok"
ktap_n=0
ktap_tools=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
result() {
	ktap_n=$((ktap_n + 1))
	PYTHONPATH=$ktap_tools python3 -m harness.ktap result "$ktap_n" "$1" "$2" "${3:-}"
}
