"""The one interface every mode implements, and the factory that builds the mode the settings name."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web
from aiohttp.web_request import BaseRequest

from pyfaas.watchdog.logs import LogSink
from pyfaas.watchdog.modes import MODES
from pyfaas.watchdog.settings import WatchdogSettings

__all__ = ["Runner", "RunnerContext", "StartupFailed", "create_runner"]


class StartupFailed(Exception):
    """The mode cannot start (handler import error, function process failed to start)."""


@dataclass(frozen=True)
class RunnerContext:
    """What a mode needs from the service around it."""

    settings: WatchdogSettings
    environ: Mapping[str, str]
    """The watchdog's environment: the base of every function process's environment."""
    sink: LogSink
    fatal: Callable[[str], None]
    """Call when the mode can no longer serve (e.g. the http-mode child exited): the watchdog exits 1."""


class Runner(Protocol):
    """A watchdog mode: started once, then called for every function request."""

    async def start(self) -> None:
        """Prepare before the listener opens (import the handler, start the function process)."""

    async def ready(self) -> None:
        """Return once the function can serve (e.g. the upstream accepts connections)."""

    async def handle(self, request: BaseRequest, started: float) -> web.StreamResponse:
        """Serve one request. ``started`` is ``time.perf_counter()`` at arrival; a mode that sends headers
        itself sets ``X-Duration-Seconds`` from it."""

    async def stop(self) -> None:
        """Release resources after draining (stop the function process, the thread pool)."""


def create_runner(context: RunnerContext) -> Runner:
    """The runner of ``settings.mode``, from the registry ``pyfaas.watchdog.modes.MODES``."""
    module_name, _, class_name = MODES[context.settings.mode].partition(":")
    runner_class: Callable[[RunnerContext], Runner] = getattr(
        importlib.import_module(module_name), class_name
    )
    return runner_class(context)
