"""Render the Prometheus and AlertManager configurations of ``alerts/`` for one deployment. Pure: no I/O.

The files in ``alerts/`` are ``string.Template`` texts whose placeholders are only what differs between
local mode (loopback addresses, 1 s intervals) and cluster mode (Service names, a few seconds): addresses,
the rule file's path, the basic-auth file and the timings. Both the local launcher
(``pyfaas.cli.local.monitoring``) and the Pulumi program (``infra``, which may import only ``pyfaas.core``)
read the template text themselves and call the renderers here, so the two modes cannot drift apart.

Every value is substituted as a double-quoted YAML scalar (non-printable and non-ASCII characters escaped),
so an address or a path can never inject configuration. Durations are written as whole seconds (``5s``) or
milliseconds (``500ms``), which Prometheus and AlertManager both parse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from string import Template

__all__ = [
    "ALERTMANAGER_BINARIES",
    "ALERTMANAGER_FILE",
    "CLUSTER_TIMINGS",
    "FALLBACK_NOTE",
    "LOCAL_TIMINGS",
    "PROMETHEUS_BINARIES",
    "PROMETHEUS_FILE",
    "RULES_FILE",
    "AlertmanagerValues",
    "PrometheusValues",
    "Timings",
    "alertmanager_args",
    "gateway_alert_url",
    "local_idler_env",
    "local_monitoring_env",
    "prom_duration",
    "prometheus_args",
    "render_alertmanager",
    "render_prometheus",
]

PROMETHEUS_FILE = "prometheus.yml"
RULES_FILE = "rules.yml"
ALERTMANAGER_FILE = "alertmanager.yml"
PROMETHEUS_BINARIES = ("prometheus",)
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")
"""Executable names, preferred first (Debian installs AlertManager as ``prometheus-alertmanager``)."""
FALLBACK_NOTE = (
    "Prometheus/AlertManager are not installed (Debian: apt-get install prometheus prometheus-alertmanager): "
    "alert-based scaling is off; the idler falls back to target tracking on the gateway's metrics "
    "(default_scale_type=rps)."
)
"""What local mode says at start-up when the binaries are missing."""


@dataclass(frozen=True, slots=True)
class Timings:
    """Every interval of the alert path, in seconds."""

    scrape_interval: float
    """Prometheus' default scrape interval (its own metrics)."""
    gateway_scrape_interval: float
    """How often the gateway's metrics are scraped: the resolution of every rate the scaling reads."""
    evaluation_interval: float
    alert_resend_delay: float
    """Prometheus ``--rules.alert.resend-delay``: how often a firing alert is re-sent to AlertManager."""
    group_wait: float
    """AlertManager: delay of a new alert group's first notification (part of the reaction time)."""
    group_interval: float
    """AlertManager: spacing of notifications of one group when its alerts change (e.g. resolve)."""
    repeat_interval: float
    """AlertManager: a still-firing alert is re-sent this often; each repeat adds one scaling step."""


LOCAL_TIMINGS = Timings(
    scrape_interval=1.0,
    gateway_scrape_interval=1.0,
    evaluation_interval=1.0,
    alert_resend_delay=1.0,
    group_wait=0.5,
    group_interval=1.0,
    repeat_interval=3.0,
)
"""Local mode: one machine, cheap scrapes, so react within a few seconds."""

CLUSTER_TIMINGS = Timings(
    scrape_interval=15.0,
    gateway_scrape_interval=2.0,
    evaluation_interval=2.0,
    alert_resend_delay=10.0,
    group_wait=2.0,
    group_interval=5.0,
    repeat_interval=30.0,
)
"""Cluster mode: OpenFaaS's repeat interval (30 s), faster scrapes and evaluation than its 5 s / 15 s."""


def prom_duration(seconds: float) -> str:
    """A duration Prometheus and AlertManager both accept: ``3s`` or ``500ms`` (never negative)."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"duration must be finite and >= 0, got {seconds!r}")
    millis = round(seconds * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def _quoted(value: str) -> str:
    """A YAML double-quoted scalar: printable ASCII as is, everything else as a ``\\u``/``\\U`` escape."""
    out = ['"']
    for char in value:
        code = ord(char)
        if 0x20 <= code < 0x7F and char not in '"\\':
            out.append(char)
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


@dataclass(frozen=True, slots=True)
class PrometheusValues:
    gateway_metrics_target: str
    """``host:port`` of the gateway's metrics listener (OpenFaaS: 8082)."""
    alertmanager_target: str
    """``host:port`` of AlertManager."""
    rules_path: str
    """Path of ``rules.yml`` as Prometheus sees it (absolute locally, the mount path in a Pod)."""
    prometheus_target: str = "localhost:9090"
    """``host:port`` of Prometheus itself (self-scrape)."""
    timings: Timings = CLUSTER_TIMINGS


