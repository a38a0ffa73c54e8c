"""Where an invocation goes: per-function ready sets kept in memory, least-in-flight choice, scale from zero.

The provider pushes every change of a function's ready set through ``Provider.subscribe``; the router keeps
the latest list per function, so the hot path is a dict lookup and a scan of a few replicas, with no provider
call. A function is asked for once (``ready_replicas``) the first time it is invoked, to learn whether it
exists. Listeners are expected on the event loop's thread (all providers call them there).

Scale from zero is single-flight per function: the first call that finds no ready replica starts one waker
task; every concurrent caller awaits that same task. The waker reads the function once (or starts with the
status the first caller's private-function check read, ``CALL_STATUS``), scales it to
``max(1, com.openfaas.scale.min)`` if its desired count is 0, then sleeps on the ready-set subscription until
a ready replica appears or ``scale_from_zero_timeout`` passes (503 + ``Retry-After``).

A function whose replicas crash at start is not waited for: when the provider reports a ``replicaFailure``
that happened before the replica was ever ready, and nothing is ready, the call fails at once with 503 and
the replica's last words. The provider's failure notice wakes the waker; the status is also re-read every
``_RECHECK`` seconds for providers that learn of failures without telling listeners.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from pyfaas.core.errors import FunctionNotFound, FunctionUnavailable
from pyfaas.core.labels import scaling_policy
from pyfaas.core.models import FunctionStatus, ReplicaFailure
from pyfaas.core.names import qualified_name, split_name
from pyfaas.core.timeouts import declared_timeout
from pyfaas.gateway.metrics import FunctionMetrics, GatewayMetrics
from pyfaas.provider.base import Provider, Replica

__all__ = ["CALL_STATUS", "FunctionRoute", "ReplicaRouter"]

log = logging.getLogger("pyfaas.gateway.invocation.routing")

_RAW_NAME_CACHE_LIMIT = 10_000
CALL_STATUS: web.RequestKey[FunctionStatus] = web.RequestKey("function_status", FunctionStatus)
"""The function's status as an earlier step of this call read it (the private-function check); the router's
first look at the function (timeout, scale from zero) uses it instead of a second provider read."""
_RECHECK = 1.0
"""Seconds between status reads while waiting for a replica (a failure notice wakes the waiter sooner)."""


@dataclass(slots=True, eq=False)
class FunctionRoute:
    """One function as the router knows it: its ready replicas and its metric children."""

    name: str
    namespace: str
    metrics: FunctionMetrics
    replicas: list[Replica] = field(default_factory=list)
    waker: asyncio.Task[None] | None = None
    changed: asyncio.Event | None = None
    failure: ReplicaFailure | None = None
    """The provider's last reported replica failure, as of the last status read (for error messages)."""
    timeout: float | None = None
    """The function's declared ``com.openfaas.timeout`` (None: the gateway's ``upstream_timeout``)."""
    timeout_read: asyncio.Task[None] | None = None
    _turn: int = 0

    @property
    def function_name(self) -> str:
        return self.metrics.function_name

    def pick(self, exclude: Replica | None = None) -> Replica | None:
        """The ready replica with fewest in-flight calls; ties rotate so load spreads at low concurrency."""
        replicas = self.replicas
        count = len(replicas)
        if count == 1:
            only = replicas[0]
            return only if only.ready and only is not exclude else None
        if count == 0:
            return None
        start = self._turn % count
        self._turn = start + 1
        best: Replica | None = None
        for offset in range(count):
            candidate = replicas[(start + offset) % count]
            if not candidate.ready or candidate is exclude:
                continue
            if best is None or candidate.in_flight < best.in_flight:
                best = candidate
                if best.in_flight == 0:
                    break
        return best

    def _notify(self) -> None:
        event, self.changed = self.changed, None
        if event is not None:
            event.set()

    async def wait_change(self, timeout: float) -> bool:  # noqa: ASYNC109 - a bound, not a deadline API
        """Sleep until the ready set changes; False on timeout."""
        if self.changed is None:
            self.changed = asyncio.Event()
        event = self.changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True


