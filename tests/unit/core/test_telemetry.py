"""OpenTelemetry export: off unless the standard variables ask for it, and then nothing else loads."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pyfaas.core.errors import ConfigError
from pyfaas.core.telemetry import export_enabled, tracing_from_env

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        ({}, False),
        (ENDPOINT, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),  # the SDK's default endpoint
        ({**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}, False),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_export_follows_the_standard_variables(environ: dict[str, str], enabled: bool) -> None:
    assert export_enabled(environ) is enabled


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        ({**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "OTEL_EXPORTER_OTLP_PROTOCOL"),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "maybe"}, "OTEL_SDK_DISABLED"),
    ],
)
def test_what_pyfaas_cannot_export_stops_start_up_naming_the_variable(
    environ: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        tracing_from_env(environ, "test")
    assert caught.value.field == variable


def test_off_imports_nothing_from_opentelemetry() -> None:
    code = (
        "import sys\n"
        "import pyfaas.gateway.app, pyfaas.watchdog.service, pyfaas.worker.app\n"
        "from pyfaas.core.telemetry import tracing_from_env\n"
        "assert tracing_from_env({}, 'x') is None\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
