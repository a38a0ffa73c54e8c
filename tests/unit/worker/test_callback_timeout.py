"""The callback POST's limit: ``callback_timeout`` when set, else the default raised to a long function's."""

from __future__ import annotations

from pyfaas.core.queue_layout import CallbackJob
from pyfaas.core.timeouts import derive
from pyfaas.worker.callbacks import callback_timeout
from pyfaas.worker.settings import DEFAULT_CALLBACK_TIMEOUT, WorkerSettings


def _job(timeout: float | None) -> CallbackJob:
    return CallbackJob(
        callId="c", function="f", namespace="ns", url="http://x/", status=200, functionTimeout=timeout
    )


def test_derived_from_a_long_function_timeout_never_below_the_default() -> None:
    assert callback_timeout(_job(None), None) == DEFAULT_CALLBACK_TIMEOUT == 30.0
    assert callback_timeout(_job(1.0), None) == 30.0  # a short function does not hurry the receiver
    assert callback_timeout(_job(60.0), None) == derive(60.0).callback == 75.0
    assert callback_timeout(_job(3600.0), None) == 3615.0


def test_an_explicit_callback_timeout_wins() -> None:
    assert callback_timeout(_job(3600.0), 5.0) == 5.0
    assert callback_timeout(_job(None), 45.0) == 45.0


def test_unset_worker_timeouts_mean_derived() -> None:
    settings = WorkerSettings.from_env({})
    assert settings.ack_wait is None and settings.callback_timeout is None
    assert settings.base_ack_wait() == 60.0
    explicit = WorkerSettings.from_env({"ack_wait": "2s", "callback_timeout": "10s"})
    assert explicit.base_ack_wait() == 2.0 and explicit.callback_timeout == 10.0


def test_derived_ack_wait_outlasts_the_worker_call() -> None:
    for timeout in (0.2, 1.0, 60.0, 3600.0):
        derived = derive(timeout)
        assert derived.worker_call < derived.worker_ack_wait
