"""Typed application keys of the gateway app (never string keys).

The gateway's ``create_app`` stores these; extension modules (async routes, alerts, UI) read them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry

from runtime.provider.base import Provider

if TYPE_CHECKING:
    from runtime.gateway.settings import GatewaySettings

PROVIDER: web.AppKey[Provider] = web.AppKey("provider", Provider)
REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("registry", CollectorRegistry)
SETTINGS: web.AppKey[GatewaySettings] = web.AppKey("settings")
