"""Start-up and shutdown: settings → mode → listeners → port file → lock file; SIGTERM drains and exits.

``run(environ, argv)`` holds no global state, so the zygote can call it in a forked child.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from pyfaas.core.errors import ConfigError
from pyfaas.core.telemetry import tracing_from_env
from pyfaas.system.http_guard import GuardedServer
from pyfaas.watchdog.health import Health, lock_present
from pyfaas.watchdog.logs import LineWriter, LogSink, SinkHandler
from pyfaas.watchdog.memory import limit_malloc_arenas, release_free_memory
from pyfaas.watchdog.metrics import WatchdogMetrics
from pyfaas.watchdog.replica_key import key_checking_factory, take_replica_key
from pyfaas.watchdog.runner import RunnerContext, StartupFailed, create_runner
from pyfaas.watchdog.server import Dispatcher, metrics_handler
from pyfaas.watchdog.settings import WatchdogSettings, lock_file_for

__all__ = ["loop_factory", "run"]


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop when installed, else the default loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="pyfaas-watchdog", description="OpenFaaS-compatible function watchdog"
    )
    parser.add_argument(
        "--run-healthcheck",
        "-run-healthcheck",
        action="store_true",
        help="exit 0 if the lock file exists, else 1 (for exec probes)",
    )
    return parser.parse_args(list(argv[1:]))


def run(environ: Mapping[str, str], argv: Sequence[str]) -> int:
    """Run the watchdog until SIGTERM; returns the process exit code."""
    args = _parse_args(argv)
    if args.run_healthcheck:
        # An exec probe needs only the lock file, not a complete (or even valid) configuration.
        lock_file = lock_file_for(environ.get("lock_path", ""), environ.get("TMPDIR", ""))
        return 0 if lock_present(lock_file) else 1
    key, environ = take_replica_key(environ)  # before any function code can read it
    try:
        settings = WatchdogSettings.from_env(environ)
    except ConfigError as exc:
        print(f"pyfaas-watchdog: {exc.message}", file=sys.stderr, flush=True)
        return 2
    limit_malloc_arenas()
    sink = LogSink(1, prefix_function_lines=settings.prefix_logs)
    with (
        _watchdog_logging(sink),
        _captured_stdio(sink, enabled=settings.mode == "python"),
        asyncio.Runner(loop_factory=loop_factory()) as runner,
    ):
        try:
            return runner.run(_serve(settings, environ, sink, key))
        finally:
            sink.attach(None)


@contextlib.contextmanager
def _watchdog_logging(sink: LogSink) -> Iterator[None]:
    handler = SinkHandler(sink)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.removeHandler(handler)


@contextlib.contextmanager
def _captured_stdio(sink: LogSink, *, enabled: bool) -> Iterator[None]:
    """In python mode the handler's prints become function lines of the log."""
    if not enabled:
        yield
        return
    saved = sys.stdout, sys.stderr
    out, err = LineWriter(sink, "stdout"), LineWriter(sink, "stderr")
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        out.flush()
        err.flush()
        sys.stdout, sys.stderr = saved


def _write_port_file(path: str, port: int) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="ascii") as handle:
        handle.write(f"{port}\n")
    os.replace(tmp, path)


async def _serve(
    settings: WatchdogSettings, environ: Mapping[str, str], sink: LogSink, key: str | None = None
) -> int:
    loop = asyncio.get_running_loop()
    sink.attach(loop)
    stop = asyncio.Event()
    outcome: dict[str, Any] = {"code": 0}

    def fatal(reason: str) -> None:
        if not stop.is_set():
            sink.line(f"fatal: {reason}")
            outcome["code"] = 1
            outcome["fatal"] = True
            stop.set()

    def terminate() -> None:
        if not stop.is_set():
            sink.line("SIGTERM: shutting down")
            stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, terminate)

    runner = create_runner(RunnerContext(settings, environ, sink, fatal))
    try:
        await runner.start()
    except StartupFailed as exc:
        sink.line(f"start-up failed: {exc}")
        return 1

    try:
        tracing = tracing_from_env(environ, environ.get("OPENFAAS_NAME") or settings.hostname)
    except ConfigError as exc:
        sink.line(f"start-up failed: {exc}")
        await runner.stop()
        return 1
    health = Health(settings.lock_file, suppress_lock=settings.suppress_lock)
    registry = CollectorRegistry()
    dispatcher: Dispatcher | None = None
    metrics = WatchdogMetrics(registry, lambda: float(dispatcher.in_flight if dispatcher else 0))
    dispatcher = Dispatcher(settings, runner, health, metrics, sink, tracing, keyed=key is not None)
    server = GuardedServer(dispatcher, read_header_timeout=settings.read_header_timeout, access_log=None)
    if key is not None:
        server.request_factory = key_checking_factory(key, server.request_factory)
    main_runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=1.0)
    metrics_runner = web.ServerRunner(metrics_handler(metrics), handle_signals=False, shutdown_timeout=0.5)
    try:
        await main_runner.setup()
        main_socket = _listen(settings.bind_address, settings.port)
        site = web.SockSite(main_runner, main_socket)
        await site.start()
        port = int(main_socket.getsockname()[1])
        if settings.metrics_port:
            await metrics_runner.setup()
            await web.SockSite(metrics_runner, _listen(settings.bind_address, settings.metrics_port)).start()
    except OSError as exc:
        sink.line(f"start-up failed: cannot listen: {exc}")
        await runner.stop()
        return 1

    try:
        if settings.port_file:
            try:
                _write_port_file(settings.port_file, port)
            except OSError as exc:
                fatal(f"cannot write port_file {settings.port_file}: {exc}")
        sink.line(f"Listening on port: {port} (mode {settings.mode})")
        # Everything built so far lives as long as the process: keep it out of the collector's full scans,
        # which would otherwise pause a busy replica for tens of milliseconds.
        gc.collect()
        gc.freeze()
        release_free_memory()
        ready = asyncio.ensure_future(runner.ready())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({ready, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
        elif ready.exception() is not None:
            fatal(f"the function never became ready: {ready.exception()!r}")
        else:
            try:
                health.mark_healthy()
                sink.line("Ready: lock file written" if not settings.suppress_lock else "Ready")
            except OSError as exc:
                fatal(f"cannot write the lock file {settings.lock_file}: {exc}")
        await stopping
        health.mark_unhealthy()
        if not outcome.get("fatal"):
            await asyncio.sleep(settings.grace_period)
        await site.stop()
        if not await dispatcher.wait_idle(settings.write_timeout):
            sink.line(f"shutdown: {dispatcher.in_flight} request(s) still running after write_timeout")
    finally:
        health.mark_unhealthy()
        await main_runner.cleanup()
        await metrics_runner.cleanup()
        await runner.stop()
        if tracing is not None:
            await asyncio.to_thread(tracing.shutdown)  # sends the spans still batched
        sink.line("stopped")
    return int(outcome["code"])


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket, made here rather than by the loop: a numeric address needs no resolver (uvloop
    would start libuv's resolver thread pool just to read it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
