"""``POST /system/alert``: AlertManager's webhook scales functions with OpenFaaS's arithmetic.

For each alert naming a ``function_name`` (``name.namespace``): a firing alert sets replicas to
``min(current + step, max)`` with ``step = ceil(max * factor / 100)`` from the ``com.openfaas.scale.*``
labels; a resolved alert sets them back to ``com.openfaas.scale.min``. Unlike OpenFaaS CE there is no
ceiling of 5: ``com.openfaas.scale.max`` (default 20) is the only limit.

Behaviour under AlertManager's repeats (docs/autoscaling.md):

* Each *notification* of a firing alert is one step, as in OpenFaaS: AlertManager re-sends a still-firing
  alert every ``repeat_interval``, and that repeat is what grows a function step by step.
* A *duplicate delivery* of the same notification (AlertManager retrying after a slow or failed answer, or
  two AlertManagers of an HA pair) must not add a second step. The alert episode (fingerprint + startsAt) and
  the time of its last applied step are remembered per function; a firing post for the same episode within
  ``duplicate_window`` seconds of that step is acknowledged without scaling. Steps are serialised per
  function, so concurrent duplicates cannot both read the old replica count.
* Resolved is idempotent by nature (set to min). It never wakes a function that the idler scaled to zero,
  and a resolved post for an older episode than the one currently firing is ignored (late delivery).

Functions with ``com.openfaas.scale.factor=0`` (alert scaling off) or with ``com.openfaas.scale.type``
(target tracking by the idler owns them) are left alone. Lookup failures are ignored, as OpenFaaS does; a
failed scale answers 500 so AlertManager retries, and nothing is recorded for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from pyfaas.core.errors import PyfaasError
from pyfaas.core.labels import scaling_policy
from pyfaas.core.models import AlertmanagerAlert, AlertmanagerWebhook
from pyfaas.core.names import split_name
from pyfaas.gateway.inputs import read_model
from pyfaas.gateway.keys import PROVIDER, REGISTRY, SETTINGS
from pyfaas.provider.base import Provider

__all__ = ["ALERT_SCALER", "DUPLICATE_WINDOW", "AlertOutcome", "AlertScaler", "setup_alerts"]

log = logging.getLogger("pyfaas.gateway.system_api.alerts")

DUPLICATE_WINDOW = 1.0
"""Seconds after a step during which the same firing alert is a duplicate delivery, not a repeat. Shorter
than any sensible AlertManager ``group_interval`` (repeats are only sent on its ticks)."""
_FORGET_AFTER = 3600.0
"""Episodes without a step for this long are forgotten (their function was deleted, or AM lost them)."""


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    """What one alert did: ``action`` is scaled | unchanged | duplicate | skipped | failed, or unknown (no
    such function: not counted in the metrics, so a payload cannot invent label values)."""

    function_name: str
    action: str
    replicas: int | None = None
    detail: str = ""


@dataclass(slots=True)
class _Episode:
    fingerprint: str
    starts_at: str
    stepped_at: float


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class AlertScaler:
    """Applies AlertManager notifications to a provider; remembers alert episodes to drop duplicates."""

    def __init__(
        self,
        provider: Provider,
        *,
        default_namespace: str,
        registry: CollectorRegistry | None = None,
        duplicate_window: float = DUPLICATE_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._provider = provider
        self._default_namespace = default_namespace
        self._duplicate_window = duplicate_window
        self._clock = clock
        self._episodes: dict[str, _Episode] = {}
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        """Per-function lock and its number of users; dropped when the last user leaves."""
        self._outcomes = Counter(
            "gateway_alert_outcomes_total",
            "Alerts on /system/alert by outcome: scaled, unchanged, duplicate, skipped, failed",
            ["function_name", "status", "action"],
            registry=registry,
        )

    async def apply(self, webhook: AlertmanagerWebhook) -> list[AlertOutcome]:
        """Apply every alert of one notification (concurrently across functions)."""
        self._forget_stale()
        outcomes = await asyncio.gather(*(self._apply_one(alert) for alert in webhook.alerts))
        for alert, outcome in zip(webhook.alerts, outcomes, strict=True):
            if outcome.function_name and outcome.action != "unknown":
                self._outcomes.labels(outcome.function_name, alert.status, outcome.action).inc()
        return list(outcomes)

    async def _apply_one(self, alert: AlertmanagerAlert) -> AlertOutcome:
        qualified = alert.function_name
        if not qualified:
            return AlertOutcome("", "skipped", detail="no function_name label")
        name, namespace = split_name(qualified, self._default_namespace)
        function_name = f"{name}.{namespace}"
        async with self._serialised(function_name):
            try:
                status = await self._provider.get_function(name, namespace)
            except PyfaasError as exc:
                # OpenFaaS ignores lookup errors for alerts: the alert counts as handled.
                log.info("alert for %s ignored: %s", function_name, exc.message)
                return AlertOutcome(function_name, "unknown", detail=exc.message)
            policy = scaling_policy(status.labels)
            if policy.scale_type is not None:
                return AlertOutcome(function_name, "skipped", detail="target tracking owns this function")
            step = policy.alert_step()
            if step == 0:
                return AlertOutcome(function_name, "skipped", detail="com.openfaas.scale.factor=0")
            current = status.replicas
            now = self._clock()
            episode = self._episodes.get(function_name)
            if alert.status == "firing":
                if (
                    episode is not None
                    and (episode.fingerprint, episode.starts_at) == (alert.fingerprint, alert.startsAt)
                    and now - episode.stepped_at < self._duplicate_window
                ):
                    return AlertOutcome(function_name, "duplicate", replicas=current)
                wanted = min(current + step, policy.max_replicas)
            else:
                if episode is not None and self._older(alert, episode):
                    return AlertOutcome(function_name, "skipped", detail="resolved an older alert episode")
                self._episodes.pop(function_name, None)
                if current == 0:
                    return AlertOutcome(function_name, "unchanged", replicas=0, detail="scaled to zero")
                wanted = policy.min_replicas
            wanted = policy.clamp(wanted)
            if wanted != current:
                try:
                    await self._provider.scale(name, namespace, wanted)
                except PyfaasError as exc:
                    log.warning("alert scaling of %s to %d failed: %s", function_name, wanted, exc.message)
                    return AlertOutcome(function_name, "failed", replicas=current, detail=exc.message)
                log.info("alert %s: %s %d -> %d", alert.status, function_name, current, wanted)
            if alert.status == "firing":
                self._episodes[function_name] = _Episode(alert.fingerprint, alert.startsAt, now)
            action = "scaled" if wanted != current else "unchanged"
            return AlertOutcome(function_name, action, replicas=wanted)

    @contextlib.asynccontextmanager
    async def _serialised(self, function_name: str) -> AsyncIterator[None]:
        """One alert of a function at a time (duplicates must see the step of the first)."""
        lock, users = self._locks.setdefault(function_name, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[function_name]

    @staticmethod
    def _older(alert: AlertmanagerAlert, episode: _Episode) -> bool:
        if alert.fingerprint != episode.fingerprint or alert.startsAt == episode.starts_at:
            return False
        resolved_start, firing_start = _parse_time(alert.startsAt), _parse_time(episode.starts_at)
        return resolved_start is not None and firing_start is not None and resolved_start < firing_start

    def _forget_stale(self) -> None:
        now = self._clock()
        for function_name in [k for k, e in self._episodes.items() if now - e.stepped_at > _FORGET_AFTER]:
            del self._episodes[function_name]


ALERT_SCALER: web.AppKey[AlertScaler] = web.AppKey("alert_scaler", AlertScaler)


def setup_alerts(app: web.Application, *, duplicate_window: float = DUPLICATE_WINDOW) -> None:
    """Register ``POST /system/alert`` (behind the gateway's basic auth, like every ``/system/`` route)."""
    registry = app.get(REGISTRY)
    scaler = AlertScaler(
        app[PROVIDER],
        default_namespace=app[SETTINGS].function_namespace,
        registry=registry,
        duplicate_window=duplicate_window,
    )
    app[ALERT_SCALER] = scaler

    async def receive_alert(request: web.Request) -> web.Response:
        webhook = await read_model(request, AlertmanagerWebhook)
        outcomes = await scaler.apply(webhook)
        failed = [
            {"index": index, "function_name": outcome.function_name, "error": outcome.detail}
            for index, outcome in enumerate(outcomes)
            if outcome.action == "failed"
        ]
        if failed:
            # 5xx makes AlertManager retry the notification; nothing was recorded for the failed alerts.
            body = {"error": "scaling failed for some alerts", "failed": failed}
            return web.json_response(body, status=500)
        return web.Response(status=200)

    app.router.add_post("/system/alert", receive_alert)
