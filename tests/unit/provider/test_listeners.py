from __future__ import annotations

import logging

import pytest

from pyfaas.provider.base import Replica
from pyfaas.provider.listeners import ReplicaListeners


def test_every_listener_hears_of_a_change_even_when_one_fails(caplog: pytest.LogCaptureFixture) -> None:
    listeners = ReplicaListeners()
    heard: list[tuple[str, str, list[Replica]]] = []

    def failing(name: str, namespace: str, replicas: list[Replica]) -> None:
        raise RuntimeError("listener bug")

    listeners.subscribe(failing)
    listeners.subscribe(lambda name, namespace, replicas: heard.append((name, namespace, replicas)))
    ready = [Replica("a", "http://127.0.0.1:1")]
    with caplog.at_level(logging.ERROR, logger="pyfaas.provider"):
        listeners.notify("echo", "openfaas-fn", ready)
    assert heard == [("echo", "openfaas-fn", ready)]
    assert heard[0][2] is not ready  # each listener gets its own list to keep
    assert "a replica listener failed" in caplog.text


def test_no_listener_is_fine() -> None:
    ReplicaListeners().notify("echo", "openfaas-fn", [])
