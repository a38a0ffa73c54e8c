"""The small JSON API the portal needs beyond ``/system/*`` (all under ``/system/ui/``, so behind auth).

* ``GET /system/ui/info``                         provider, local mode?, async enabled?, chart source
* ``GET /system/ui/summary?namespace=NS``         per function: last minute's requests, errors, rate, p50/p99
* ``GET /system/ui/series?name=FN&namespace=NS&seconds=300``   chart lines (gateway ring or Prometheus)

The store's endpoints are in :mod:`pyfaas.gateway.ui.store`; ``info`` carries the portal's theme
(:mod:`pyfaas.gateway.ui.theme`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from pyfaas.core.errors import ProviderError, ValidationFailed
from pyfaas.core.names import qualified_name, validate_function_name
from pyfaas.gateway.inputs import namespace_of
from pyfaas.gateway.keys import HTTP_SESSION, PROVIDER, SETTINGS
from pyfaas.gateway.ui.prometheus import PrometheusSeries, PrometheusUnavailable
from pyfaas.gateway.ui.series import SeriesStore
from pyfaas.gateway.ui.theme import theme_info

__all__ = ["LOCAL_PROVIDER", "UiApi"]

log = logging.getLogger("pyfaas.gateway.ui")

LOCAL_PROVIDER = "pyfaas-local"
"""``/system/info`` provider name of the local provider: store entries run from their handler folders."""
SUMMARY_SECONDS = 60.0
MAX_SERIES_SECONDS = 3600.0


class UiApi:
    def __init__(self, store: SeriesStore) -> None:
        self._store = store

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_get("/system/ui/info", self.info)
        router.add_get("/system/ui/summary", self.summary)
        router.add_get("/system/ui/series", self.series)

    async def info(self, request: web.Request) -> web.Response:
        provider = await request.app[PROVIDER].info()
        settings = request.app[SETTINGS]
        async_enabled = any(
            resource.canonical.startswith("/system/async/") for resource in request.app.router.resources()
        )
        return web.json_response(
            {
                "provider": provider.provider,
                "orchestration": provider.orchestration,
                "local": provider.provider == LOCAL_PROVIDER,
                "defaultNamespace": settings.function_namespace,
                "async": async_enabled,
                "chartSource": "prometheus" if settings.prometheus_url else "gateway",
                "sampleInterval": self._store.interval,
                "theme": theme_info(settings),
            }
        )

    async def summary(self, request: web.Request) -> web.Response:
        settings = request.app[SETTINGS]
        namespace = namespace_of(request, settings.function_namespace)
        body: dict[str, Any] = {"namespace": namespace, "seconds": SUMMARY_SECONDS}
        session = request.app.get(HTTP_SESSION)
        if settings.prometheus_url and session is not None:
            try:
                functions = await PrometheusSeries(settings.prometheus_url, session).summary(
                    namespace, seconds=SUMMARY_SECONDS
                )
                return web.json_response({**body, "source": "prometheus", "functions": functions})
            except PrometheusUnavailable as exc:
                body["fallback"] = f"Prometheus query failed ({exc}); figures from this gateway only"
        suffix = "." + namespace
        functions = {
            function_name[: -len(suffix)]: self._store.summary(function_name, seconds=SUMMARY_SECONDS).wire()
            for function_name in self._store.functions()
            if function_name.endswith(suffix)
        }
        return web.json_response({**body, "source": "gateway", "functions": functions})

    async def series(self, request: web.Request) -> web.Response:
        settings = request.app[SETTINGS]
        name = validate_function_name(request.query.get("name", ""), field="name")
        namespace = namespace_of(request, settings.function_namespace)
        seconds = _seconds(request.query.get("seconds", "300"))
        function_name = qualified_name(name, namespace)
        # the server's clock: the page draws "now" from it, so a browser with a skewed clock still lines up
        body: dict[str, Any] = {"name": name, "namespace": namespace, "seconds": seconds, "now": time.time()}
        wanted = request.query.get("source", "auto")
        if wanted not in ("auto", "gateway", "prometheus"):
            raise ValidationFailed("source must be auto, gateway or prometheus", field="source")
        session = request.app.get(HTTP_SESSION)
        if wanted != "gateway" and settings.prometheus_url and session is not None:
            step = max(1.0, seconds / 150)
            try:
                lines = await PrometheusSeries(settings.prometheus_url, session).series(
                    function_name, seconds=seconds, step=step
                )
                return web.json_response({**body, "source": "prometheus", "interval": step, **lines})
            except PrometheusUnavailable as exc:
                if wanted == "prometheus":
                    raise ProviderError(f"Prometheus query failed: {exc}", field="source") from exc
                body["fallback"] = f"Prometheus query failed ({exc}); showing the gateway's own series"
        lines = self._store.series(function_name, seconds=seconds)
        return web.json_response({**body, "source": "gateway", "interval": self._store.interval, **lines})


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValidationFailed(f"seconds must be a number, got {raw!r}", field="seconds") from exc
    if not 10 <= value <= MAX_SERIES_SECONDS:
        raise ValidationFailed(f"seconds must be between 10 and {MAX_SERIES_SECONDS:g}", field="seconds")
    return value
