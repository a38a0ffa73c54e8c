#!/usr/bin/env bash
# Start pyfaas with the example functions: bash scripts/up.sh [pyfaas up options...]
#
# On a fresh Debian machine with Python 3.11 it creates .venv (if missing), installs pyfaas into it with the
# locked versions (pip install -c requirements.lock -e .), then runs `pyfaas up` in examples/, so the platform
# state lives in examples/.pyfaas. Extra arguments go to `pyfaas up`, e.g. `bash scripts/up.sh --detach`
# (stop it with `.venv/bin/pyfaas down --state-dir examples/.pyfaas`) or `--port 0`; PYFAAS_PORT sets the
# gateway port too. Re-runs skip the install when pyproject.toml and requirements.lock are unchanged.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"

die() { printf 'up.sh: %s\n' "$*" >&2; exit 2; }
is_root() { [ "$(id -u)" = 0 ]; }
have_apt() { command -v apt-get >/dev/null && command -v dpkg-query >/dev/null; }

ensure_venv() {
    [ -x "$VENV/bin/python" ] && return 0
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
        || die "$PYTHON is missing or older than 3.11 (set PYTHON=/path/to/python3.11)"
    echo "up.sh: creating $VENV" >&2
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        # Debian ships venv's ensurepip separately.
        if is_root && have_apt; then
            DEBIAN_FRONTEND=noninteractive apt-get update -qq \
                && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
                || die "could not install python3-venv"
            "$PYTHON" -m venv "$VENV" || die "$PYTHON -m venv failed"
        else
            die "$PYTHON -m venv failed: install python3-venv (apt-get install python3-venv)"
        fi
    fi
}

ensure_pyfaas() {
    local stamp="$VENV/.pyfaas-up" want
    want="$(cat "$ROOT/pyproject.toml" "$ROOT/requirements.lock" | sha256sum | cut -d' ' -f1)"
    # scripts/test.sh keeps the same stamp in .pyfaas-deps after installing pyfaas with its extras.
    if [ -x "$VENV/bin/pyfaas" ] && { [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] \
        || [ "$(cat "$VENV/.pyfaas-deps" 2>/dev/null)" = "$want" ]; }; then
        return 0
    fi
    echo "up.sh: installing pyfaas into $VENV (log: .venv/pip-up.log)" >&2
    if ! (cd "$ROOT" && "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        -c requirements.lock -e . >"$VENV/pip-up.log" 2>&1); then
        tail -30 "$VENV/pip-up.log" >&2
        die "pip install failed (full log: $VENV/pip-up.log)"
    fi
    echo "$want" >"$stamp"
}

ensure_venv
ensure_pyfaas
cd "$ROOT/examples"
exec "$VENV/bin/pyfaas" up "$@"
