"""Where the controller learns each function's load: Prometheus (PromQL), or the gateway's metrics directly.

Both sources answer the same question, per ``function_name`` (``name.namespace``) they have data for (any of
its started, in-flight or ``gateway_service_count`` series exists), as a :class:`FunctionLoad`:
how many invocations were started so far (a counter, for activity), the started rate over ``rate_window``
(for ``rps`` targets), the in-flight average over that window (for ``capacity`` targets) and whether calls
are in flight right now (never scale a busy function to zero).

The gateway exposes the started counter as ``gateway_function_invocation_started`` (OpenFaaS's name) or, with
the Python client, ``gateway_function_invocation_started_total``; both names are read.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from prometheus_client.parser import text_string_to_metric_families

from pyfaas.core.alerting import prom_duration
from pyfaas.core.errors import ProviderError

__all__ = [
    "STARTED_METRICS",
    "FunctionLoad",
    "GatewayMetricsSource",
    "LoadSource",
    "PrometheusSource",
    "parse_gateway_metrics",
]

STARTED_METRICS = ("gateway_function_invocation_started", "gateway_function_invocation_started_total")
INFLIGHT_METRIC = "gateway_function_invocation_inflight"
SERVICE_COUNT_METRIC = "gateway_service_count"
_STARTED_SELECTOR = '{__name__=~"gateway_function_invocation_started(_total)?"}'


@dataclass(frozen=True, slots=True)
class FunctionLoad:
    started: float
    """Invocations started so far (summed over gateways); any change means activity."""
    rps: float = 0.0
    """Started invocations per second over the rate window."""
    inflight: float = 0.0
    """Average in-flight invocations over the rate window."""
    busy: bool = False
    """Invocations are in flight right now."""


class LoadSource(Protocol):
    description: str

    async def sample(self) -> dict[str, FunctionLoad]:
        """Current load of every function the gateway has metrics for; ``ProviderError`` on failure."""
        ...


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


class PrometheusSource:
    """Four instant PromQL queries per sample (run concurrently) against ``/api/v1/query``."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, rate_window: float) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/api/v1/query"
        window = prom_duration(rate_window)
        self._queries = {
            "started": f"sum by (function_name) ({_STARTED_SELECTOR})",
            "rps": f"sum by (function_name) (rate({_STARTED_SELECTOR}[{window}]))",
            "inflight": f"sum by (function_name) (avg_over_time({INFLIGHT_METRIC}[{window}]))",
            "busy": f"sum by (function_name) ({INFLIGHT_METRIC})",
            "known": f"sum by (function_name) ({SERVICE_COUNT_METRIC})",
        }
        self.description = f"Prometheus at {base_url}"

    async def _query(self, promql: str) -> dict[str, float]:
        try:
            response = await self._client.get(self._url, params={"query": promql})
            response.raise_for_status()
            body: Any = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderError(f"Prometheus query failed ({self._url}): {exc}") from exc
        if not isinstance(body, dict) or body.get("status") != "success":
            raise ProviderError(f"Prometheus answered an error: {str(body)[:200]}")
        values: dict[str, float] = {}
        for item in body.get("data", {}).get("result", []):
            function_name = item.get("metric", {}).get("function_name")
            if function_name:
                values[function_name] = _finite(float(item["value"][1]))
        return values

    async def sample(self) -> dict[str, FunctionLoad]:
        names = list(self._queries)
        results = await asyncio.gather(*(self._query(self._queries[name]) for name in names))
        by_name = dict(zip(names, results, strict=True))
        known = by_name["known"].keys() | by_name["started"].keys() | by_name["busy"].keys()
        return {
            function_name: FunctionLoad(
                started=by_name["started"].get(function_name, 0.0),
                rps=by_name["rps"].get(function_name, 0.0),
                inflight=by_name["inflight"].get(function_name, 0.0),
                busy=by_name["busy"].get(function_name, 0.0) > 0,
            )
            for function_name in known
        }


def parse_gateway_metrics(text: str) -> dict[str, tuple[float, float]]:
    """(started, in flight) per function from the gateway's Prometheus text exposition; a function with only
    a ``gateway_service_count`` series (deployed, never called) is present with zeros."""
    values: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in STARTED_METRICS:
                slot = 0
            elif sample.name == INFLIGHT_METRIC:
                slot = 1
            elif sample.name == SERVICE_COUNT_METRIC:
                slot = 2
            else:
                continue
            function_name = sample.labels.get("function_name")
            if function_name:
                values.setdefault(function_name, [0.0, 0.0, 0.0])[slot] += _finite(float(sample.value))
    return {name: (pair[0], pair[1]) for name, pair in values.items()}


@dataclass(slots=True)
class _Point:
    at: float
    started: float
    inflight: float


class GatewayMetricsSource:
    """Scrapes the gateway's ``/metrics`` itself and computes rates from its own short history.

    The rate uses the oldest kept scrape that is at most ``rate_window`` old (or the newest older one, so two
    scrapes always suffice); a counter that went down (gateway restart) restarts the history.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        metrics_url: str,
        rate_window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._url = metrics_url
        self._window = rate_window
        self._clock = clock
        self._history: dict[str, deque[_Point]] = {}
        self.description = f"gateway metrics at {metrics_url}"

    async def sample(self) -> dict[str, FunctionLoad]:
        try:
            response = await self._client.get(self._url)
            response.raise_for_status()
            text = response.text
        except httpx.HTTPError as exc:
            raise ProviderError(f"scraping {self._url} failed: {exc}") from exc
        try:
            current = parse_gateway_metrics(text)
        except ValueError as exc:
            raise ProviderError(f"{self._url} is not Prometheus text: {exc}") from exc
        return self.observe(self._clock(), current)

    def observe(self, now: float, current: Mapping[str, tuple[float, float]]) -> dict[str, FunctionLoad]:
        """Add one scrape taken at ``now`` and return every function's load."""
        for gone in self._history.keys() - current.keys():
            del self._history[gone]
        loads: dict[str, FunctionLoad] = {}
        for function_name, (started, inflight) in current.items():
            history = self._history.setdefault(function_name, deque())
            if history and started < history[-1].started:
                history.clear()
            history.append(_Point(now, started, inflight))
            # Keep one point older than the window, so a rate always has two points when two exist.
            while len(history) > 2 and history[1].at <= now - self._window:
                history.popleft()
            loads[function_name] = self._load(history)
        return loads

    def _load(self, history: deque[_Point]) -> FunctionLoad:
        last = history[-1]
        first = history[0]
        elapsed = last.at - first.at
        rps = (last.started - first.started) / elapsed if elapsed > 0 else 0.0
        in_window = [p.inflight for p in history if p.at > last.at - self._window] or [last.inflight]
        return FunctionLoad(
            started=last.started,
            rps=max(0.0, rps),
            inflight=sum(in_window) / len(in_window),
            busy=last.inflight > 0,
        )
