"""``pyfaas-worker`` / ``python -m pyfaas.worker``: settings from the environment, run until SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from prometheus_client import CollectorRegistry

from pyfaas.core.errors import ConfigError
from pyfaas.worker.app import Worker
from pyfaas.worker.settings import WorkerSettings


async def _run(settings: WorkerSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await Worker(settings, registry=CollectorRegistry(), stop=stop).run()


def main() -> int:
    try:
        settings = WorkerSettings.from_env(os.environ)
    except ConfigError as exc:
        print(f"pyfaas-worker: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(_run(settings))
    else:
        uvloop.run(_run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