def render_prometheus(template: str, values: PrometheusValues) -> str:
    """``alerts/prometheus.yml`` with ``values`` filled in; ``KeyError`` if the template needs more."""
    t = values.timings
    return Template(template).substitute(
        scrape_interval=prom_duration(t.scrape_interval),
        gateway_scrape_interval=prom_duration(t.gateway_scrape_interval),
        evaluation_interval=prom_duration(t.evaluation_interval),
        rules_path=_quoted(values.rules_path),
        alertmanager_target=_quoted(values.alertmanager_target),
        prometheus_target=_quoted(values.prometheus_target),
        gateway_metrics_target=_quoted(values.gateway_metrics_target),
    )


@dataclass(frozen=True, slots=True)
class AlertmanagerValues:
    gateway_alert_url: str
    """Full URL of the gateway's ``/system/alert`` (see :func:`gateway_alert_url`)."""
    basic_auth_user: str | None = None
    """Gateway user name when its basic auth is on (OpenFaaS: ``admin``); None sends no credentials."""
    basic_auth_password_file: str | None = None
    """File holding the gateway password (OpenFaaS: ``/var/secrets/basic-auth-password``)."""
    timings: Timings = CLUSTER_TIMINGS


def render_alertmanager(template: str, values: AlertmanagerValues) -> str:
    """``alerts/alertmanager.yml`` with ``values`` filled in; ``ValueError`` for half-given basic auth."""
    if (values.basic_auth_user is None) != (values.basic_auth_password_file is None):
        raise ValueError("basic auth needs both a user name and a password file")
    http_config = "{}"
    if values.basic_auth_user is not None and values.basic_auth_password_file is not None:
        http_config = (
            "{basic_auth: {username: "
            + _quoted(values.basic_auth_user)
            + ", password_file: "
            + _quoted(values.basic_auth_password_file)
            + "}}"
        )
    t = values.timings
    return Template(template).substitute(
        gateway_alert_url=_quoted(values.gateway_alert_url),
        http_config=http_config,
        group_wait=prom_duration(t.group_wait),
        group_interval=prom_duration(t.group_interval),
        repeat_interval=prom_duration(t.repeat_interval),
    )


def gateway_alert_url(gateway_url: str) -> str:
    """``http://host:8080`` (with or without a trailing slash) → ``http://host:8080/system/alert``."""
    return gateway_url.rstrip("/") + "/system/alert"


def prometheus_args(config_file: str, data_dir: str, listen: str, timings: Timings) -> list[str]:
    """Command-line flags (after the binary) of a Prometheus that serves ``listen`` (``host:port``)."""
    return [
        f"--config.file={config_file}",
        f"--storage.tsdb.path={data_dir}",
        f"--web.listen-address={listen}",
        "--storage.tsdb.retention.time=1d",
        f"--rules.alert.resend-delay={prom_duration(timings.alert_resend_delay)}",
        "--log.level=warn",
    ]


def alertmanager_args(config_file: str, data_dir: str, listen: str) -> list[str]:
    """Command-line flags of a single AlertManager on ``listen`` (gossip clustering off: no 9094 port)."""
    return [
        f"--config.file={config_file}",
        f"--storage.path={data_dir}",
        f"--web.listen-address={listen}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]


# local mode: the environments ``pyfaas up`` gives its two scaling processes --------------------------------
def local_monitoring_env(
    *,
    gateway_url: str,
    gateway_metrics_address: str,
    monitoring_dir: str,
    basic_auth: bool,
    secret_mount_path: str,
    prometheus_port: int = 9090,
    alertmanager_port: int = 9093,
) -> dict[str, str]:
    """Environment of ``python -m pyfaas.cli.local.monitoring`` (Prometheus + AlertManager on loopback)."""
    return {
        "gateway_url": gateway_url,
        "gateway_metrics_address": gateway_metrics_address,
        "monitoring_dir": monitoring_dir,
        "basic_auth": "true" if basic_auth else "false",
        "secret_mount_path": secret_mount_path,
        "prometheus_port": str(prometheus_port),
        "alertmanager_port": str(alertmanager_port),
    }


def local_idler_env(
    *, gateway_url: str, gateway_metrics_url: str, secret_mount_path: str, alerts_available: bool
) -> dict[str, str]:
    """Environment of ``python -m pyfaas.idler`` in local mode: fast rounds, load read straight from the
    gateway (fresher than Prometheus with one gateway); without Prometheus/AlertManager, unlabelled functions
    are tracked at the alert rule's threshold (5 calls/s per replica) instead."""
    env = {
        "gateway_url": gateway_url,
        "gateway_metrics_url": gateway_metrics_url,
        "secret_mount_path": secret_mount_path,
        "reconcile_interval": "500ms",
        "rate_window": "3s",
        "metrics_port": "-1",
    }
    if not alerts_available:
        env["default_scale_type"] = "rps"
        env["default_scale_target"] = "5"
    return env
