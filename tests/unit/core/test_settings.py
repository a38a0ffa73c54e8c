"""Settings base: OpenFaaS env names, duration rules, and a ConfigError naming the variable on a bad value."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import AliasChoices, Field, ValidationError

from pyfaas.core.durations import parse_duration
from pyfaas.core.errors import ConfigError, PyfaasError
from pyfaas.core.settings import CsvInts, CsvList, Duration, EnvBool, EnvSettings, env_names


class SampleSettings(EnvSettings):
    port: int = 8080
    exec_timeout: Duration = 10.0
    write_debug: EnvBool = False
    fprocess: str = Field("", validation_alias=AliasChoices("function_process", "fprocess"))
    read_timeout: Duration = Field(5.0, validation_alias=AliasChoices("read_timeout", "faas_read_timeout"))
    retry_http_codes: CsvInts = Field(default_factory=lambda: [429, 502])
    namespaces: CsvList = Field(default_factory=list)


def _is_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True


def test_defaults_and_openfaas_names() -> None:
    settings = SampleSettings.from_env(
        {
            "exec_timeout": "1m05s",
            "read_timeout": "30",
            "write_debug": "TRUE",
            "fprocess": "cat",
            "retry_http_codes": "500, 503,",
            "namespaces": "a,b ,,c",
            "unrelated": "ignored",
        }
    )
    assert settings.port == 8080
    assert settings.exec_timeout == 65.0
    assert settings.read_timeout == 30.0
    assert settings.write_debug is True
    assert settings.fprocess == "cat"
    assert settings.retry_http_codes == [500, 503]
    assert settings.namespaces == ["a", "b", "c"]


def test_first_alias_present_wins() -> None:
    settings = SampleSettings.from_env({"fprocess": "second", "function_process": "first"})
    assert settings.fprocess == "first"
    assert env_names(SampleSettings, "fprocess") == ["function_process", "fprocess"]
    assert env_names(SampleSettings, "port") == ["port"]


def test_settings_are_frozen() -> None:
    settings = SampleSettings.from_env({})
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]


def test_overrides_win_over_the_environment() -> None:
    assert SampleSettings.from_env({"port": "1"}, port=2).port == 2


@given(st.text(max_size=12))
def test_bad_duration_names_the_variable(text: str) -> None:
    environ = {"faas_read_timeout": text}
    if _is_duration(text):
        assert math.isclose(SampleSettings.from_env(environ).read_timeout, parse_duration(text))
        return
    with pytest.raises(ConfigError) as caught:
        SampleSettings.from_env(environ)
    assert caught.value.field == "faas_read_timeout"
    assert "faas_read_timeout" in caught.value.message
    assert isinstance(caught.value, PyfaasError)


@given(st.text(max_size=8))
def test_bad_bool_names_the_variable(text: str) -> None:
    try:
        value = SampleSettings.from_env({"write_debug": text}).write_debug
    except ConfigError as exc:
        assert exc.field == "write_debug"
        assert text.strip().lower() not in {"true", "1", "yes", "on", "false", "0", "no", "off", ""}
        return
    assert value is (text.strip().lower() in {"true", "1", "yes", "on"})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("port", "eighty"),
        ("exec_timeout", "10 seconds"),
        ("exec_timeout", "-5s"),
        ("retry_http_codes", "500,oops"),
        ("write_debug", "maybe"),
    ],
)
def test_bad_values_raise_config_error_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        SampleSettings.from_env({variable: value})
    assert caught.value.field == variable
    assert variable in str(caught.value)
