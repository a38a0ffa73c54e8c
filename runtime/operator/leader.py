"""Leader election on a ``coordination.k8s.io/v1`` Lease, the way kube-controller-manager does it.

One replica holds the Lease and acts; the others keep watching it. The holder renews it every
``retry_period``; a candidate takes it over only after it has seen the same record, unrenewed, for a whole
``lease_duration`` (measured on its own clock, so clock skew between nodes does not matter). A holder that
cannot renew within ``renew_deadline`` stops acting before anyone else may take over. Writes use the Lease's
``resourceVersion``, so two candidates can never both win. On shutdown the holder releases the Lease at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from lightkube import AsyncClient
from lightkube.resources.coordination_v1 import Lease

from pyfaas.core.errors import PyfaasError
from pyfaas.provider.kubernetes.errors import ObjectConflict, ObjectMissing, api_errors

__all__ = ["LeaderElection", "LeaseSettings"]

log = logging.getLogger("pyfaas.operator.leader")


@dataclass(frozen=True, slots=True)
class LeaseSettings:
    namespace: str
    name: str = "pyfaas-operator"
    identity: str = ""
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def _lease(body: dict[str, Any]) -> Lease:
    lease: Any = Lease.from_dict(body)
    return cast(Lease, lease)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElection:
    """Run ``lead(stop)`` only while this process holds the Lease; ``stop`` is set when it must step down."""

    def __init__(self, client: AsyncClient, settings: LeaseSettings) -> None:
        self.client = client
        self.settings = settings
        self._observed: tuple[str, float] | None = None
        """(resourceVersion, monotonic time first seen) of the other holder's record."""
        self.is_leader = False

    async def _read(self) -> dict[str, Any] | None:
        s = self.settings
        try:
            with api_errors(f"reading Lease {s.namespace}/{s.name}", not_found=ObjectMissing):
                body: dict[str, Any] = (await self.client.get(Lease, s.name, namespace=s.namespace)).to_dict()
        except ObjectMissing:
            return None
        return body

    def _spec(self, transitions: int, acquired: str | None) -> dict[str, Any]:
        now = _now()
        return {
            "holderIdentity": self.settings.identity,
            "leaseDurationSeconds": max(1, round(self.settings.lease_duration)),
            "acquireTime": acquired or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this process holds the Lease afterwards."""
        s = self.settings
        current = await self._read()
        if current is None:
            body = {"metadata": {"name": s.name, "namespace": s.namespace}, "spec": self._spec(0, None)}
            try:
                with api_errors(f"creating Lease {s.namespace}/{s.name}", conflict=ObjectConflict):
                    await self.client.create(_lease(body))
            except ObjectConflict:
                return False
            return True
        spec = current.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        version = current["metadata"]["resourceVersion"]
        transitions = int(spec.get("leaseTransitions") or 0)
        if holder == s.identity:
            acquired = spec.get("acquireTime")
            new_spec = self._spec(transitions, acquired if isinstance(acquired, str) else None)
        else:
            if holder and not self._expired(version, float(spec.get("leaseDurationSeconds") or 0)):
                return False
            new_spec = self._spec(transitions + 1, None)
        body = {**current, "spec": new_spec}
        try:
            with api_errors(
                f"writing Lease {s.namespace}/{s.name}", conflict=ObjectConflict, not_found=ObjectMissing
            ):
                await self.client.replace(_lease(body))
        except (ObjectConflict, ObjectMissing):
            return False
        self._observed = None
        return True

    def _expired(self, version: str, duration: float) -> bool:
        now = time.monotonic()
        if self._observed is None or self._observed[0] != version:
            self._observed = (version, now)
            return False
        return now - self._observed[1] >= max(duration, self.settings.lease_duration)

    async def release(self) -> None:
        """Give the Lease up (holder cleared) so another replica takes over without waiting."""
        s = self.settings
        with contextlib.suppress(PyfaasError):
            current = await self._read()
            if current is None or (current.get("spec") or {}).get("holderIdentity") != s.identity:
                return
            spec = {**current["spec"], "holderIdentity": "", "leaseDurationSeconds": 1}
            with api_errors(f"releasing Lease {s.namespace}/{s.name}"):
                await self.client.replace(_lease({**current, "spec": spec}))
            log.info("released leadership (%s)", s.identity)

    async def run(
        self, lead: Callable[[asyncio.Event], Coroutine[Any, Any, None]], shutdown: asyncio.Event
    ) -> None:
        """Acquire, lead until the Lease is lost or ``shutdown`` is set, repeat; release on the way out."""
        s = self.settings
        try:
            while not shutdown.is_set():
                if not await self._attempt():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(shutdown.wait(), s.retry_period)
                    continue
                log.info("acquired leadership (%s)", s.identity)
                self.is_leader = True
                stop = asyncio.Event()
                task = asyncio.create_task(lead(stop))
                try:
                    await self._hold(task, shutdown)
                finally:
                    self.is_leader = False
                    stop.set()
                    await _finish(task)
                if (
                    task.done()
                    and not task.cancelled()
                    and task.exception() is None
                    and not shutdown.is_set()
                ):
                    log.info("the operator stopped (a signal kopf received, or a fatal error); leaving")
                    return
                log.info("stopped leading (%s)", s.identity)
        finally:
            await self.release()

    async def _attempt(self) -> bool:
        try:
            return await self.try_acquire_or_renew()
        except PyfaasError as exc:
            log.warning("leader election: %s", exc.message)
            return False

    async def _hold(self, task: asyncio.Task[None], shutdown: asyncio.Event) -> None:
        s = self.settings
        renewed = time.monotonic()
        while not task.done() and not shutdown.is_set():
            waiters = [task, asyncio.ensure_future(shutdown.wait())]
            await asyncio.wait(waiters, timeout=s.retry_period, return_when=asyncio.FIRST_COMPLETED)
            waiters[1].cancel()
            if task.done() or shutdown.is_set():
                return
            if await self._attempt():
                renewed = time.monotonic()
            elif time.monotonic() - renewed > s.renew_deadline:
                log.warning("could not renew the Lease within %.0f s: stepping down", s.renew_deadline)
                return
            else:
                current = await self._read_quietly()
                holder = ((current or {}).get("spec") or {}).get("holderIdentity")
                if current is not None and holder not in (s.identity, ""):
                    log.warning("the Lease is held by %s: stepping down", holder)
                    return

    async def _read_quietly(self) -> dict[str, Any] | None:
        try:
            return await self._read()
        except PyfaasError:
            return None


async def _finish(task: asyncio.Task[None], grace: float = 10.0) -> None:
    """Let ``task`` stop by itself (its stop flag is set), cancelling it after ``grace`` seconds."""
    done, _ = await asyncio.wait([task], timeout=grace)
    if not done:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
