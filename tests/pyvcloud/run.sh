#!/usr/bin/env bash
# Run tests/pyvcloud/check.py -- the real vCD client library pyvcloud against a vCD endpoint
# (the simulator, in tests/tests/vcdsim_pyvcloud.rs) -- with pyvcloud from PyPI, installed
# into a virtual environment this script makes and caches under target/.
#
# Usage: tests/pyvcloud/run.sh [check.py arguments...]     (see check.py --help)
#
# Environment: ODT_PYVCLOUD_VENV overrides the venv folder (default target/pyvcloud-venv).
# The venv is rebuilt when requirements.txt changes.
#
# Exit status: check.py's (0 ok, 1 a check failed); 3 when pip cannot reach the package
# index (callers may skip); 2 usage; 1 any other set-up failure.
set -euo pipefail

PROG=$(basename "$0")
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV=${ODT_PYVCLOUD_VENV:-"$ROOT/target/pyvcloud-venv"}
REQ="$HERE/requirements.txt"
STAMP="$VENV/.odt-requirements"

die() { echo "$PROG: error: $*" >&2; exit 1; }

command -v python3 >/dev/null 2>&1 || die "python3 is not installed (apt-get install python3 python3-venv)"

if ! cmp -s "$REQ" "$STAMP" 2>/dev/null || [[ ! -x "$VENV/bin/python" ]]; then
    mkdir -p "$(dirname "$VENV")"
    rm -rf "$VENV"
    python3 -m venv "$VENV" >&2 || die "python3 -m venv failed (apt-get install python3-venv)"
    log=$(mktemp)
    if ! "$VENV/bin/pip" install --disable-pip-version-check --no-input -r "$REQ" >"$log" 2>&1; then
        tail -20 "$log" >&2
        if grep -Eq 'NewConnectionError|Max retries exceeded|Temporary failure in name resolution|Name or service not known|Network is unreachable|ConnectTimeoutError|ProxyError|from versions: none' "$log"; then
            rm -f "$log"
            rm -rf "$VENV"
            echo "$PROG: cannot reach the Python package index to install pyvcloud" >&2
            exit 3
        fi
        rm -f "$log"
        rm -rf "$VENV"
        die "pip install -r $REQ failed"
    fi
    rm -f "$log"
    cp "$REQ" "$STAMP"
fi

exec "$VENV/bin/python" "$HERE/check.py" "$@"
