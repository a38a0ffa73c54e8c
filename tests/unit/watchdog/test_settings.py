from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from typing import Any, Literal

import pytest
from pydantic import AliasChoices, Field, field_validator

from pyfaas.core.errors import ConfigError
from pyfaas.core.settings import Duration, EnvBool, EnvSettings
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.watchdog.settings import WatchdogSettings


def test_defaults_follow_of_watchdog() -> None:
    settings = WatchdogSettings.from_env({"fprocess": "cat"})
    assert settings.mode == "streaming"
    assert settings.port == 8080
    assert settings.metrics_port == 8081
    assert settings.read_timeout == settings.write_timeout == settings.exec_timeout == 30.0
    assert settings.grace_period == settings.write_timeout
    assert settings.prefix_logs is True
    assert settings.cgi_headers is True and settings.combine_output is True
    assert settings.lock_file == "/tmp/.lock"
    assert settings.max_body_bytes == GatewaySettings.from_env({}).max_body_bytes == 32 * 1024 * 1024
    assert settings.handler == "./function"


def test_later_openfaas_names_win() -> None:
    settings = WatchdogSettings.from_env(
        {
            "fprocess": "cat",
            "function_process": "python3 index.py",
            "mode": "http",
            "upstream_url": "http://127.0.0.1:1",
            "http_upstream_url": "http://127.0.0.1:5000",
            "http_buffer_req_body": "true",
        }
    )
    assert settings.argv == ["python3", "index.py"]
    assert settings.upstream_url == "http://127.0.0.1:5000"
    assert settings.buffer_http is True


def test_durations_and_lock_path() -> None:
    settings = WatchdogSettings.from_env(
        {"mode": "python", "write_timeout": "1m5s", "healthcheck_interval": "2", "TMPDIR": "/var/tmp"}
    )
    assert settings.write_timeout == 65.0
    assert settings.grace_period == 2.0
    assert settings.lock_file == "/var/tmp/.lock"
    assert WatchdogSettings.from_env({"mode": "python", "lock_path": "/x/lock"}).lock_file == "/x/lock"


def test_fprocess_split_on_single_spaces_without_shell() -> None:
    settings = WatchdogSettings.from_env({"fprocess": "sh  -c 'echo hi'"})
    assert settings.argv == ["sh", "-c", "'echo", "hi'"]


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"fprocess": "cat", "port": "eighty"}, "port"),
        ({"fprocess": "cat", "write_timeout": "soon"}, "write_timeout"),
        ({"fprocess": "cat", "write_timeout": "0"}, "write_timeout"),
        ({"fprocess": "cat", "exec_timeout": "-1s"}, "exec_timeout"),
        ({"fprocess": "cat", "suppress_lock": "maybe"}, "suppress_lock"),
        ({"fprocess": "cat", "mode": "afterburn"}, "mode"),
        ({"fprocess": "cat", "log_buffer_size": "0"}, "log_buffer_size"),
        ({"fprocess": "cat", "http_buffer_req_body": "x"}, "http_buffer_req_body"),
        ({"mode": "streaming"}, "fprocess"),
        ({"mode": "http", "fprocess": "app"}, "upstream_url"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        WatchdogSettings.from_env(env)
    assert caught.value.field == variable
    assert variable in caught.value.message


# The watchdog validates its environment without pydantic (it would cost every replica ~10 MB of RSS);
# this reference is the same settings declared as an ``EnvSettings`` model, the way every other service
# declares its own, so the two must accept the same values and reject the rest with the same message.
class _Reference(EnvSettings):
    fprocess: str = Field("", validation_alias=AliasChoices("function_process", "fprocess"))
    mode: Literal["streaming", "serializing", "fork", "http", "static", "python"] = "streaming"
    upstream_url: str = Field("", validation_alias=AliasChoices("http_upstream_url", "upstream_url"))
    port: int = Field(8080, ge=0, le=65535)
    read_timeout: Duration = 30.0
    read_header_timeout: Duration = Field(10.0, gt=0)
    write_timeout: Duration = Field(30.0, gt=0)
    exec_timeout: Duration = 30.0
    healthcheck_interval: Duration | None = None
    max_inflight: int = Field(0, ge=0)
    content_type: str | None = None
    static_path: str = "/home/app/public"
    suppress_lock: EnvBool = False
    prefix_logs: EnvBool = True
    log_buffer_size: int = 65536
    ready_path: str = ""
    buffer_http: EnvBool = Field(False, validation_alias=AliasChoices("buffer_http", "http_buffer_req_body"))
    cgi_headers: EnvBool = True
    combine_output: EnvBool = True
    marshal_request: EnvBool = False
    write_debug: EnvBool = False
    log_callid: EnvBool = False
    port_file: str = ""
    lock_path: str = ""
    metrics_port: int = Field(8081, ge=0, le=65535)
    handler: str = "./function"
    handler_style: Literal["auto", "http", "classic"] = "auto"
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=0)
    python_workers: int = Field(16, ge=1)
    python_inline: Literal["never", "auto"] = "never"
    bind_address: str = "0.0.0.0"
    tmpdir: str = Field("", validation_alias="TMPDIR")
    hostname: str = Field("localhost", validation_alias="HOSTNAME")

    @field_validator("log_buffer_size")
    @classmethod
    def _log_buffer_size(cls, value: int) -> int:
        if value == 0 or value < -1:
            raise ValueError("must be -1 (unbuffered) or a positive size in bytes")
        return value

    @field_validator("exec_timeout", "read_timeout", "healthcheck_interval")
    @classmethod
    def _non_negative(cls, value: float | None) -> float | None:
        if value is not None and value < 0:
            raise ValueError("must not be negative")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> _Reference:
        settings = super().from_env(environ, **overrides)
        if settings.mode in {"streaming", "serializing", "fork", "http"} and not settings.fprocess.strip(" "):
            raise ConfigError(f"fprocess is required in mode {settings.mode}", field="fprocess")
        if settings.mode == "http" and not settings.upstream_url:
            raise ConfigError("upstream_url is required in mode http", field="upstream_url")
        return settings


