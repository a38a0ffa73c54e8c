"""``pyfaas-gateway`` / ``python -m pyfaas.gateway``: the gateway process.

Settings and the provider are built here, from ``os.environ`` (the only place it is read). Two listeners:
the API on ``port`` and Prometheus metrics on ``metrics_port``. SIGTERM/SIGINT: ``/healthz`` answers 503 and
calls are still served for ``shutdown_delay`` (0 unless set), then stop accepting, let in-flight calls finish
(up to ``write_timeout``), close the provider (local replicas drain and stop), exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry, disable_created_metrics

from pyfaas.core.errors import ConfigError, PyfaasError
from pyfaas.gateway.app import create_app
from pyfaas.gateway.async_calls.routes import AsyncSettings
from pyfaas.gateway.keys import DRAINING
from pyfaas.gateway.metrics import create_metrics_app
from pyfaas.gateway.settings import GatewaySettings
from pyfaas.provider.base import Provider
from pyfaas.provider.factory import ProviderChoice, create_provider
from pyfaas.system.http_guard import GuardedAppRunner

log = logging.getLogger("pyfaas.gateway")

_NATS_VARIABLES = ("nats_url", "faas_nats_address", "nats_host")


def build_provider(settings: GatewaySettings, environ: Mapping[str, str]) -> Provider:
    """The provider named by ``settings.provider``, from the provider layer's factory."""
    return create_provider(
        ProviderChoice(
            kind=settings.provider,
            environ=environ,
            default_namespace=settings.function_namespace,
            state_dir=Path(settings.state_dir),
            max_body_bytes=settings.max_body_bytes,  # replicas accept what the gateway accepts
            remote_url=settings.functions_provider_url,
            credentials_dir=settings.secret_mount_path if settings.basic_auth else None,
            timeout=settings.upstream_timeout,
        )
    )


def build_async_settings(environ: Mapping[str, str]) -> AsyncSettings | None:
    """Async invocation only when NATS is configured (as OpenFaaS registers /async-function only then)."""
    if not any(environ.get(name) for name in _NATS_VARIABLES):
        return None
    return AsyncSettings.from_env(environ)


async def serve(settings: GatewaySettings, provider: Provider, async_settings: AsyncSettings | None) -> None:
    registry = CollectorRegistry()
    app = create_app(settings, provider, registry=registry, async_settings=async_settings)
    runner = GuardedAppRunner(
        app,
        read_header_timeout=settings.read_header_timeout,
        shutdown_timeout=settings.write_timeout,
        access_log=None,
    )
    metrics_runner = web.AppRunner(create_metrics_app(registry), shutdown_timeout=5.0, access_log=None)
    await runner.setup()
    await metrics_runner.setup()
    try:
        await web.TCPSite(runner, settings.bind_address, settings.port, backlog=1024).start()
        await web.TCPSite(metrics_runner, settings.bind_address, settings.metrics_port).start()
        log.info(
            "gateway listening on %s:%d (metrics on :%d), provider %s",
            settings.bind_address,
            settings.port,
            settings.metrics_port,
            settings.provider,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        if settings.shutdown_delay > 0:
            app[DRAINING].set()
            log.info(
                "shutting down: serving %gs more while load balancers take this gateway out",
                settings.shutdown_delay,
            )
            await asyncio.sleep(settings.shutdown_delay)
        log.info("shutting down: draining in-flight calls")
    finally:
        await runner.cleanup()  # stops the listener, waits for handlers, then closes the provider
        await metrics_runner.cleanup()


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    disable_created_metrics()  # type: ignore[no-untyped-call]  # OpenFaaS's Go client exposes no *_created series
    try:
        settings = GatewaySettings.from_env(os.environ)
        provider = build_provider(settings, os.environ)
        async_settings = build_async_settings(os.environ)
    except ConfigError as exc:
        print(f"pyfaas-gateway: {exc.message}", file=sys.stderr)
        sys.exit(2)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        run = asyncio.run
    else:
        run = uvloop.run
    try:
        run(serve(settings, provider, async_settings))
    except PyfaasError as exc:  # e.g. a state directory that is read-only or on a full disk
        print(f"pyfaas-gateway: cannot start: {exc.message}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
