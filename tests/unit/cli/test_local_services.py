"""What ``pyfaas up`` runs: each child's command line and environment, and what deploy-on-start deploys."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyfaas.cli.deployment import local_deployment
from pyfaas.cli.errors import CliError
from pyfaas.cli.local.functions import BUNDLED_EXAMPLES, find_source, load_definitions
from pyfaas.cli.local.layout import StateLayout, allocate_ports
from pyfaas.cli.local.services import (
    STATE_MARKER,
    child_base_env,
    gateway_spec,
    idler_spec,
    monitoring_spec,
    nats_binary,
    nats_config,
    nats_spec,
    worker_spec,
)
from pyfaas.core.definitions import function

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def layout(tmp_path: Path) -> StateLayout:
    return StateLayout.at(tmp_path / "state")


def test_children_get_a_small_environment_with_the_marker(layout: StateLayout) -> None:
    env = child_base_env({"PATH": "/bin", "port": "1", "basic_auth": "false", "PYTHONPATH": "/x"}, layout)
    assert env["PATH"] == "/bin" and "port" not in env and "basic_auth" not in env
    assert env[STATE_MARKER] == str(layout.root)
    assert env["PYTHONPATH"].split(":") == [str(ROOT), "/x"]


def test_service_specs(layout: StateLayout) -> None:
    ports = allocate_ports(0)
    base = child_base_env({"PATH": "/bin"}, layout)

    nats = nats_spec(layout, ports, base, nats_binary())
    assert os.access(nats.argv[0], os.X_OK)
    assert "-js" in nats.argv and str(layout.nats_dir / "js") in nats.argv
    assert nats.ready_urls == (f"http://127.0.0.1:{ports.nats_monitoring}/healthz",)
    assert "max_payload: 4194304" in nats_config()

    gateway = gateway_spec(layout, ports, base)
    assert gateway.env["port"] == str(ports.gateway) and gateway.env["bind_address"] == "127.0.0.1"
    assert gateway.env["basic_auth"] == "true" and gateway.env["secret_mount_path"] == f"{layout.root}/"
    assert gateway.env["state_dir"] == str(layout.provider_dir)
    assert gateway.env["nats_url"] == f"nats://127.0.0.1:{ports.nats}"
    assert gateway.argv[1:] == ("-m", "pyfaas.gateway")

    worker = worker_spec(ports, base)
    assert worker.env["gateway_url"] == ports.gateway_url and worker.env["metrics_port"] == str(
        ports.worker_metrics
    )

    monitoring = monitoring_spec(layout, ports, base)
    assert monitoring.unavailable_codes == {3}
    assert monitoring.env["prometheus_port"] == str(ports.prometheus)
    assert monitoring.env["gateway_metrics_address"] == f"127.0.0.1:{ports.gateway_metrics}"

    fallback = idler_spec(layout, ports, base, alerts_available=False)
    assert fallback.env["default_scale_type"] == "rps" and fallback.env["metrics_port"] == str(
        ports.idler_metrics
    )
    assert "default_scale_type" not in idler_spec(layout, ports, base, alerts_available=True).env


def test_function_source_precedence(tmp_path: Path) -> None:
    assert find_source(tmp_path).bundled and find_source(tmp_path).path == BUNDLED_EXAMPLES / "stack.yml"
    for name in ("functions.py", "stack.yml", "stack.yaml"):
        (tmp_path / name).write_text("")
        source = find_source(tmp_path)
        assert source.path == (tmp_path / name).resolve() and not source.bundled


def test_bundled_examples_all_run_in_local_mode() -> None:
    source = find_source(Path("/nonexistent"))
    definitions = load_definitions(source, {})
    specs = {d.name: local_deployment(d, source.folder) for d in definitions}
    assert set(specs) == {"echo", "json-api", "wc", "slow", "sleepy"}
    echo, wc = specs["echo"], specs["wc"]
    assert echo.envVars is not None and wc.envVars is not None
    assert "handler_style" not in echo.envVars  # the watchdog detects it from handle()'s signature
    assert echo.envVars["mode"] == "python" and echo.envVars["handler"] == str(BUNDLED_EXAMPLES / "echo")
    assert wc.envVars["mode"] == "fork" and wc.envProcess == "wc -w"


def test_image_only_functions_cannot_run_in_local_mode(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="not the image 'nginx:1'"):
        local_deployment(function("nginx", image="nginx:1"), tmp_path)


def test_the_packaged_copy_of_the_examples_is_the_examples_folder() -> None:
    packaged = ROOT / "runtime" / "_bundled" / "examples"  # see pyfaas.core.resources
    assert packaged.is_symlink() and (packaged / "stack.yml").resolve() == (ROOT / "examples" / "stack.yml")


def test_opentelemetry_settings_reach_every_service_but_not_one_service_name(layout: StateLayout) -> None:
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SERVICE_NAME": "x"}
    env = child_base_env(environ, layout)
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"
    assert "OTEL_SERVICE_NAME" not in env
