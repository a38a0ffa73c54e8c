"""pyfaas.core.alerting: the pure renderer both modes use."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pyfaas.core.alerting import (
    LOCAL_TIMINGS,
    AlertmanagerValues,
    PrometheusValues,
    alertmanager_args,
    gateway_alert_url,
    prom_duration,
    prometheus_args,
    render_alertmanager,
    render_prometheus,
)

ALERTS = Path(__file__).resolve().parents[3] / "alerts"


@given(st.text(min_size=1, max_size=40))
def test_values_cannot_inject_configuration(evil: str) -> None:
    rendered = render_prometheus(
        (ALERTS / "prometheus.yml").read_text(),
        PrometheusValues(
            gateway_metrics_target=evil, alertmanager_target="am:9093", rules_path=evil + "\n- x"
        ),
    )
    parsed = yaml.safe_load(rendered)
    gateway_job = next(job for job in parsed["scrape_configs"] if job["job_name"] == "gateway")
    assert gateway_job["static_configs"] == [{"targets": [evil]}]
    assert parsed["rule_files"] == [evil + "\n- x"]


def test_alertmanager_basic_auth_needs_both_parts() -> None:
    template = (ALERTS / "alertmanager.yml").read_text()
    with pytest.raises(ValueError, match="both"):
        render_alertmanager(template, AlertmanagerValues("http://gw/system/alert", basic_auth_user="admin"))


def test_unknown_placeholder_is_an_error() -> None:
    with pytest.raises(KeyError):
        render_prometheus("x: $nope", PrometheusValues("a:1", "b:2", "r"))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (1, "1s"), (0.5, "500ms"), (1.25, "1250ms"), (30, "30s"), (3600, "3600s")],
)
def test_durations(seconds: float, text: str) -> None:
    assert prom_duration(seconds) == text


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_bad_durations(bad: float) -> None:
    with pytest.raises(ValueError):
        prom_duration(bad)


def test_urls_and_flags() -> None:
    assert gateway_alert_url("http://gw:8080/") == "http://gw:8080/system/alert"
    assert gateway_alert_url("http://gw:8080") == "http://gw:8080/system/alert"
    flags = prometheus_args("/c.yml", "/data", "127.0.0.1:9090", LOCAL_TIMINGS)
    assert "--rules.alert.resend-delay=1s" in flags
    assert "--web.listen-address=127.0.0.1:9090" in flags
    assert "--cluster.listen-address=" in alertmanager_args("/a.yml", "/d", "127.0.0.1:9093")


def test_monitoring_settings_read_the_gateway_user_and_point_at_the_password_file(tmp_path: Path) -> None:
    from pyfaas.cli.local.monitoring import DEFAULT_ALERTS_DIR, MonitoringSettings
    from pyfaas.core.errors import ConfigError

    (tmp_path / "basic-auth-user").write_text("admin\n")
    (tmp_path / "basic-auth-password").write_text("s3cret\n")
    config = MonitoringSettings.from_env(
        {"basic_auth": "true", "secret_mount_path": str(tmp_path), "monitoring_dir": str(tmp_path / "m")}
    ).config()
    assert config.basic_auth_user == "admin"
    assert config.basic_auth_password_file == str(tmp_path / "basic-auth-password")
    assert config.alerts_dir == DEFAULT_ALERTS_DIR
    assert (DEFAULT_ALERTS_DIR / "rules.yml").is_file()
    assert MonitoringSettings.from_env({}).config().basic_auth_user is None
    with pytest.raises(ConfigError) as caught:
        MonitoringSettings.from_env(
            {"basic_auth": "true", "secret_mount_path": str(tmp_path / "none")}
        ).config()
    assert caught.value.field == "secret_mount_path"


@pytest.mark.parametrize("alerts_available", [True, False])
def test_local_environments_are_read_back_by_the_processes_settings(
    tmp_path: Path, alerts_available: bool
) -> None:
    from pyfaas.cli.local.monitoring import MonitoringSettings
    from pyfaas.core.alerting import local_idler_env, local_monitoring_env
    from pyfaas.idler.settings import IdlerSettings

    idler = IdlerSettings.from_env(
        local_idler_env(
            gateway_url="http://127.0.0.1:8080",
            gateway_metrics_url="http://127.0.0.1:8082/metrics",
            secret_mount_path=str(tmp_path),
            alerts_available=alerts_available,
        )
    )
    assert idler.reconcile_interval == 0.5
    assert idler.rate_window == 3.0
    assert idler.metrics_url == "http://127.0.0.1:8082/metrics"
    assert idler.prometheus_url is None
    assert idler.default_scale_type == ("" if alerts_available else "rps")
    monitoring = MonitoringSettings.from_env(
        local_monitoring_env(
            gateway_url="http://127.0.0.1:8080",
            gateway_metrics_address="127.0.0.1:8082",
            monitoring_dir=str(tmp_path / "m"),
            basic_auth=False,
            secret_mount_path=str(tmp_path),
            prometheus_port=19090,
        )
    ).config()
    assert (monitoring.prometheus_port, monitoring.alertmanager_port) == (19090, 9093)
    assert monitoring.gateway_metrics_target == "127.0.0.1:8082"
    assert monitoring.work_dir == tmp_path / "m"