_INTEGERS = [
    "8080",
    " 8080",
    "8080 ",
    "\t5\n",
    "+8080",
    "-1",
    "-0",
    "0",
    "00",
    "08080",
    "0x10",
    "1_000",
    "0_0",
    "1_",
    "_1",
    "1__0",
    "1.0",
    "+1.0",
    "1.00000",
    "1.",
    "0.",
    ".0",
    "1.5",
    "1e3",
    "1.0e0",
    "",
    " ",
    "+",
    "-",
    "+-1",
    "1 000",
    "1,0",
    "true",
    "\u0663",
    "\uff11",
    "\u00a05",
    "65535",
    "65536",
    "99999999999",
]
_DURATIONS = [
    "0",
    "30",
    " 5",
    "5 ",
    "-1",
    "-0",
    "-1s",
    "-0s",
    "1.5",
    "1.5s",
    "1m5s",
    "1h",
    "500ms",
    "0.0s",
    "",
    "abc",
    "nan",
    "inf",
    "1e3",
    "+2s",
    "2x",
]
_BOOLEANS = ["true", "TRUE", " yes ", "On", "1", "0", "no", "off", "", "\tno\n", "maybe", "t", "None"]
_CASES = (
    [
        (f, v)
        for f in ("port", "metrics_port", "max_inflight", "max_body_bytes", "python_workers")
        for v in _INTEGERS
    ]
    + [("log_buffer_size", v) for v in [*_INTEGERS, "-2", "65536"]]
    + [
        (f, v)
        for f in (
            "read_timeout",
            "read_header_timeout",
            "write_timeout",
            "exec_timeout",
            "healthcheck_interval",
        )
        for v in _DURATIONS
    ]
    + [
        (f, v)
        for f in ("suppress_lock", "prefix_logs", "buffer_http", "http_buffer_req_body", "cgi_headers")
        for v in _BOOLEANS
    ]
    + [
        ("mode", v)
        for v in ["python", "streaming", "fork", "http", "static", "serializing", "Python", " python", ""]
    ]
    + [("handler_style", v) for v in ["auto", "http", "classic", "x", ""]]
    + [("python_inline", v) for v in ["never", "auto", "always"]]
    + [
        (f, "some text")
        for f in ("content_type", "static_path", "handler", "bind_address", "TMPDIR", "HOSTNAME")
    ]
)


def _outcome(model: Any, env: dict[str, str]) -> tuple[str, object]:
    try:
        settings = model.from_env(env)
    except ConfigError as exc:
        return ("error", (exc.message, exc.field))
    return ("ok", {name: getattr(settings, name) for name in _Reference.model_fields})


@pytest.mark.parametrize(("variable", "value"), _CASES)
def test_same_values_and_messages_as_an_env_settings_model(variable: str, value: str) -> None:
    env = {"mode": "python", "fprocess": "cat", "upstream_url": "http://127.0.0.1:1", variable: value}
    assert _outcome(WatchdogSettings, env) == _outcome(_Reference, env)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"fprocess": "cat", "function_process": "wc -c"},
        {"mode": "http", "fprocess": "app", "upstream_url": "http://a", "http_upstream_url": "http://b"},
        {"mode": "http", "fprocess": "app"},
        {"mode": "fork"},
        {"mode": "python", "port": "x", "write_timeout": "0"},  # the first bad field in declaration order
        {"mode": "python", "buffer_http": "yes", "http_buffer_req_body": "nope"},
    ],
)
def test_same_names_order_and_cross_checks_as_an_env_settings_model(env: dict[str, str]) -> None:
    assert _outcome(WatchdogSettings, env) == _outcome(_Reference, env)


def test_the_watchdog_does_not_import_pydantic() -> None:
    code = (
        "import sys, pyfaas.watchdog.service, pyfaas.watchdog.modes.python.mode, "
        "pyfaas.watchdog.zygote_server\n"
        "print('pydantic' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
