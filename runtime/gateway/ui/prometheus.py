"""Chart and list figures from Prometheus (when the gateway names one), in the shapes of the own series.

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
_CALLS = "gateway_function_invocation_total"
_BUCKETS = "gateway_functions_seconds_bucket"


class PrometheusUnavailable(Exception):
    """A query failed (unreachable, bad answer); the caller falls back to its own series."""


def _line_queries(function_name: str) -> dict[str, str]:
    selector = f'function_name="{function_name}"'
    total = f"sum(rate({_CALLS}{{{selector}}}[{_RATE_WINDOW}]))"
    errors = f'sum(rate({_CALLS}{{{selector},code=~"5.."}}[{_RATE_WINDOW}]))'
    buckets = f"sum by (le) (rate({_BUCKETS}{{{selector}}}[{_RATE_WINDOW}]))"
    return {
        "rps": total,
        "errorRatio": f"({errors} or vector(0)) / ({total} > 0)",
        "p50": f"histogram_quantile(0.5, {buckets})",
        "p99": f"histogram_quantile(0.99, {buckets})",
    }


def _summary_queries(namespace: str) -> dict[str, str]:
    # namespace is a validated DNS-1123 label, so it is safe inside the regular expression
    selector = f'function_name=~"[^.]+[.]{namespace}"'
    buckets = f"sum by (function_name, le) (rate({_BUCKETS}{{{selector}}}[{_RATE_WINDOW}]))"
    return {
        "requests": f"sum by (function_name) (increase({_CALLS}{{{selector}}}[{_RATE_WINDOW}]))",
        "errors": f'sum by (function_name) (increase({_CALLS}{{{selector},code=~"5.."}}[{_RATE_WINDOW}]))',
        "p50": f"histogram_quantile(0.5, {buckets})",
        "p99": f"histogram_quantile(0.99, {buckets})",
    }


def _finite(raw: Any) -> float | None:
    value = float(raw)
    return value if math.isfinite(value) else None


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
        queries = _line_queries(function_name)
        results = await asyncio.gather(*(self._range(query, start, end, step) for query in queries.values()))
        grid = [round(start + step * index, 3) for index in range(int(seconds // step) + 1)]
        out: dict[str, list[Any]] = {"t": grid}
        for name, values in zip(queries, results, strict=True):
            out[name] = [values.get(at) for at in grid]
        return out

    async def summary(self, namespace: str, *, seconds: float) -> dict[str, dict[str, Any]]:
        """Per function name (without namespace) of ``namespace``: the figures of ``FunctionSummary.wire``."""
        queries = _summary_queries(namespace)
        results = await asyncio.gather(*(self._instant(query) for query in queries.values()))
        by_name = dict(zip(queries, results, strict=True))
        out: dict[str, dict[str, Any]] = {}
        for function_name, requests in by_name["requests"].items():
            if requests is None:
                continue
            errors = by_name["errors"].get(function_name) or 0.0
            out[function_name.rpartition(".")[0]] = {
                "requests": round(requests, 3),
                "errors": round(errors, 3),
                "rate": round(requests / seconds, 4),
                "errorRatio": round(errors / requests, 4) if requests > 0 else None,
                "p50": by_name["p50"].get(function_name),
                "p99": by_name["p99"].get(function_name),
            }
        return out

    async def _instant(self, query: str) -> dict[str, float | None]:
        data = await self._get("/api/v1/query", {"query": query})
        try:
            return {
                str(item["metric"].get("function_name", "")): _finite(item["value"][1])
                for item in data["result"]
            }
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise PrometheusUnavailable(f"unexpected answer: {type(exc).__name__}: {exc}") from exc

    async def _range(self, query: str, start: float, end: float, step: float) -> dict[float, float]:
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        data = await self._get("/api/v1/query_range", params)
        values: dict[float, float] = {}
        try:
            for item in data["result"][:1]:
                for at, raw in item["values"]:
                    value = _finite(raw)
                    if value is not None:
                        values[round(float(at), 3)] = value
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise PrometheusUnavailable(f"unexpected answer: {type(exc).__name__}: {exc}") from exc
        return values

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            async with self._session.get(
                f"{self._base_url}{path}", params=params, timeout=aiohttp.ClientTimeout(total=self._timeout)
            ) as response:
                payload: Any = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise PrometheusUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(payload, dict) or payload.get("status") != "success":
            error = payload.get("error", "query failed") if isinstance(payload, dict) else "not JSON"
            raise PrometheusUnavailable(str(error))
        data = payload.get("data")
        if not isinstance(data, dict):
            raise PrometheusUnavailable("answer without data")
        return data
