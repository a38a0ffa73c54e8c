"""The scaling controller: one reconcile loop for scale to zero and target tracking.

Every ``reconcile_interval`` (and at the moment an idle function's zero-duration ends, so the duration is
kept to within one load sample rather than one round): list the functions through the gateway's API (every
namespace), sample the load (:mod:`pyfaas.idler.load`), then per function:

1. at zero replicas: nothing (the gateway wakes it on the next call);
2. ``com.openfaas.scale.zero=true`` and idle for ``com.openfaas.scale.zero-duration`` (default
   ``inactivity_duration``) with nothing in flight: scale to 0. Idle time counts from the later of the last
   call and the last round that saw no replica ready, so a function still starting (or never becoming
   ready: a crash loop stays visible at one replica) is not idle;
3. ``com.openfaas.scale.type`` ``rps`` or ``capacity`` (or ``default_scale_type`` for unlabelled functions):
   desired = ceil(load / (target * target-proportion)) within [max(1, min), max], applied in one step,
   scale-down stabilised over ``scale_down_window``. The ``default_scale_type`` fallback stands in for the
   alert path (no Prometheus), so it skips ``com.openfaas.scale.factor=0`` and, like an alert, only adds
   replicas under load: it never goes below a count it did not set itself (``pyfaas scale`` sticks).

Scaling goes through the gateway's ``POST /system/scale-function/{name}`` (basic auth), as faas-idler did,
via the ``RemoteProvider``; in dry-run the decisions are logged (once per change) and counted, not applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from pyfaas.core.errors import PyfaasError
from pyfaas.core.labels import LABEL_SCALE_TARGET, LABEL_SCALE_TYPE, ScalingPolicy, scaling_policy
from pyfaas.core.models import FunctionStatus
from pyfaas.core.names import qualified_name
from pyfaas.idler.decisions import ActivityTracker, Floors, Stabiliser
from pyfaas.idler.load import FunctionLoad, LoadSource
from pyfaas.idler.metrics import IdlerMetrics
from pyfaas.idler.settings import IdlerSettings
from pyfaas.provider.base import Provider

__all__ = ["Action", "Controller"]

log = logging.getLogger("pyfaas.idler")

Reason = Literal["idle", "up", "down"]
_MIN_PAUSE = 0.02


@dataclass(frozen=True, slots=True)
class Action:
    """One scaling decision."""

    name: str
    namespace: str
    current: int
    wanted: int
    reason: Reason

    @property
    def function_name(self) -> str:
        return qualified_name(self.name, self.namespace)


Pause = Callable[[asyncio.Event, float], Awaitable[None]]
"""Waits between rounds: ``pause(stop, seconds)`` returns after ``seconds`` or as soon as ``stop`` is set."""


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


class Controller:
    """Reconciles replicas of every function against its labels and load; see the module docstring.

    ``clock`` and ``pause`` are the loop's time: the defaults are the monotonic clock and a sleep that
    ``stop`` ends; tests pass a fake pair and see every pause the loop asks for."""

    def __init__(
        self,
        settings: IdlerSettings,
        gateway: Provider,
        source: LoadSource,
        metrics: IdlerMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
        pause: Pause = wait_or_stop,
    ) -> None:
        self._settings = settings
        self._gateway = gateway
        self._source = source
        self._metrics = metrics
        self._clock = clock
        self._pause = pause
        self._activity = ActivityTracker()
        self._stabiliser = Stabiliser(settings.scale_down_window)
        self._floors = Floors()
        self._dry_run_logged: dict[str, tuple[int, Reason]] = {}
        self._asleep: set[str] = set()
        """Functions last seen at zero replicas."""
        self._next_due: float | None = None
        """When the earliest idle function reaches its zero-duration (the loop wakes then, not a round
        later, so scale to zero keeps to the duration within one load sample)."""
        metrics.dry_run.set(1 if settings.dry_run else 0)

    # loop ------------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Reconcile until ``stop`` is set; the sleep between rounds ends as soon as it is."""
        log.info(
            "scaling controller: load from %s, reconcile every %ss, default idle %ss%s",
            self._source.description,
            self._settings.reconcile_interval,
            self._settings.inactivity_duration,
            " (dry-run)" if self._settings.dry_run else "",
        )
        if self._settings.target_tracking and self._settings.default_scale_type:
            log.info(
                "functions without %s are tracked as %s (target %s): the fallback when no alert scales them",
                LABEL_SCALE_TYPE,
                self._settings.default_scale_type,
                self._settings.default_scale_target or "default",
            )
        while not stop.is_set():
            started = self._clock()
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one failed round (gateway restarting, network) must not end the loop
                self._metrics.reconcile_errors.inc()
                message = exc.message if isinstance(exc, PyfaasError) else repr(exc)
                log.warning("reconcile failed: %s", message)
            now = self._clock()
            pause = max(0.0, self._settings.reconcile_interval - (now - started))
            if self._next_due is not None:
                pause = min(pause, max(_MIN_PAUSE, self._next_due - now))
            await self._pause(stop, pause)

    async def reconcile(self) -> list[Action]:
        """One round: observe, decide, apply. Returns the decisions (applied unless dry-run)."""
        self._next_due = None  # a failed round must not leave a past deadline behind (no busy loop)
        with self._metrics.reconcile_seconds.time():
            functions = await self._functions()
            loads = await self._source.sample()
            now = self._clock()
            self._activity.observe(now, loads)
            present = [qualified_name(status.name, namespace) for namespace, status in functions]
            self._activity.forget_except(present)
            self._stabiliser.forget_except(present)
            self._floors.forget_except(present)
            self._metrics.forget_except(present)
            self._asleep.intersection_update(present)
            actions = []
            for namespace, status in functions:
                action = self._decide(namespace, status, loads, now)
                if action is not None:
                    actions.append(action)
            for action in actions:
                await self._apply(action, now)
            self._metrics.reconciles.inc()
            return actions

    async def _functions(self) -> list[tuple[str, FunctionStatus]]:
        try:
            namespaces = await self._gateway.list_namespaces()
        except PyfaasError as exc:
            log.debug(
                "namespace list unavailable (%s): using %s", exc.message, self._settings.function_namespace
            )
            namespaces = []
        found: list[tuple[str, FunctionStatus]] = []
        for namespace in namespaces or [self._settings.function_namespace]:
            for status in await self._gateway.list_functions(namespace):
                found.append((status.namespace or namespace, status))
        return found

    # decisions -------------------------------------------------------------------------------------
    def _policy(self, status: FunctionStatus) -> tuple[ScalingPolicy, bool]:
        """The function's policy, and whether it is tracked by the ``default_scale_type`` fallback."""
        labels = dict(status.labels or {})
        policy = scaling_policy(labels)
        if self._settings.default_scale_type and policy.scale_type is None and policy.factor > 0:
            labels[LABEL_SCALE_TYPE] = self._settings.default_scale_type
            if self._settings.default_scale_target is not None:
                labels.setdefault(LABEL_SCALE_TARGET, repr(self._settings.default_scale_target))
            return scaling_policy(labels), True
        return policy, False

    def _decide(
        self, namespace: str, status: FunctionStatus, loads: dict[str, FunctionLoad], now: float
    ) -> Action | None:
        function_name = qualified_name(status.name, namespace)
        current = status.replicas
        if current == 0:
            self._stabiliser.reset(function_name)
            self._asleep.add(function_name)
            return None
        if function_name in self._asleep or status.availableReplicas == 0:
            # Woken by the gateway since the last round, or still starting (no replica ready yet: the
            # waking call waits for one). The source may not show the waking calls yet (Prometheus scrapes
            # later), so the idle clock restarts at every round until a replica is ready: a slow start (an
            # image pull, a pod scheduled late) never eats the function's idle duration.
            self._asleep.discard(function_name)
            self._activity.woke(function_name, now)
        policy, fallback = self._policy(status)
        load = loads.get(function_name, FunctionLoad(started=0.0))
        if policy.zero:
            limit = (
                policy.zero_duration
                if policy.zero_duration is not None
                else self._settings.inactivity_duration
            )
            idle = self._activity.idle_for(function_name, now)
            self._metrics.idle_seconds.labels(function_name).set(idle)
            log.debug("%s idle %.1fs of %.1fs (busy=%s)", function_name, idle, limit, load.busy)
            if idle >= limit and not load.busy:
                return Action(status.name, namespace, current, 0, "idle")
            if function_name in loads:  # without data the idle clock does not run: nothing is due
                due = now + max(0.0, limit - idle)
                self._next_due = due if self._next_due is None else min(self._next_due, due)
        if not self._settings.target_tracking or policy.scale_type not in ("rps", "capacity"):
            return None
        floor = 1
        if fallback:
            floor, new_floor = self._floors.floor(function_name, current)
            if new_floor:  # set by hand (or by an alert): what was recommended before no longer holds it up
                self._stabiliser.reset(function_name)
        value = load.rps if policy.scale_type == "rps" else load.inflight
        raw = max(policy.desired_for_load(value), floor)
        wanted = self._stabiliser.recommend(function_name, now, raw)
        self._metrics.load.labels(function_name).set(value if math.isfinite(value) else 0.0)
        self._metrics.desired.labels(function_name).set(wanted)
        log.debug(
            "%s %s=%.2f raw=%d wanted=%d current=%d",
            function_name,
            policy.scale_type,
            value,
            raw,
            wanted,
            current,
        )
        if wanted == current:
            return None
        return Action(status.name, namespace, current, wanted, "up" if wanted > current else "down")

    async def _apply(self, action: Action, now: float) -> None:
        function_name = action.function_name
        if self._settings.dry_run:
            if self._dry_run_logged.get(function_name) != (action.wanted, action.reason):
                self._dry_run_logged[function_name] = (action.wanted, action.reason)
                self._metrics.scalings.labels(function_name, action.reason).inc()
                log.info(
                    "dry-run: would scale %s %d -> %d (%s)",
                    function_name,
                    action.current,
                    action.wanted,
                    action.reason,
                )
            return
        try:
            await self._gateway.scale(action.name, action.namespace, action.wanted)
        except PyfaasError as exc:
            self._metrics.scale_errors.labels(function_name).inc()
            log.warning("scaling %s to %d failed: %s", function_name, action.wanted, exc.message)
            return
        self._floors.applied(function_name, action.wanted)
        self._metrics.scalings.labels(function_name, action.reason).inc()
        log.info("scaled %s %d -> %d (%s)", function_name, action.current, action.wanted, action.reason)
        if action.wanted == 0:
            self._stabiliser.reset(function_name)
            self._asleep.add(function_name)
