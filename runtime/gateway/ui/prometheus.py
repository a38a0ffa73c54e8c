"""Chart data from Prometheus (when the gateway names one): the same four lines as the in-memory series.

With several gateway replicas only Prometheus sees every call, so it is preferred when configured; the
portal falls back to the gateway's own series when a query fails.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import aiohttp

__all__ = ["PrometheusSeries", "PrometheusUnavailable"]

_RATE_WINDOW = "1m"


class PrometheusUnavailable(Exception):
    """A range query failed (unreachable, bad answer); the caller falls back to its own series."""


def _queries(function_name: str) -> dict[str, str]:
    selector = f'function_name="{function_name}"'
    total = f"sum(rate(gateway_function_invocation_total{{{selector}}}[{_RATE_WINDOW}]))"
    errors = f'sum(rate(gateway_function_invocation_total{{{selector},code=~"5.."}}[{_RATE_WINDOW}]))'
    buckets = f"sum by (le) (rate(gateway_functions_seconds_bucket{{{selector}}}[{_RATE_WINDOW}]))"
    return {
        "rps": total,
        "errorRatio": f"({errors} or vector(0)) / ({total} > 0)",
        "p50": f"histogram_quantile(0.5, {buckets})",
        "p99": f"histogram_quantile(0.99, {buckets})",
    }


class PrometheusSeries:
    def __init__(self, base_url: str, session: aiohttp.ClientSession, *, timeout: float = 3.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._session = session
        self._timeout = timeout

    async def series(self, function_name: str, *, seconds: float, step: float) -> dict[str, Any]:
        """Parallel lists ``t``, ``rps``, ``errorRatio``, ``p50``, ``p99`` on a common time grid."""
        step = max(1.0, step)
        end = round(time.time(), 3)
        start = round(end - seconds, 3)
        names = list(_queries(function_name))
        results = await asyncio.gather(
            *(self._range(query, start, end, step) for query in _queries(function_name).values())
        )
        grid = [round(start + step * index, 3) for index in range(int(seconds // step) + 1)]
        out: dict[str, list[Any]] = {"t": grid}
        for name, values in zip(names, results, strict=True):
            out[name] = [values.get(round(at, 3)) for at in grid]
        return out

    async def _range(self, query: str, start: float, end: float, step: float) -> dict[float, float]:
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        try:
            async with self._session.get(
                f"{self._base_url}/api/v1/query_range",
                params=params,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                payload: Any = await response.json(content_type=None)
            if payload.get("status") != "success":
                raise PrometheusUnavailable(str(payload.get("error", "query failed")))
            values: dict[float, float] = {}
            for item in payload["data"]["result"][:1]:
                for at, raw in item["values"]:
                    value = float(raw)
                    if math.isfinite(value):
                        values[round(float(at), 3)] = value
            return values
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PrometheusUnavailable(f"{type(exc).__name__}: {exc}") from exc
