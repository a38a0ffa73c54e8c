"""The Prometheus and AlertManager ConfigMaps carry the ``alerts/`` content, rendered for the cluster."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pyfaas.core.alerting import (
    CLUSTER_TIMINGS,
    AlertmanagerValues,
    PrometheusValues,
    render_alertmanager,
    render_prometheus,
)
from tests.support.infra import ROOT, Rendered

ALERTS = ROOT / "alerts"


def test_rules_are_carried_verbatim(default_stack: Rendered) -> None:
    data = default_stack.object("ConfigMap", "prometheus-config", "openfaas")["data"]
    assert data["rules.yml"] == (ALERTS / "rules.yml").read_text()


def test_prometheus_config_is_the_rendered_template(default_stack: Rendered) -> None:
    data = default_stack.object("ConfigMap", "prometheus-config", "openfaas")["data"]
    ours = yaml.safe_load(data["prometheus.yml"])
    template = yaml.safe_load(
        render_prometheus(
            (ALERTS / "prometheus.yml").read_text(),
            PrometheusValues(
                gateway_metrics_target="gateway.openfaas.svc:8082",
                alertmanager_target="alertmanager.openfaas.svc:9093",
                rules_path="/etc/prometheus/rules.yml",
                timings=CLUSTER_TIMINGS,
            ),
        )
    )
    # Everything but the gateway job's discovery comes from alerts/prometheus.yml unchanged.
    assert {k: v for k, v in ours.items() if k != "scrape_configs"} == {
        k: v for k, v in template.items() if k != "scrape_configs"
    }
    ours_jobs = {job["job_name"]: job for job in ours["scrape_configs"]}
    for job in template["scrape_configs"]:
        mine = ours_jobs[job["job_name"]]
        if job["job_name"] == "gateway":
            assert "static_configs" not in mine
            assert mine["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": ["openfaas"]}}]
            assert {k: v for k, v in job.items() if k != "static_configs"}.items() <= mine.items()
        else:
            assert mine == job
    assert ours["rule_files"] == ["/etc/prometheus/rules.yml"]


def test_prometheus_mounts_the_config_where_it_points(default_stack: Rendered) -> None:
    deployment = default_stack.object("Deployment", "prometheus", "openfaas")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in container["args"]
    assert {"name": "config", "mountPath": "/etc/prometheus", "readOnly": True} in container["volumeMounts"]
    assert {"name": "config", "configMap": {"name": "prometheus-config"}} in deployment["spec"]["template"][
        "spec"
    ]["volumes"]


def test_alertmanager_config_is_the_rendered_template(default_stack: Rendered) -> None:
    data = default_stack.object("ConfigMap", "alertmanager-config", "openfaas")["data"]
    assert data == {
        "alertmanager.yml": render_alertmanager(
            (ALERTS / "alertmanager.yml").read_text(),
            AlertmanagerValues(
                gateway_alert_url="http://gateway.openfaas.svc:8080/system/alert",
                basic_auth_user="admin",
                basic_auth_password_file="/var/secrets/basic-auth-password",
                timings=CLUSTER_TIMINGS,
            ),
        )
    }
    pod = default_stack.object("Deployment", "alertmanager", "openfaas")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert {"name": "auth", "mountPath": "/var/secrets", "readOnly": True} in container["volumeMounts"]
    assert {"name": "auth", "secret": {"secretName": "basic-auth"}} in pod["volumes"]


def test_a_config_change_rolls_the_pods(default_stack: Rendered, full_options: Rendered) -> None:
    for name in ("prometheus", "alertmanager"):
        annotations = default_stack.object("Deployment", name)["spec"]["template"]["metadata"]["annotations"]
        assert len(annotations["pyfaas.dev/config-hash"]) == 16


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_rendered_prometheus_config(default_stack: Rendered, tmp_path: Path) -> None:
    data = default_stack.object("ConfigMap", "prometheus-config")["data"]
    (tmp_path / "rules.yml").write_text(data["rules.yml"])
    config = yaml.safe_load(data["prometheus.yml"])
    # Point the rule file at the copy; the cluster path /etc/prometheus does not exist here.
    config["rule_files"] = [path.replace("/etc/prometheus/", f"{tmp_path}/") for path in config["rule_files"]]
    # Debian builds Prometheus without Kubernetes discovery; the rest (relabelling included) is checked.
    for job in config["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": ["127.0.0.1:9"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool not installed")
def test_amtool_accepts_the_rendered_alertmanager_config(default_stack: Rendered, tmp_path: Path) -> None:
    data = default_stack.object("ConfigMap", "alertmanager-config")["data"]
    (tmp_path / "alertmanager.yml").write_text(data["alertmanager.yml"])
    result = subprocess.run(
        ["amtool", "check-config", str(tmp_path / "alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
