"""Typed application keys of the gateway app (never string keys).

The gateway's ``create_app`` stores these; the route groups (async routes, alerts, UI) read them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from pyfaas.provider.base import Provider

if TYPE_CHECKING:
    from pyfaas.core.telemetry import Tracing
    from pyfaas.gateway.invocation.proxy import FunctionProxy
    from pyfaas.gateway.invocation.routing import ReplicaRouter
    from pyfaas.gateway.metrics import GatewayMetrics
    from pyfaas.gateway.settings import GatewaySettings

PROVIDER: web.AppKey[Provider] = web.AppKey("provider", Provider)
REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("registry", CollectorRegistry)
SETTINGS: web.AppKey[GatewaySettings] = web.AppKey("settings")

METRICS: web.AppKey[GatewayMetrics] = web.AppKey("metrics")
"""The gateway's series (``gateway_function_invocation_inflight`` etc.) for route groups such as alerts."""
ROUTER: web.AppKey[ReplicaRouter] = web.AppKey("router")
"""Per-function ready sets (read-only outside the invocation group)."""
PROXY: web.AppKey[FunctionProxy] = web.AppKey("proxy")
"""The ``/function/NAME`` handler; present once the app has started (it owns the pooled HTTP clients)."""
HTTP_SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("http_session", aiohttp.ClientSession)
"""The shared pooled client session; present once the app has started (cleanup_ctx)."""
DRAINING: web.AppKey[asyncio.Event] = web.AppKey("draining", asyncio.Event)
"""Set when the gateway is shutting down: ``/healthz`` answers 503 while calls are still served."""
TRACING: web.AppKey[Tracing | None] = web.AppKey("tracing")
"""OpenTelemetry span export, or None when off (the default; :mod:`pyfaas.core.telemetry`)."""
