"""Per function namespace, an EndpointSlice watch and a replica-key Secret watch keeping the caches current.

Informer pattern: list the namespace's function slices (label ``faas_function``, which the EndpointSlice
controller copies from the function's Service), replace the cache's view of the namespace, then watch from the
list's ``resourceVersion``. lightkube resumes a watch the server closed from the last version it saw; any
error (410 Gone, API unreachable) re-lists after a doubling delay, so deletions missed meanwhile disappear.

A namespace the service account may not read (403: labelled ``openfaas=1`` but given no Role) counts as
synced with :attr:`SliceWatcher.forbidden` set, so it costs that namespace only: the provider's start and
other namespaces never wait for it. It is re-listed after :attr:`FORBIDDEN_RETRY` in case access is granted.

The key watch (:class:`KeyWatcher`, Secrets labelled ``pyfaas.dev/replica-key-of``) runs the same loop; the
slice watch of a namespace lists only after the key watch has synced, so every replica gets its key when it is
first seen (``EndpointCache``), never after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from lightkube import ApiError, AsyncClient, operators
from lightkube.core.client import LabelSelector
from lightkube.resources.core_v1 import Secret
from lightkube.resources.discovery_v1 import EndpointSlice

from pyfaas.core.labels import LABEL_FUNCTION
from pyfaas.core.replica_key import REPLICA_KEY_LABEL
from pyfaas.provider.kubernetes.endpoints import EndpointCache, ReplicaKeys

__all__ = ["FORBIDDEN_RETRY", "KeyWatcher", "SliceWatcher"]

log = logging.getLogger("pyfaas.provider.kubernetes")

FORBIDDEN_RETRY = 30.0
"""Seconds between attempts to list a namespace the API refused (403): RBAC may be granted meanwhile."""


class _Watcher:
    """List-then-watch of one kind in one namespace; :attr:`synced` is set after the first list."""

    kind: Any
    what: str

    def __init__(
        self,
        client: AsyncClient,
        namespace: str,
        *,
        server_timeout: int,
        retry_max: float,
        after: asyncio.Event | None = None,
    ) -> None:
        self.namespace = namespace
        self.synced = asyncio.Event()
        self._after = after
        self._client = client
        self._server_timeout = server_timeout
        self._retry_max = retry_max
        self._task: asyncio.Task[None] | None = None
        self.relists = 0
        """How many times the namespace was listed (1 + recoveries); for tests and diagnostics."""
        self.forbidden: str | None = None
        """The API's refusal while the service account may not list this namespace's EndpointSlices."""

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"{self.what}-watch-{self.namespace}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # what a subclass does with what it sees
    def _selector(self) -> LabelSelector:
        raise NotImplementedError

    def _reset(self, items: Iterable[Mapping[str, Any]]) -> None:
        raise NotImplementedError

    def _upsert(self, item: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def _remove(self, item: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def _refused(self, exc: ApiError) -> None:
        if self.forbidden is None:
            log.warning("may not watch %s in %s: %s", self.what, self.namespace, exc)
        self.forbidden = exc.status.message or str(exc)
        self._reset([])
        self.synced.set()

    async def _run(self) -> None:
        if self._after is not None:
            await self._after.wait()
        delay = 0.1
        selector = self._selector()
        while True:
            try:
                listing = self._client.list(self.kind, namespace=self.namespace, labels=selector)
                items = [item.to_dict() async for item in listing]
                version = listing.resourceVersion
                self.relists += 1
                self.forbidden = None
                self._reset(items)
                self.synced.set()
                delay = 0.1
                watch = self._client.watch(
                    self.kind,
                    namespace=self.namespace,
                    labels=selector,
                    resource_version=version,
                    server_timeout=self._server_timeout,
                )
                async for event, item in watch:
                    body = item.to_dict()
                    if event == "DELETED":
                        self._remove(body)
                    elif event in ("ADDED", "MODIFIED"):
                        self._upsert(body)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, ApiError) and exc.status.code == 403:
                    self._refused(exc)
                    await asyncio.sleep(FORBIDDEN_RETRY)
                    continue
                log.warning(
                    "%s watch in %s failed (%r); re-listing in %.1fs", self.what, self.namespace, exc, delay
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._retry_max)


class SliceWatcher(_Watcher):
    """Watches the function EndpointSlices of one namespace (a namespace it may not read is not served)."""

    kind = EndpointSlice
    what = "EndpointSlices"

    def __init__(self, client: AsyncClient, cache: EndpointCache, namespace: str, **options: Any) -> None:
        super().__init__(client, namespace, **options)
        self._cache = cache

    def _selector(self) -> LabelSelector:
        return {LABEL_FUNCTION: operators.exists()}

    def _reset(self, items: Iterable[Mapping[str, Any]]) -> None:
        self._cache.reset(self.namespace, items)

    def _upsert(self, item: Mapping[str, Any]) -> None:
        self._cache.upsert(item)

    def _remove(self, item: Mapping[str, Any]) -> None:
        self._cache.remove(item)


class KeyWatcher(_Watcher):
    """Watches the replica-key Secrets of one namespace. Refused (403: an install whose RBAC predates keys),
    calls go without a key: functions deployed before keys still answer, keyed ones answer 403."""

    kind = Secret
    what = "replica-key Secrets"

    def __init__(self, client: AsyncClient, keys: ReplicaKeys, namespace: str, **options: Any) -> None:
        super().__init__(client, namespace, **options)
        self._keys = keys

    def _selector(self) -> LabelSelector:
        return {REPLICA_KEY_LABEL: operators.exists()}

    def _reset(self, items: Iterable[Mapping[str, Any]]) -> None:
        self._keys.reset(self.namespace, items)

    def _upsert(self, item: Mapping[str, Any]) -> None:
        self._keys.upsert(item)

    def _remove(self, item: Mapping[str, Any]) -> None:
        self._keys.remove(item)
