"""The detached supervisor of ``pyfaas up --detach``: ``python -m pyfaas.cli.local.daemon OPTIONS_JSON``.

Started by the ``up`` command in a session of its own with its output in ``logs/up.log``; it runs the
platform like the foreground command and reports progress in ``status.json`` for the command waiting on it.
SIGTERM (``pyfaas down``) or SIGINT stops it cleanly; SIGHUP is ignored (it has no terminal).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

from pyfaas.cli.local.layout import StateLayout
from pyfaas.cli.local.platform import AlreadyRunning, StartupFailed, UpOptions, run_platform
from pyfaas.cli.local.progress import StatusFileReporter

EXIT_FAILED = 1
EXIT_ALREADY_RUNNING = 3


async def _serve(options: UpOptions, reporter: StatusFileReporter) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: None)

    def ready(summary: dict[str, Any]) -> None:
        print(f"[pyfaas up] ready: gateway {summary['gateway_url']}", flush=True)

    await run_platform(options, os.environ, reporter, stop, ready)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    data = json.loads(args[0])
    run_id = str(data.pop("run_id"))
    options = UpOptions.from_json(data)
    layout = StateLayout.at(options.state_dir)
    reporter = StatusFileReporter(layout, run_id)
    try:
        asyncio.run(_serve(options, reporter))
    except AlreadyRunning:
        reporter.state("failed", error=f"pyfaas is already running with state directory {layout.root}")
        return EXIT_ALREADY_RUNNING
    except StartupFailed:
        return EXIT_FAILED  # already reported by run_platform
    return 0


if __name__ == "__main__":
    sys.exit(main())
