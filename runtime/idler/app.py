"""Composition root of ``pyfaas-idler``: the controller and its metrics listener (``/metrics``, ``/healthz``).

``create_app(settings, registry=...)`` builds everything from settings: a ``RemoteProvider`` on the gateway's
API (basic auth from ``secret_mount_path`` when the files exist), the load source (Prometheus when
``prometheus_host`` is set, else the gateway's metrics endpoint) and the controller, whose loop runs in the
app's ``cleanup_ctx`` and stops promptly on shutdown (its sleep waits on an ``asyncio.Event``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from pyfaas.idler.controller import Controller
from pyfaas.idler.load import GatewayMetricsSource, LoadSource, PrometheusSource
from pyfaas.idler.metrics import IdlerMetrics
from pyfaas.idler.settings import IdlerSettings
from pyfaas.provider.remote import RemoteProvider
from pyfaas.system.credentials import BasicAuthCredentials

__all__ = ["CONTROLLER", "create_app", "load_source"]

log = logging.getLogger("pyfaas.idler")

CONTROLLER: web.AppKey[Controller] = web.AppKey("controller", Controller)


def load_source(settings: IdlerSettings, client: httpx.AsyncClient) -> LoadSource:
    if settings.prometheus_url is not None:
        return PrometheusSource(client, settings.prometheus_url, settings.rate_window)
    return GatewayMetricsSource(client, settings.metrics_url, settings.rate_window)


def create_app(settings: IdlerSettings, *, registry: CollectorRegistry) -> web.Application:
    loaded = BasicAuthCredentials.load_if_present(settings.secret_mount_path)
    credentials = None if loaded is None else loaded.pair()
    if credentials is None:
        log.info("no credentials in %s: calling the gateway without basic auth", settings.secret_mount_path)
    gateway = RemoteProvider(
        settings.gateway_base,
        credentials=credentials,
        default_namespace=settings.function_namespace,
        timeout=settings.request_timeout,
        scale_poll_for=0.0,  # the controller re-reads state every round; no background polling
    )
    client = httpx.AsyncClient(timeout=httpx.Timeout(settings.request_timeout))
    metrics = IdlerMetrics(registry)
    controller = Controller(settings, gateway, load_source(settings, client), metrics)

    app = web.Application()
    app[CONTROLLER] = controller

    async def metrics_endpoint(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="OK")

    app.router.add_get("/metrics", metrics_endpoint)
    app.router.add_get("/healthz", healthz)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        await gateway.start()
        stop = asyncio.Event()
        loop = asyncio.create_task(controller.run(stop))
        try:
            yield
        finally:
            stop.set()
            try:
                await asyncio.wait_for(loop, timeout=settings.request_timeout + 1.0)
            except TimeoutError:
                log.warning("the reconcile round did not finish in time; cancelled")
            with contextlib.suppress(asyncio.CancelledError):
                await loop
            await gateway.close()
            await client.aclose()

    app.cleanup_ctx.append(lifecycle)
    return app
