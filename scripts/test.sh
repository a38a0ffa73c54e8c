#!/usr/bin/env bash
# The one test command, for humans and CI: bash scripts/test.sh [pytest args...]
#
# On a fresh Debian machine with Python 3.11 it creates .venv, installs the locked Python packages and (as root)
# the system packages the tests use, then runs ruff, ruff format --check, mypy --strict and pytest. Every check
# runs even when an earlier one fails, so one run shows everything; the exit code is non-zero if any failed,
# and pytest collecting no test at all counts as a failure. Re-runs skip installs that are already done.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
# golang-go, nodejs (and npm) are the toolchains local mode builds the Go and Node.js templates with.
# docker-registry is the OCI registry pyfaas push/pull are tested against (tests/integration/build).
SYSTEM_PACKAGES=(prometheus prometheus-alertmanager chromium wrk golang-go nodejs docker-registry bubblewrap)
# NodeSource's nodejs bundles npm (and conflicts with Debian's npm package): ask for npm only when absent.
command -v npm >/dev/null || SYSTEM_PACKAGES+=(npm)
# What a throwaway Kubernetes needs (tests/support/kube_cluster.py), installed when PYFAAS_KUBE_ASSETS is set;
# debootstrap builds the python base image of function pods (tests/support/kube_image.py).
CLUSTER_PACKAGES=(etcd-server containerd runc containernetworking-plugins iptables conntrack socat iproute2
    openssl xz-utils debootstrap debian-archive-keyring)

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 2; }
is_root() { [ "$(id -u)" = 0 ]; }
have_apt() { command -v apt-get >/dev/null && command -v dpkg-query >/dev/null; }

apt_install() {
    step "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing_packages() {
    local pkg
    for pkg in "$@"; do
        if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]; then
            printf '%s ' "$pkg"
        fi
    done
}

ensure_system_packages() {
    have_apt || return 0
    local missing
    missing="$(missing_packages "${SYSTEM_PACKAGES[@]}")"
    [ -n "$missing" ] || return 0
    if is_root; then
        # shellcheck disable=SC2086  # word splitting of the package list is intended
        apt_install $missing || die "apt-get could not install: $missing"
    else
        echo "test.sh: warning: not root, so not installing system packages: $missing(tests that need them skip)" >&2
    fi
}

# Debian would start the packages' own etcd (port 2379) and containerd on install: a policy-rc.d denies that
# for the duration of the install (only when none exists already).
ensure_cluster_packages() {
    [ -n "${PYFAAS_KUBE_ASSETS:-}" ] && have_apt || return 0
    local missing made_policy=""
    missing="$(missing_packages "${CLUSTER_PACKAGES[@]}")"
    [ -n "$missing" ] || return 0
    if ! is_root; then
        echo "test.sh: warning: not root, so not installing the cluster's packages: $missing" >&2
        return 0
    fi
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    apt_install $missing
    local status=$?
    [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
    [ "$status" = 0 ] || die "apt-get could not install the cluster's packages: $missing"
}

ensure_venv() {
    [ -x "$VENV/bin/python" ] && return 0
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
        || die "$PYTHON is missing or older than 3.11 (set PYTHON=/path/to/python3.11)"
    step "creating $VENV"
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        # Debian ships venv's ensurepip separately.
        if is_root && have_apt; then
            apt_install python3-venv || die "could not install python3-venv"
            "$PYTHON" -m venv "$VENV" || die "python3 -m venv failed"
        else
            die "python3 -m venv failed; install python3-venv"
        fi
    fi
}

ensure_python_packages() {
    local stamp="$VENV/.pyfaas-deps" want
    want="$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/pytest" ]; then
        return 0
    fi
    step "installing Python packages (requirements.lock; log in .venv/pip-install.log)"
    if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c requirements.lock \
        -e '.[infra,dev]' >"$VENV/pip-install.log" 2>&1; then
        grep -v '^WARNING: Location' "$VENV/pip-install.log" | tail -30 >&2
        die "pip install failed (full log: $VENV/pip-install.log)"
    fi
    echo "$want" >"$stamp"
}

ensure_venv
ensure_python_packages
ensure_system_packages
ensure_cluster_packages

export VIRTUAL_ENV="$VENV"
export PATH="$VENV/bin:$PATH"

# The cluster tests' python base image (a debootstrapped Debian root filesystem, cached in ~/.cache/pyfaas/kube):
# built here, once, so that its 1-2 minutes never count against a test's timeout.
if [ -n "${PYFAAS_KUBE_ASSETS:-}" ] && is_root; then
    step "python base image for the cluster tests (cached after the first run)"
    python -c 'from tests.support.kube_image import python_base_layer; print(python_base_layer().path)' \
        || echo "test.sh: warning: no python base image; the cluster tests that run pods will fail" >&2
fi

failed=()
run() {
    local name="$1"
    shift
    step "$name"
    "$@" || failed+=("$name")
}

run "ruff check" ruff check .
run "ruff format --check" ruff format --check .
run "mypy --strict pyfaas" mypy --strict pyfaas

# Two pytest-xdist workers: the cluster tests are one scheduling unit (one worker, one cluster: a machine
# runs one kit cluster at a time); the other worker runs the rest beside them. PYFAAS_TEST_WORKERS=0: one
# process. The fuzz suite runs on its own in one process: schemathesis's items share node ids, which xdist
# cannot tell apart (tests/support/kube_live.py refuses them under xdist).
WORKERS="${PYFAAS_TEST_WORKERS:-2}"
if [ "$#" -eq 0 ] && [ "$WORKERS" != 0 ]; then
    step "pytest -n $WORKERS (all but tests/reliability/fuzz)"
    pytest -n "$WORKERS" --dist loadgroup --ignore=tests/reliability/fuzz
    status=$?
    step "pytest tests/reliability/fuzz (one process)"
    pytest tests/reliability/fuzz
    fuzz=$?
    [ "$status" != 0 ] && [ "$status" != 5 ] || status=$fuzz
else
    step "pytest -n $WORKERS $*"
    pytest -n "$WORKERS" --dist loadgroup "$@"
    status=$?
fi
if [ "$status" = 5 ]; then
    echo "test.sh: pytest collected no tests" >&2
    failed+=("pytest (no tests)")
elif [ "$status" != 0 ]; then
    failed+=("pytest (exit $status)")
fi

if [ "${#failed[@]}" -gt 0 ]; then
    printf '\ntest.sh: FAILED: %s\n' "${failed[*]}" >&2
    exit 1
fi
printf '\ntest.sh: all checks passed\n'
