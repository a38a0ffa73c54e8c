"""The worker's composition root: NATS, the JetStream layout, the consumers and the metrics endpoint.

``Worker(settings, registry=...).run()`` runs until its ``stop`` event is set (SIGTERM in ``__main__``),
then stops fetching, lets in-flight calls finish (or releases them) and closes everything it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

import aiohttp
from aiohttp import web
from nats.aio.client import Client as NATS
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from pyfaas.core.telemetry import tracing_from_env
from pyfaas.worker.aio import sleep_or_stop
from pyfaas.worker.callbacks import CallbackSender
from pyfaas.worker.calls import CallProcessor
from pyfaas.worker.consumer import CallConsumer
from pyfaas.worker.invoker import Invoker
from pyfaas.worker.jetstream import connect, ensure_layout
from pyfaas.worker.metrics import WorkerMetrics
from pyfaas.worker.records import RecordStore
from pyfaas.worker.settings import WorkerSettings
from pyfaas.worker.slots import FairSlots

__all__ = ["Worker"]

log = logging.getLogger("pyfaas.worker")


class Worker:
    def __init__(
        self, settings: WorkerSettings, *, registry: CollectorRegistry, stop: asyncio.Event | None = None
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.stop = stop or asyncio.Event()
        self.ready = asyncio.Event()
        self.metrics = WorkerMetrics(registry)
        self.consumer: CallConsumer | None = None
        self.callbacks: CallbackSender | None = None
        self.processor: CallProcessor | None = None
        self.metrics_port: int | None = None
        self._nc: NATS | None = None

    def __repr__(self) -> str:
        return f"Worker({self.consumer!r})"

    async def run(self) -> None:
        settings = self.settings
        layout = settings.layout()
        runner = await self._serve_metrics()
        try:
            self._nc = await connect(settings.nats_servers(), name="pyfaas-worker", stop=self.stop)
            if self._nc is None:
                return
            nc = self._nc
            js = nc.jetstream(timeout=5.0)
            while True:
                try:
                    kv = await ensure_layout(js, layout)
                    break
                except Exception as exc:
                    log.warning("cannot create the JetStream layout yet: %s", exc)
                    if await sleep_or_stop(0.5, self.stop):
                        return
            records = RecordStore(kv)
            connector = aiohttp.TCPConnector(limit=settings.max_inflight + settings.callback_max_inflight)
            async with aiohttp.ClientSession(connector=connector) as session:
                invoker = Invoker(session, gateway=settings.gateway_base(), timeout=settings.upstream_timeout)
                tracing = tracing_from_env(os.environ, "pyfaas-queue-worker")
                self.processor = CallProcessor(
                    tracing=tracing,
                    js=js,
                    layout=layout,
                    records=records,
                    invoker=invoker,
                    default_policy=settings.default_retry(),
                    metrics=self.metrics,
                    stop=self.stop,
                    record_patience=max(60.0, settings.base_ack_wait()),
                    max_payload=lambda: nc.max_payload,
                )
                self.consumer = CallConsumer(
                    js=js,
                    layout=layout,
                    processor=self.processor,
                    metrics=self.metrics,
                    slots=FairSlots(settings.max_inflight),
                    stop=self.stop,
                    ack_wait=settings.ack_wait,
                    default_ack_wait=settings.base_ack_wait(),
                    batch=settings.consumer_pull_max_messages,
                    discovery_interval=settings.discovery_interval,
                    idle_poll=settings.idle_poll,
                    shutdown_timeout=settings.shutdown_timeout,
                    flush=lambda: nc.flush(timeout=2),
                )
                self.callbacks = CallbackSender(
                    js=js,
                    layout=layout,
                    session=session,
                    records=records,
                    metrics=self.metrics,
                    stop=self.stop,
                    max_inflight=settings.callback_max_inflight,
                    max_attempts=settings.callback_max_attempts,
                    initial_wait=settings.callback_initial_wait,
                    max_wait=settings.callback_max_wait,
                    timeout=settings.callback_timeout,
                    idle_poll=settings.idle_poll,
                    ack_wait=settings.base_ack_wait(),
                    shutdown_timeout=settings.shutdown_timeout,
                )
                self.ready.set()
                log.info(
                    "worker started: gateway %s, max_inflight %d",
                    settings.gateway_base(),
                    settings.max_inflight,
                )
                try:
                    await asyncio.gather(self.consumer.run(), self.callbacks.run())
                finally:
                    if tracing is not None:
                        await asyncio.to_thread(tracing.shutdown)  # sends the spans still batched
        finally:
            if self._nc is not None:
                with contextlib.suppress(Exception):
                    await self._nc.drain()
            if runner is not None:
                await runner.cleanup()
            log.info("worker stopped")

    async def _serve_metrics(self) -> web.AppRunner | None:
        if self.settings.metrics_port < 0:
            return None
        app = web.Application()
        app.router.add_get("/metrics", self._metrics_handler)
        app.router.add_get("/healthz", self._health_handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.metrics_host, self.settings.metrics_port)
        await site.start()
        addresses = runner.addresses  # (host, port, ...) of each bound socket
        self.metrics_port = addresses[0][1] if addresses else self.settings.metrics_port
        return runner

    async def _metrics_handler(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _health_handler(self, request: web.Request) -> web.Response:
        healthy = self.ready.is_set() and self._nc is not None and self._nc.is_connected
        return web.json_response(
            {"status": "ok" if healthy else "unavailable"}, status=200 if healthy else 503
        )
