"""Ready replicas of every function, from EndpointSlices, in memory.

The slice watch feeds :class:`EndpointCache` with whole slices; the cache keeps, per function (the slice's
``kubernetes.io/service-name``), one :class:`~pyfaas.provider.base.Replica` per ready address. A Replica
object lives as long as its address stays ready in any slice of the function, so the gateway's in-flight
count on it survives every slice update; listeners hear about a function only when its ready set changes.

Readiness follows the EndpointSlice API: ``conditions.ready`` true, or absent (unknown is read as ready); a
terminating endpoint is not ready. The port is the slice's port named ``http`` (else its only port).

Each Replica carries its function's replica key (:class:`ReplicaKeys`, from the key Secrets) as it was when
the address became ready, and keeps it: after a rotation, pods started before it still hold the old key,
pods started after it the new one (docs/decisions/0151-kubernetes-replica-keys.md).
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pyfaas.core.replica_key import REPLICA_KEY_DATA, REPLICA_KEY_LABEL
from pyfaas.provider.base import Replica

__all__ = ["SERVICE_NAME_LABEL", "EndpointCache", "ReplicaKeys", "ready_addresses"]

log = logging.getLogger("pyfaas.provider.kubernetes")

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
PORT_NAME = "http"

Key = tuple[str, str]
"""(namespace, function name)"""
Notify = Callable[[str, str, list[Replica]], None]


def _url(address_type: str, address: str, port: int) -> str:
    host = f"[{address}]" if address_type == "IPv6" else address
    return f"http://{host}:{port}"


def _port(ports: Iterable[Mapping[str, Any]]) -> int | None:
    candidates = [p for p in ports if p.get("port")]
    named = [p for p in candidates if p.get("name") == PORT_NAME]
    chosen = named or (candidates if len(candidates) == 1 else [])
    return int(chosen[0]["port"]) if chosen else None


def ready_addresses(endpoint_slice: Mapping[str, Any]) -> dict[str, str]:
    """``{url: replica id}`` of the ready endpoints of one slice (id: the pod's name, else the address)."""
    address_type = endpoint_slice.get("addressType", "IPv4")
    if address_type not in ("IPv4", "IPv6"):
        return {}
    port = _port(endpoint_slice.get("ports") or [])
    if port is None:
        return {}
    ready: dict[str, str] = {}
    for endpoint in endpoint_slice.get("endpoints") or []:
        conditions = endpoint.get("conditions") or {}
        if conditions.get("ready") is False or conditions.get("terminating") is True:
            continue
        addresses = endpoint.get("addresses") or []
        if not addresses:
            continue
        url = _url(
            address_type, addresses[0], port
        )  # all addresses of an endpoint are fungible: use the first
        ready[url] = (endpoint.get("targetRef") or {}).get("name") or addresses[0]
    return ready


def _slice_function(endpoint_slice: Mapping[str, Any]) -> tuple[str, str, str] | None:
    metadata = endpoint_slice.get("metadata") or {}
    service = (metadata.get("labels") or {}).get(SERVICE_NAME_LABEL)
    if not service or not metadata.get("name"):
        return None
    return metadata.get("namespace") or "", metadata["name"], service


def _key_of(secret: Mapping[str, Any]) -> tuple[Key, str | None] | None:
    """((namespace, function), key) of a key Secret; key None when its data is unreadable."""
    metadata = secret.get("metadata") or {}
    function = (metadata.get("labels") or {}).get(REPLICA_KEY_LABEL)
    if not function:
        return None
    encoded = (secret.get("data") or {}).get(REPLICA_KEY_DATA)
    try:
        key = base64.b64decode(encoded, validate=True).decode() if encoded else None
    except (binascii.Error, UnicodeDecodeError):
        key = None
    return (metadata.get("namespace") or "", function), key or None


class ReplicaKeys:
    """The current replica key of every function, from its key Secret (``pyfaas.core.replica_key``)."""

    def __init__(self) -> None:
        self._keys: dict[Key, str] = {}

    def get(self, name: str, namespace: str) -> str | None:
        return self._keys.get((namespace, name))

    def upsert(self, secret: Mapping[str, Any]) -> None:
        found = _key_of(secret)
        if found is None:
            return
        where, key = found
        if key is None:
            self._keys.pop(where, None)
            log.warning("the replica key Secret of %s.%s holds no key", where[1], where[0])
        else:
            self._keys[where] = key

    def remove(self, secret: Mapping[str, Any]) -> None:
        found = _key_of(secret)
        if found is not None:
            self._keys.pop(found[0], None)

    def reset(self, namespace: str, secrets: Iterable[Mapping[str, Any]]) -> None:
        for where in [k for k in self._keys if k[0] == namespace]:
            del self._keys[where]
        for secret in secrets:
            self.upsert(secret)


class EndpointCache:
    """EndpointSlices of function Services, reduced to persistent ready Replica objects."""

    def __init__(self, notify: Notify, keys: ReplicaKeys | None = None) -> None:
        self._notify = notify
        self._keys = keys or ReplicaKeys()
        self._slices: dict[tuple[str, str], tuple[str, dict[str, str]]] = {}
        """(namespace, slice name) → (function, {url: replica id})"""
        self._replicas: dict[Key, dict[str, Replica]] = {}
        self._slice_count: dict[Key, int] = {}

    def known(self, name: str, namespace: str) -> bool:
        """Whether any slice of the function's Service exists (it may have no ready address)."""
        return self._slice_count.get((namespace, name), 0) > 0

    def ready(self, name: str, namespace: str) -> list[Replica]:
        return list(self._replicas.get((namespace, name), {}).values())

    def namespaces(self) -> set[str]:
        return {ns for ns, _ in self._slices}

    def upsert(self, endpoint_slice: Mapping[str, Any]) -> None:
        found = _slice_function(endpoint_slice)
        if found is None:
            return
        namespace, slice_name, function = found
        previous = self._slices.get((namespace, slice_name))
        self._slices[(namespace, slice_name)] = (function, ready_addresses(endpoint_slice))
        self._refresh({(namespace, function)} | ({(namespace, previous[0])} if previous else set()))

    def remove(self, endpoint_slice: Mapping[str, Any]) -> None:
        found = _slice_function(endpoint_slice)
        if found is None:
            return
        namespace, slice_name, _ = found
        previous = self._slices.pop((namespace, slice_name), None)
        if previous is not None:
            self._refresh({(namespace, previous[0])})

    def reset(self, namespace: str, slices: Iterable[Mapping[str, Any]]) -> None:
        """Replace everything known about ``namespace`` (after a list; missed deletions disappear here)."""
        affected = {(ns, fn) for (ns, _), (fn, _) in self._slices.items() if ns == namespace}
        for key in [k for k in self._slices if k[0] == namespace]:
            del self._slices[key]
        for endpoint_slice in slices:
            found = _slice_function(endpoint_slice)
            if found is None:
                continue
            _, slice_name, function = found
            self._slices[(namespace, slice_name)] = (function, ready_addresses(endpoint_slice))
            affected.add((namespace, function))
        self._refresh(affected)

    def forget(self, name: str, namespace: str) -> None:
        """Drop a function's slices now (it was deleted; the watch will confirm)."""
        for key in [k for k, (fn, _) in self._slices.items() if k[0] == namespace and fn == name]:
            del self._slices[key]
        self._refresh({(namespace, name)})

    def forget_namespace(self, namespace: str) -> None:
        self.reset(namespace, [])

    def _refresh(self, keys: set[Key]) -> None:
        counts: dict[Key, int] = {}
        for (ns, _), (fn, _) in self._slices.items():
            counts[(ns, fn)] = counts.get((ns, fn), 0) + 1
        self._slice_count = counts
        for namespace, function in sorted(keys):
            wanted: dict[str, str] = {}
            for (ns, _), (fn, addresses) in self._slices.items():
                if ns == namespace and fn == function:
                    wanted.update(addresses)
            current = self._replicas.get((namespace, function), {})
            if set(current) == set(wanted):
                continue
            now = time.time()
            key = self._keys.get(function, namespace)
            updated = {
                url: current.get(url) or Replica(id=wanted[url], url=url, started_at=now, key=key)
                for url in wanted
            }
            for url, replica in current.items():
                if url not in updated:
                    replica.ready = False
            if updated:
                self._replicas[(namespace, function)] = updated
            else:
                self._replicas.pop((namespace, function), None)
            try:
                self._notify(function, namespace, list(updated.values()))
            except Exception:
                log.exception("a replica listener failed")
