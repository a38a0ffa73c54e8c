from __future__ import annotations

import pytest

from runtime.core.errors import ConfigError
from runtime.watchdog.settings import WatchdogSettings


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
    assert settings.max_body_bytes == 10 * 1024 * 1024
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
