"""One EndpointSlice watch per function namespace, keeping :class:`EndpointCache` current.

Informer pattern: list the namespace's function slices (label ``faas_function``, which the EndpointSlice
controller copies from the function's Service), replace the cache's view of the namespace, then watch from the
list's ``resourceVersion``. lightkube resumes a watch the server closed from the last version it saw; any
error (410 Gone, API unreachable) re-lists after a doubling delay, so deletions missed meanwhile disappear.

A namespace the service account may not read (403: labelled ``openfaas=1`` but given no Role) counts as
synced with :attr:`SliceWatcher.forbidden` set, so it costs that namespace only: the provider's start and
other namespaces never wait for it. It is re-listed after :attr:`FORBIDDEN_RETRY` in case access is granted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from lightkube import ApiError, AsyncClient, operators
from lightkube.core.client import LabelSelector
from lightkube.resources.discovery_v1 import EndpointSlice

from pyfaas.core.labels import LABEL_FUNCTION
from pyfaas.provider.kubernetes.endpoints import EndpointCache

__all__ = ["FORBIDDEN_RETRY", "SliceWatcher"]

log = logging.getLogger("pyfaas.provider.kubernetes")

FORBIDDEN_RETRY = 30.0
"""Seconds between attempts to list a namespace the API refused (403): RBAC may be granted meanwhile."""


class SliceWatcher:
    """Watches the function EndpointSlices of one namespace; :attr:`synced` is set after the first list."""

    def __init__(
        self,
        client: AsyncClient,
        cache: EndpointCache,
        namespace: str,
        *,
        server_timeout: int,
        retry_max: float,
    ) -> None:
        self.namespace = namespace
        self.synced = asyncio.Event()
        self._client = client
        self._cache = cache
        self._server_timeout = server_timeout
        self._retry_max = retry_max
        self._task: asyncio.Task[None] | None = None
        self.relists = 0
        """How many times the namespace was listed (1 + recoveries); for tests and diagnostics."""
        self.forbidden: str | None = None
        """The API's refusal while the service account may not list this namespace's EndpointSlices."""

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"endpointslice-watch-{self.namespace}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _refused(self, exc: ApiError) -> None:
        if self.forbidden is None:
            log.warning("may not watch EndpointSlices in %s; not serving it: %s", self.namespace, exc)
        self.forbidden = exc.status.message or str(exc)
        self._cache.reset(self.namespace, [])
        self.synced.set()

    async def _run(self) -> None:
        delay = 0.1
        selector: LabelSelector = {LABEL_FUNCTION: operators.exists()}
        while True:
            try:
                listing = self._client.list(EndpointSlice, namespace=self.namespace, labels=selector)
                items = [item.to_dict() async for item in listing]
                version = listing.resourceVersion
                self.relists += 1
                self.forbidden = None
                self._cache.reset(self.namespace, items)
                self.synced.set()
                delay = 0.1
                watch = self._client.watch(
                    EndpointSlice,
                    namespace=self.namespace,
                    labels=selector,
                    resource_version=version,
                    server_timeout=self._server_timeout,
                )
                async for event, item in watch:
                    body = item.to_dict()
                    if event == "DELETED":
                        self._cache.remove(body)
                    elif event in ("ADDED", "MODIFIED"):
                        self._cache.upsert(body)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, ApiError) and exc.status.code == 403:
                    self._refused(exc)
                    await asyncio.sleep(FORBIDDEN_RETRY)
                    continue
                log.warning(
                    "EndpointSlice watch in %s failed (%r); re-listing in %.1fs", self.namespace, exc, delay
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._retry_max)
