"""The files in alerts/, rendered for both modes, pass Prometheus' and AlertManager's own checkers, and the
rules pass their unit tests (alerts/tests/rules_test.yml). Skipped only when the binaries are absent."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pyfaas.core.alerting import (
    ALERTMANAGER_FILE,
    CLUSTER_TIMINGS,
    LOCAL_TIMINGS,
    PROMETHEUS_FILE,
    RULES_FILE,
    AlertmanagerValues,
    PrometheusValues,
    Timings,
    render_alertmanager,
    render_prometheus,
)

ALERTS = Path(__file__).resolve().parents[3] / "alerts"
pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(60)]


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)


MODES = {
    "local": (
        LOCAL_TIMINGS,
        PrometheusValues("127.0.0.1:8082", "127.0.0.1:9093", "RULES", "127.0.0.1:9090", LOCAL_TIMINGS),
        "http://127.0.0.1:8080",
    ),
    "cluster": (
        CLUSTER_TIMINGS,
        PrometheusValues(
            "gateway.openfaas.svc.cluster.local:8082",
            "alertmanager.openfaas:9093",
            "RULES",
            timings=CLUSTER_TIMINGS,
        ),
        "http://gateway.openfaas:8080/",
    ),
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_rendered_prometheus_config_passes_promtool(tmp_path: Path, mode: str) -> None:
    promtool = tool("promtool")
    _, values, _ = MODES[mode]
    rules = tmp_path / RULES_FILE
    shutil.copyfile(ALERTS / RULES_FILE, rules)
    config = tmp_path / PROMETHEUS_FILE
    rendered = render_prometheus((ALERTS / PROMETHEUS_FILE).read_text(), _with_rules(values, str(rules)))
    config.write_text(rendered)
    result = run(promtool, "check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    parsed = yaml.safe_load(rendered)
    gateway_job = next(job for job in parsed["scrape_configs"] if job["job_name"] == "gateway")
    assert gateway_job["static_configs"][0]["targets"] == [values.gateway_metrics_target]
    assert parsed["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        values.alertmanager_target
    ]


def _with_rules(values: PrometheusValues, rules: str) -> PrometheusValues:
    return PrometheusValues(
        values.gateway_metrics_target,
        values.alertmanager_target,
        rules,
        values.prometheus_target,
        values.timings,
    )


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("auth", [True, False])
def test_rendered_alertmanager_config_passes_amtool(tmp_path: Path, mode: str, auth: bool) -> None:
    amtool = tool("amtool")
    timings, _, gateway = MODES[mode]
    password_file = tmp_path / "basic-auth-password"
    password_file.write_text("secret\n")
    values = AlertmanagerValues(
        gateway_alert_url=gateway.rstrip("/") + "/system/alert",
        basic_auth_user="admin" if auth else None,
        basic_auth_password_file=str(password_file) if auth else None,
        timings=timings,
    )
    rendered = render_alertmanager((ALERTS / ALERTMANAGER_FILE).read_text(), values)
    config = tmp_path / ALERTMANAGER_FILE
    config.write_text(rendered)
    result = run(amtool, "check-config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    parsed = yaml.safe_load(rendered)
    webhook = parsed["receivers"][1]["webhook_configs"][0]
    assert webhook["url"] == values.gateway_alert_url
    assert webhook["send_resolved"] is True
    expected_http = {"basic_auth": {"username": "admin", "password_file": str(password_file)}} if auth else {}
    assert webhook["http_config"] == expected_http
    assert parsed["route"]["routes"][0]["receiver"] == "scale-up"


def test_rules_pass_promtool_check_and_unit_tests() -> None:
    promtool = tool("promtool")
    check = run(promtool, "check", "rules", str(ALERTS / RULES_FILE))
    assert check.returncode == 0, check.stdout + check.stderr
    tests = run(promtool, "test", "rules", str(ALERTS / "tests" / "rules_test.yml"))
    assert tests.returncode == 0, tests.stdout + tests.stderr


def test_rule_is_openfaas_compatible() -> None:
    groups = yaml.safe_load((ALERTS / RULES_FILE).read_text())["groups"]
    rule = next(r for g in groups for r in g["rules"] if r.get("alert") == "APIHighInvocationRate")
    assert (
        rule["expr"]
        == 'sum by (function_name) (rate(gateway_function_invocation_total{code="200"}[10s])) > 5'
    )
    assert rule["labels"] == {"service": "gateway", "severity": "major"}


def test_promtool_catches_a_broken_rule(tmp_path: Path) -> None:
    """The check can fail: a rule with a syntax error is rejected."""
    promtool = tool("promtool")
    broken = tmp_path / "broken.yml"
    broken.write_text((ALERTS / RULES_FILE).read_text().replace("[10s]", "[10s"))
    assert run(promtool, "check", "rules", str(broken)).returncode != 0


def test_timings_render_as_prometheus_durations() -> None:
    timings = Timings(1.0, 0.5, 2.0, 1.0, 0.25, 1.0, 3600.0)
    rendered = render_alertmanager(
        (ALERTS / ALERTMANAGER_FILE).read_text(),
        AlertmanagerValues("http://gw:8080/system/alert", timings=timings),
    )
    route = yaml.safe_load(rendered)["route"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
        "250ms",
        "1s",
        "3600s",
    )
