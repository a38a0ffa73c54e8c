"""The gateway's composition root: ``create_app(settings, provider, registry=..., async_settings=...)``.

It stores the typed keys of :mod:`pyfaas.gateway.keys` (PROVIDER, REGISTRY, SETTINGS, METRICS, ROUTER; PROXY
and HTTP_SESSION once the app has started; ``call_ledger.CALL_LEDGER`` where the async routes record issued
ids), installs the middlewares (errors → JSON, basic auth on ``/system/*`` and ``/ui/*``, body limit) and
registers every route, one group after the other: the system API, ``/function/NAME``, the async routes (only
with ``async_settings``, as OpenFaaS registers them only when NATS is configured), ``/system/alert``, the
portal and, last because it describes the routes registered before it, ``/system/openapi.json``.

The provider's lifecycle belongs to the app: it is started (after the router subscribed to it) on start-up
and closed on clean-up, after the listener has stopped accepting and in-flight calls have drained.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry

from pyfaas.core.names import qualified_name
from pyfaas.core.telemetry import tracing_from_env
from pyfaas.core.version import __version__
from pyfaas.gateway.async_calls.call_ledger import CALL_LEDGER, CallLedger
from pyfaas.gateway.async_calls.routes import AsyncSettings, setup_async
from pyfaas.gateway.invocation.credentials import CredentialStore, backend_for
from pyfaas.gateway.invocation.function_auth import ASYNC_CALL_TOKEN_TTL, FunctionGuard, setup_function_auth
from pyfaas.gateway.invocation.proxy import FunctionProxy, upstream_session
from pyfaas.gateway.invocation.routing import ReplicaRouter
from pyfaas.gateway.invocation.upstream import UpstreamClient
from pyfaas.gateway.keys import (
    DRAINING,
    HTTP_SESSION,
    METRICS,
    PROVIDER,
    PROXY,
    REGISTRY,
    ROUTER,
    SETTINGS,
    TRACING,
)
from pyfaas.gateway.metrics import GatewayMetrics
from pyfaas.gateway.middlewares import auth_middleware, body_limit_middleware, error_middleware
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.gateway.system_api.alerts import setup_alerts
from pyfaas.gateway.system_api.openapi import setup_openapi
from pyfaas.gateway.system_api.routes import SystemRoutes
from pyfaas.gateway.ui import setup_ui
from pyfaas.provider.base import Provider
from pyfaas.system.credentials import BasicAuthCredentials

__all__ = ["SERVICE_COUNT_INTERVAL", "create_app"]

log = logging.getLogger("pyfaas.gateway")

SERVICE_COUNT_INTERVAL = 5.0
"""Seconds between refreshes of ``gateway_service_count`` (OpenFaaS refreshes every 5 s too)."""


def create_app(
    settings: GatewaySettings,
    provider: Provider,
    *,
    registry: CollectorRegistry,
    async_settings: AsyncSettings | None = None,
) -> web.Application:
    """Build the gateway application on ``provider`` (started and closed with the app)."""
    middlewares: list[Middleware] = [error_middleware]
    if settings.basic_auth:
        middlewares.append(auth_middleware(BasicAuthCredentials.load(settings.secret_mount_path)))
    if settings.max_body_bytes:
        middlewares.append(body_limit_middleware(settings.max_body_bytes))
    # private functions (com.pyfaas.private): credentials checked and removed before the proxy or the queue
    guard = FunctionGuard(
        provider,
        CredentialStore(backend_for(Path(settings.state_dir) / "function-auth", provider)),
        default_namespace=settings.function_namespace,
        async_ttl=ASYNC_CALL_TOKEN_TTL,
    )
    middlewares.append(guard.middleware)
    app = web.Application(
        middlewares=middlewares,
        client_max_size=settings.max_body_bytes or 2**62,
        handler_args={"max_field_size": 16384},
    )
    metrics = GatewayMetrics(registry)
    router = ReplicaRouter(
        provider,
        metrics,
        default_namespace=settings.function_namespace,
        scale_from_zero=settings.scale_from_zero,
        scale_from_zero_timeout=settings.scale_from_zero_timeout,
    )
    app[PROVIDER] = provider
    app[REGISTRY] = registry
    app[SETTINGS] = settings
    app[DRAINING] = asyncio.Event()
    app[METRICS] = metrics
    app[ROUTER] = router
    ledger = CallLedger(
        ttl=settings.async_replay_ttl,
        max_bytes=settings.async_replay_max_bytes,
        max_body=settings.async_replay_max_body,
        issued_ttl=settings.async_replay_issued_ttl,
        max_issued=settings.async_replay_max_calls,
        count_uncached=lambda reason: metrics.async_replay_uncached.labels(reason).inc(),
    )
    app[CALL_LEDGER] = ledger
    tracing = app[TRACING] = tracing_from_env(os.environ, "pyfaas-gateway")

    version = __version__
    system = SystemRoutes(
        provider,
        metrics,
        default_namespace=settings.function_namespace,
        version=version,
        write_timeout=settings.write_timeout,
        prometheus_url=settings.prometheus_url,
    )
    system.register(app.router)
    setup_function_auth(app, guard)
    app.router.add_route("*", "/function/{name:[-a-zA-Z_0-9.]+}{tail:(/.*)?}", _invoke)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        # The HTTP clients need the running loop, so the proxy is built here, before the first request.
        session = upstream_session(settings.upstream_timeout)
        client = UpstreamClient(connect_timeout=min(5.0, settings.upstream_timeout))
        app[HTTP_SESSION] = session
        app[PROXY] = FunctionProxy(
            router,
            session,
            client,
            served_by=f"pyfaas/{version}",
            user_agent=f"pyfaas-gateway/{version}",
            max_body_bytes=settings.max_body_bytes,
            upstream_timeout=settings.upstream_timeout,
            ledger=ledger,
            count_replay=metrics.async_replays.inc,
            tracing=tracing,
        )
        router.attach()
        try:
            await provider.start()
        except BaseException:  # e.g. a read-only state directory: the caller reports it, nothing leaks
            await client.close()
            await session.close()
            raise
        refresher = asyncio.create_task(
            _refresh_service_count(provider, metrics, settings.function_namespace)
        )
        try:
            yield
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
            await provider.close()
            await client.close()
            await session.close()
            if tracing is not None:
                await asyncio.to_thread(tracing.shutdown)  # sends the spans still batched

    app.cleanup_ctx.append(lifecycle)
    app.cleanup_ctx.append(guard.lifecycle)  # after the provider's start: a shared backend may need it

    if async_settings is not None:
        setup_async(app, async_settings)
    setup_alerts(app)
    setup_ui(app)
    setup_openapi(app)
    return app


async def _invoke(request: web.Request) -> web.StreamResponse:
    return await request.app[PROXY].handle(request)


async def _refresh_service_count(provider: Provider, metrics: GatewayMetrics, default_namespace: str) -> None:
    """Keep ``gateway_service_count`` at every function's desired replicas (removing deleted functions)."""
    seen: set[str] = set()
    while True:
        try:
            namespaces = await provider.list_namespaces() or [default_namespace]
            current: dict[str, int] = {}
            for namespace in namespaces:
                for status in await provider.list_functions(namespace):
                    current[qualified_name(status.name, namespace)] = status.replicas
            for function_name, replicas in current.items():
                metrics.service_count.labels(function_name).set(replicas)
            for gone in seen - current.keys():
                with contextlib.suppress(KeyError):
                    metrics.service_count.remove(gone)
            seen = set(current)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failing provider must not kill the refresher
            log.debug("service count refresh failed: %s", exc)
        await asyncio.sleep(SERVICE_COUNT_INTERVAL)