class ReplicaRouter:
    def __init__(
        self,
        provider: Provider,
        metrics: GatewayMetrics,
        *,
        default_namespace: str,
        scale_from_zero: bool,
        scale_from_zero_timeout: float,
    ) -> None:
        self._provider = provider
        self._metrics = metrics
        self._default_namespace = default_namespace
        self._scale_from_zero = scale_from_zero
        self._timeout = scale_from_zero_timeout
        self._routes: dict[tuple[str, str], FunctionRoute] = {}
        self._by_raw_name: dict[str, FunctionRoute] = {}

    def attach(self) -> None:
        """Subscribe to the provider's ready-set changes (once, before the provider starts)."""
        self._provider.subscribe(self._on_change)

    def _new_route(self, name: str, namespace: str, replicas: list[Replica]) -> FunctionRoute:
        route = FunctionRoute(
            name=name,
            namespace=namespace,
            metrics=self._metrics.function(qualified_name(name, namespace)),
            replicas=replicas,
        )
        self._routes[(name, namespace)] = route
        return route

    async def _read_timeout(self, route: FunctionRoute) -> None:
        """Learn the function's declared timeout. A changed one comes with new replicas (a rollout), so a
        ready set with a replica not seen before re-reads it; a scale from zero reads it with the status."""
        try:
            status = await self._provider.get_function(route.name, route.namespace)
        except Exception as exc:  # the route works with the default timeout meanwhile
            log.debug("cannot read the timeout of %s: %s", route.function_name, exc)
            return
        route.timeout = declared_timeout(status.annotations)

    def _refresh_timeout(self, route: FunctionRoute) -> None:
        if route.timeout_read is None or route.timeout_read.done():
            route.timeout_read = asyncio.get_running_loop().create_task(self._read_timeout(route))

    def _on_change(self, name: str, namespace: str, replicas: list[Replica]) -> None:
        ready = [replica for replica in replicas if replica.ready]
        route = self._routes.get((name, namespace))
        if route is None:
            route = self._new_route(name, namespace, ready)
            arrived = bool(ready)
        else:
            known = {id(replica) for replica in route.replicas}
            arrived = any(id(replica) not in known for replica in ready)
            route.replicas = ready
        if arrived and (route.waker is None or route.waker.done()):
            with contextlib.suppress(RuntimeError):  # no running loop: a provider notifying at shutdown
                self._refresh_timeout(route)
        route._notify()

    def _forget(self, route: FunctionRoute) -> None:
        self._routes.pop((route.name, route.namespace), None)
        self._by_raw_name = {raw: known for raw, known in self._by_raw_name.items() if known is not route}

    def known(self, name: str, namespace: str) -> FunctionRoute | None:
        return self._routes.get((name, namespace))

    def cached(self, raw_name: str) -> FunctionRoute | None:
        """The route of a name invoked before, without a provider call (the hot path's first try)."""
        return self._by_raw_name.get(raw_name)

    async def route(self, raw_name: str, status: FunctionStatus | None = None) -> FunctionRoute:
        """The route of ``name`` or ``name.namespace``; ``FunctionNotFound`` when the provider has no such.
        ``status``: the function's status as this call already read it (else read when needed)."""
        route = self._by_raw_name.get(raw_name)
        if route is not None:
            return route
        name, namespace = split_name(raw_name, self._default_namespace)
        route = self._routes.get((name, namespace))
        if route is None:
            replicas = await self._provider.ready_replicas(name, namespace)
            # A subscription event may have created the route while we awaited; it is the fresher one.
            route = self._routes.get((name, namespace)) or self._new_route(
                name, namespace, [replica for replica in replicas if replica.ready]
            )
            if route.replicas:  # else the scale from zero reads the status, the timeout with it
                if status is not None:
                    route.timeout = declared_timeout(status.annotations)
                else:
                    self._refresh_timeout(route)
        if route.timeout_read is not None and not route.timeout_read.done():
            await asyncio.shield(route.timeout_read)  # the first call of a function knows its timeout
        if len(self._by_raw_name) < _RAW_NAME_CACHE_LIMIT:
            self._by_raw_name[raw_name] = route
        return route

    async def ready_replica(
        self, route: FunctionRoute, exclude: Replica | None = None, status: FunctionStatus | None = None
    ) -> Replica:
        """A ready replica now, or after a (shared) scale from zero; never a replica that is not ready.
        ``status``: the function's status as this call already read it (a waker it starts begins with it)."""
        replica = route.pick(exclude)
        if replica is not None:
            return replica
        deadline = time.monotonic() + self._timeout
        while True:
            waker = route.waker
            if waker is None or waker.done():
                waker = route.waker = asyncio.create_task(self._wake(route, status))
                status = None  # read once: a later waker of this call reads afresh
                waker.add_done_callback(_retrieve_exception)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._unavailable(route)
            try:
                await asyncio.wait_for(asyncio.shield(waker), remaining)
            except TimeoutError:
                raise self._unavailable(route) from None
            replica = route.pick(exclude)
            if replica is not None:
                return replica
            # Ready replicas exist, but not one this caller may use (it just failed on the only one): wait for
            # the ready set to change rather than waking again at once.
            if not await route.wait_change(max(0.0, deadline - time.monotonic())):
                raise self._unavailable(route)

    async def _wake(self, route: FunctionRoute, status: FunctionStatus | None = None) -> None:
        started = time.monotonic()
        if status is None:
            status = await self._status(route)
        route.timeout = declared_timeout(status.annotations)
        if route.pick() is not None:
            return
        scaled = False
        woken_at: datetime | None = None
        if status.replicas > 0:  # (at zero, a failure before the sleep does not count: waking is a new try)
            self._check_failure(route, status)
        else:
            if not self._scale_from_zero:
                raise FunctionUnavailable(
                    f"function {route.function_name} has 0 replicas and scale_from_zero is disabled",
                    retry_after=self._timeout,
                )
            replicas = max(1, scaling_policy(status.labels).min_replicas)
            log.info("scaling %s from zero to %d", route.function_name, replicas)
            woken_at = datetime.now(UTC)
            await self._provider.scale(route.name, route.namespace, replicas)
            scaled = True
        deadline = started + self._timeout
        while route.pick() is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._unavailable(route)
            await route.wait_change(min(remaining, _RECHECK))
            if route.pick() is None:  # a failure notice, or time to ask again
                self._check_failure(route, await self._status(route), since=woken_at)
        if scaled:
            route.metrics.cold_start(time.monotonic() - started)

    async def _status(self, route: FunctionRoute) -> FunctionStatus:
        try:
            return await self._provider.get_function(route.name, route.namespace)
        except FunctionNotFound:
            self._forget(route)
            raise

    def _check_failure(
        self, route: FunctionRoute, status: FunctionStatus, *, since: datetime | None = None
    ) -> None:
        """Fail now when the function's replicas crash at start (after ``since``) and none is ready."""
        failure = route.failure = status.replicaFailure
        if failure is None or not failure.beforeReady or route.pick() is not None:
            return
        if since is not None and failure.at is not None and failure.at < since:
            return  # from before the function was woken
        message = f"{route.function_name} cannot start: {failure.summary()} (restarts: {failure.restarts})"
        if failure.message:
            message += "; last output of the replica:\n" + failure.message
        raise FunctionUnavailable(message, retry_after=max(1.0, self._timeout / 10))

    def _unavailable(self, route: FunctionRoute) -> FunctionUnavailable:
        message = f"no ready replica of {route.function_name} within {self._timeout:g}s"
        if route.failure is not None:
            message += f" (last replica failure: {route.failure.summary()})"
        return FunctionUnavailable(message, retry_after=max(1.0, self._timeout / 10))


def _retrieve_exception(task: asyncio.Task[None]) -> None:
    # Every caller may have given up already; the outcome is still observed so asyncio does not warn.
    with contextlib.suppress(asyncio.CancelledError):
        task.exception()
