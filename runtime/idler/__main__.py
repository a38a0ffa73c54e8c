"""``pyfaas-idler`` / ``python -m pyfaas.idler``: the scaling controller process.

Settings come from ``os.environ`` (only here); ``-dry-run``/``--dry-run`` (faas-idler's flag) forces dry-run.
SIGTERM/SIGINT end the current sleep at once, let a running round finish, and exit 0. A bad setting prints
the variable's name and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from aiohttp import web
from prometheus_client import CollectorRegistry

from pyfaas.core.errors import ConfigError
from pyfaas.idler.app import create_app
from pyfaas.idler.settings import IdlerSettings

log = logging.getLogger("pyfaas.idler")


async def serve(settings: IdlerSettings) -> None:
    app = create_app(settings, registry=CollectorRegistry())
    runner = web.AppRunner(app, shutdown_timeout=2.0, access_log=None)
    await runner.setup()
    try:
        if settings.metrics_port >= 0:
            site = web.TCPSite(runner, settings.bind_address, settings.metrics_port)
            await site.start()
            log.info("idler metrics on %s", site.name)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="pyfaas-idler", description="pyfaas scaling controller")
    parser.add_argument(
        "-dry-run", "--dry-run", dest="dry_run", action="store_true", help="log, do not scale"
    )
    args = parser.parse_args(argv)
    overrides = {"dry_run": True} if args.dry_run else {}
    try:
        settings = IdlerSettings.from_env(os.environ, **overrides)
    except ConfigError as exc:
        print(f"pyfaas-idler: {exc.message}", file=sys.stderr)
        sys.exit(2)
    level = "DEBUG" if settings.write_debug else settings.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not settings.write_debug:
        # a line per poll (several a second, forever) would bury the scaling decisions and fill the disk
        logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        asyncio.run(serve(settings))
    except ConfigError as exc:
        print(f"pyfaas-idler: {exc.message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
