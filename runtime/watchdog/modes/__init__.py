"""Watchdog modes: each implements ``pyfaas.watchdog.runner.Runner``; ``MODES`` is the registry.

A mode is one module (python mode: a package with its helpers) registered here by name. Modules are
imported only when their mode is chosen, so a replica loads only its own (the zygote imports them all on
purpose). Adding a mode: write the module, add one line to ``MODES`` (and to ``FORKING_MODES`` if it starts
a process per request, which makes ``fprocess`` required).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["FORKING_MODES", "MODES", "PROCESS_MODES"]

MODES: Mapping[str, str] = {
    "streaming": "pyfaas.watchdog.modes.streaming:StreamingRunner",
    "serializing": "pyfaas.watchdog.modes.serializing:SerializingRunner",
    "fork": "pyfaas.watchdog.modes.fork:ForkRunner",
    "http": "pyfaas.watchdog.modes.http:HttpRunner",
    "static": "pyfaas.watchdog.modes.static:StaticRunner",
    "python": "pyfaas.watchdog.modes.python.mode:PythonRunner",
}
"""Mode name (the ``mode`` variable) → ``module:class`` of its runner; ``streaming`` is the default."""

FORKING_MODES: frozenset[str] = frozenset({"streaming", "serializing", "fork"})
"""Modes that start ``fprocess`` once per request (``modes.per_request``)."""
PROCESS_MODES: frozenset[str] = FORKING_MODES | {"http"}
"""Modes that run ``fprocess`` at all: it is required in them."""
