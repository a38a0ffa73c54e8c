"""The ``alerts/`` files rendered for the cluster: Prometheus and AlertManager ConfigMap contents.

``alerts/`` is the one source of the scaling rules and of both configurations, shared with local mode; the
pure renderers of :mod:`pyfaas.core.alerting` fill in the cluster's addresses and timings. The rules file is
carried verbatim. One cluster-specific change is made after rendering: the ``gateway`` scrape job discovers
the gateway's pods (role ``pod``, container port ``metrics``) instead of scraping one static address, because
behind a Service with several gateway replicas each scrape would hit a different pod and every rate would be
wrong. The job keeps its name, so ``up{job="gateway"}`` in the rules still means the same thing. A second job
scrapes the other platform pods annotated ``prometheus.io/scrape: "true"`` (queue-worker, idler).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pyfaas.core.alerting import (
    ALERTMANAGER_FILE,
    CLUSTER_TIMINGS,
    PROMETHEUS_FILE,
    RULES_FILE,
    AlertmanagerValues,
    PrometheusValues,
    gateway_alert_url,
    render_alertmanager,
    render_prometheus,
)
from pyfaas.core.resources import bundled

__all__ = [
    "AlertSources",
    "alertmanager_files",
    "bundled_alert_sources",
    "prometheus_files",
    "read_alert_sources",
]

GATEWAY_APP = "gateway"
METRICS_PORT_NAME = "metrics"


@dataclass(frozen=True)
class AlertSources:
    """The text of the three files in ``alerts/`` (two templates and the rules)."""

    prometheus: str
    alertmanager: str
    rules: str


def read_alert_sources(directory: Path) -> AlertSources:
    return AlertSources(
        prometheus=(directory / PROMETHEUS_FILE).read_text(),
        alertmanager=(directory / ALERTMANAGER_FILE).read_text(),
        rules=(directory / RULES_FILE).read_text(),
    )


def bundled_alert_sources() -> AlertSources:
    """The alert files that ship with pyfaas (the repository's ``alerts/``, packaged in the wheel)."""
    return read_alert_sources(bundled("alerts"))


def _pod_discovery(namespaces: Iterable[str]) -> list[dict[str, Any]]:
    return [{"role": "pod", "namespaces": {"names": list(namespaces)}}]


def _pod_labels() -> list[dict[str, Any]]:
    return [
        {
            "action": "replace",
            "source_labels": ["__meta_kubernetes_namespace"],
            "target_label": "kubernetes_namespace",
        },
        {
            "action": "replace",
            "source_labels": ["__meta_kubernetes_pod_name"],
            "target_label": "kubernetes_pod_name",
        },
    ]


def _gateway_job(job: dict[str, Any], namespace: str) -> dict[str, Any]:
    job = {key: value for key, value in job.items() if key != "static_configs"}
    job["kubernetes_sd_configs"] = _pod_discovery([namespace])
    job["relabel_configs"] = [
        {
            "action": "keep",
            "source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
            "regex": GATEWAY_APP,
        },
        {
            "action": "keep",
            "source_labels": ["__meta_kubernetes_pod_container_port_name"],
            "regex": METRICS_PORT_NAME,
        },
        *_pod_labels(),
    ]
    return job


def _annotated_pods_job(namespace: str) -> dict[str, Any]:
    return {
        "job_name": "pyfaas-pods",
        "kubernetes_sd_configs": _pod_discovery([namespace]),
        "relabel_configs": [
            {
                "action": "keep",
                "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
                "regex": "true",
            },
            {
                "action": "drop",
                "source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
                "regex": GATEWAY_APP,
            },
            {
                "action": "replace",
                "source_labels": ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
                "regex": r"([^:]+)(?::\d+)?;(\d+)",
                "replacement": "$1:$2",
                "target_label": "__address__",
            },
            *_pod_labels(),
        ],
    }


def prometheus_files(
    sources: AlertSources, *, namespace: str, config_dir: str = "/etc/prometheus"
) -> dict[str, str]:
    """``prometheus.yml`` (rendered, gateway discovered by pod) and ``rules.yml`` (verbatim)."""
    rendered = render_prometheus(
        sources.prometheus,
        PrometheusValues(
            gateway_metrics_target=f"gateway.{namespace}.svc:8082",
            alertmanager_target=f"alertmanager.{namespace}.svc:9093",
            rules_path=f"{config_dir}/{RULES_FILE}",
            timings=CLUSTER_TIMINGS,
        ),
    )
    config = yaml.safe_load(rendered)
    jobs = config.get("scrape_configs") or []
    if not any(job.get("job_name") == "gateway" for job in jobs):
        raise ValueError("alerts/prometheus.yml has no 'gateway' scrape job")
    config["scrape_configs"] = [
        _gateway_job(job, namespace) if job.get("job_name") == "gateway" else job for job in jobs
    ] + [_annotated_pods_job(namespace)]
    return {PROMETHEUS_FILE: yaml.safe_dump(config, sort_keys=False), RULES_FILE: sources.rules}


def alertmanager_files(
    sources: AlertSources, *, gateway_url: str, user: str | None, password_file: str | None
) -> dict[str, str]:
    """``alertmanager.yml`` rendered with the gateway's in-cluster URL and, when given, its credentials."""
    rendered = render_alertmanager(
        sources.alertmanager,
        AlertmanagerValues(
            gateway_alert_url=gateway_alert_url(gateway_url),
            basic_auth_user=user,
            basic_auth_password_file=password_file,
            timings=CLUSTER_TIMINGS,
        ),
    )
    return {ALERTMANAGER_FILE: rendered}
