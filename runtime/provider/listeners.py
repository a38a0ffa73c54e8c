"""The ready-set listeners every provider keeps: ``subscribe`` adds one, ``notify`` tells them all.

A listener runs on the event loop's thread, synchronously, with its own copy of the replica list; one that
raises is logged and the others still hear of the change (the gateway's balancer must never miss one).
"""

from __future__ import annotations

import logging

from pyfaas.provider.base import Replica, ReplicaListener

__all__ = ["ReplicaListeners"]

log = logging.getLogger("pyfaas.provider")


class ReplicaListeners:
    __slots__ = ("_listeners",)

    def __init__(self) -> None:
        self._listeners: list[ReplicaListener] = []

    def subscribe(self, listener: ReplicaListener) -> None:
        self._listeners.append(listener)

    def notify(self, name: str, namespace: str, replicas: list[Replica]) -> None:
        for listener in list(self._listeners):
            try:
                listener(name, namespace, list(replicas))
            except Exception:
                log.exception("a replica listener failed")
