"""The ``alerts/`` files, rendered for the cluster: Prometheus and AlertManager ConfigMap contents.

``alerts/`` is the one source of the scaling rules, shared with local mode. Rule files are carried verbatim.
``prometheus.yml`` keeps its ``global`` section (intervals, external labels) while its scrape targets, rule
file paths and AlertManager address become the cluster's: pods discovered in the platform's namespaces and
scraped when annotated ``prometheus.io/scrape: "true"`` (contract §7). ``alertmanager.yml`` keeps its routes
and receivers; every webhook is pointed at the gateway's ``/system/alert`` with the basic-auth password file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["AlertSources", "alertmanager_files", "prometheus_files", "read_alert_sources"]

RULE_SUFFIXES = (".rules.yml", "rules.yml", ".rules.yaml")


@dataclass(frozen=True)
class AlertSources:
    """The text of the files in ``alerts/``."""

    prometheus: str
    alertmanager: str
    rules: dict[str, str] = field(default_factory=dict)
    """Rule file name → text."""


def read_alert_sources(directory: Path) -> AlertSources:
    """Read ``prometheus.yml``, ``alertmanager.yml`` and every rules file from ``directory``."""
    rules = {
        path.name: path.read_text()
        for path in sorted(directory.iterdir())
        if path.is_file() and path.name.endswith(RULE_SUFFIXES)
    }
    return AlertSources(
        prometheus=(directory / "prometheus.yml").read_text(),
        alertmanager=(directory / "alertmanager.yml").read_text(),
        rules=rules,
    )


def _load(text: str, name: str) -> dict[str, Any]:
    loaded = yaml.safe_load(text) or {}
    if not isinstance(loaded, dict):
        raise ValueError(f"alerts/{name} must be a YAML map")
    return loaded


def prometheus_files(
    sources: AlertSources,
    *,
    namespace: str,
    scrape_namespaces: Iterable[str],
    config_dir: str = "/etc/prometheus",
) -> dict[str, str]:
    """``prometheus.yml`` for the cluster plus the rule files, keyed by file name."""
    source = _load(sources.prometheus, "prometheus.yml")
    namespaces = list(dict.fromkeys([namespace, *scrape_namespaces]))
    config: dict[str, Any] = {
        "global": source.get("global") or {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": [f"{config_dir}/{name}" for name in sorted(sources.rules)],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"alertmanager.{namespace}.svc:9093"]}]}]
        },
        "scrape_configs": [
            {
                "job_name": "prometheus",
                "scrape_interval": "10s",
                "static_configs": [{"targets": ["localhost:9090"]}],
            },
            {
                "job_name": "openfaas-pods",
                "scrape_interval": "5s",
                "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": namespaces}}],
                "relabel_configs": [
                    {
                        "action": "keep",
                        "regex": "true",
                        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
                    },
                    {
                        "action": "replace",
                        "regex": r"([^:]+)(?::\d+)?;(\d+)",
                        "replacement": "$1:$2",
                        "source_labels": [
                            "__address__",
                            "__meta_kubernetes_pod_annotation_prometheus_io_port",
                        ],
                        "target_label": "__address__",
                    },
                    {"action": "labelmap", "regex": "__meta_kubernetes_pod_label_(.+)"},
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
                ],
            },
        ],
    }
    files = {"prometheus.yml": yaml.safe_dump(config, sort_keys=False)}
    files.update(sources.rules)
    return files


def alertmanager_files(
    sources: AlertSources, *, gateway_url: str, basic_auth: bool, user: str, password_file: str
) -> dict[str, str]:
    """``alertmanager.yml`` with every webhook sent to the gateway's ``/system/alert``."""
    config = _load(sources.alertmanager, "alertmanager.yml")
    for receiver in config.get("receivers") or []:
        for webhook in receiver.get("webhook_configs") or []:
            webhook["url"] = f"{gateway_url.rstrip('/')}/system/alert"
            http_config = dict(webhook.get("http_config") or {})
            http_config.pop("basic_auth", None)
            if basic_auth:
                http_config["basic_auth"] = {"username": user, "password_file": password_file}
            if http_config:
                webhook["http_config"] = http_config
            else:
                webhook.pop("http_config", None)
    return {"alertmanager.yml": yaml.safe_dump(config, sort_keys=False)}
