"""One declared timeout, and what each component derives from it."""

from __future__ import annotations

import pytest

from pyfaas.core.definitions import DefinitionError, function
from pyfaas.core.durations import parse_duration
from pyfaas.core.errors import ValidationFailed
from pyfaas.core.timeouts import (
    ANNOTATION_TIMEOUT,
    FunctionTimedOut,
    declared_timeout,
    derive,
    validate_timeout_annotation,
    watchdog_env,
)


@pytest.mark.parametrize("timeout", [1.0, 60.0, 0.2, 3600.0])
def test_every_component_waits_longer_than_the_one_in_front_of_it(timeout: float) -> None:
    derived = derive(timeout)
    # the gateway answers at T; the watchdog's kill comes after it, its write bound after that, and the
    # worker's own limit last, so the call's 504 (naming the function) is what every caller sees
    assert derived.gateway_upstream == timeout
    assert derived.gateway_upstream < derived.watchdog_exec < derived.watchdog_write < derived.worker_call
    assert derived.watchdog_read == derived.watchdog_write
    assert 0.5 <= derived.grace <= 5.0


def test_sixty_seconds_derives_every_setting() -> None:
    env = watchdog_env({ANNOTATION_TIMEOUT: "60s"}, None)
    assert {name: parse_duration(value) for name, value in env.items()} == {
        "exec_timeout": 65.0,
        "write_timeout": 70.0,
        "read_timeout": 70.0,
    }
    assert derive(60.0).worker_call == 75.0


def test_explicit_openfaas_variables_win() -> None:
    env = watchdog_env({ANNOTATION_TIMEOUT: "1s"}, {"exec_timeout": "250ms"})
    assert "exec_timeout" not in env
    assert parse_duration(env["write_timeout"]) == 2.0


def test_no_annotation_changes_nothing() -> None:
    assert watchdog_env({}, None) == {} and declared_timeout(None) is None


@pytest.mark.parametrize("raw", ["soon", "0", "-1s", ""])
def test_an_unreadable_timeout_is_refused_at_deploy_naming_the_annotation(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_timeout_annotation({ANNOTATION_TIMEOUT: raw})
    assert caught.value.field == f"annotations.{ANNOTATION_TIMEOUT}"
    assert declared_timeout({ANNOTATION_TIMEOUT: raw}) is None


def test_functions_py_timeout_becomes_the_annotation() -> None:
    assert function("f", image="i", timeout=90).deployment.annotations == {ANNOTATION_TIMEOUT: "1m30s"}
    assert function("f", image="i", timeout="2m").deployment.annotations == {ANNOTATION_TIMEOUT: "2m"}
    with pytest.raises(DefinitionError):
        function("f", image="i", timeout="whenever")


def test_timed_out_error_names_function_and_limit() -> None:
    error = FunctionTimedOut("slow.openfaas-fn", 1.0)
    assert error.status == 504
    assert error.to_json() == {
        "error": "function slow.openfaas-fn did not answer within its timeout of 1s",
        "function": "slow.openfaas-fn",
        "timeout": "1s",
    }
