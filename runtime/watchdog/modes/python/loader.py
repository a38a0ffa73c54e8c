"""Import a python-mode function: ``<handler dir>/handler.py`` as ``function.handler``, the way the
python3-http template's ``index.py`` imports it, and work out its calling style."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["LoadedHandler", "load_handler"]

Style = Literal["http", "classic"]
PACKAGE = "function"


@dataclass(frozen=True)
class LoadedHandler:
    function: Callable[..., Any]
    style: Style
    is_async: bool


def detect_style(function: Callable[..., Any]) -> Style:
    """``handle(event, context)`` is python3-http; ``handle(req)`` is the classic template."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return "http"
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    return "classic" if len(positional) == 1 and not variadic else "http"


def load_handler(directory: str, style: Literal["auto", "http", "classic"] = "auto") -> LoadedHandler:
    """Import ``handle`` from ``directory/handler.py``; errors propagate with the handler's traceback."""
    root = Path(directory).resolve()
    if not (root / "handler.py").is_file():
        raise FileNotFoundError(f"handler: no handler.py in {root}")
    init = root / "__init__.py"
    if init.is_file():
        spec = importlib.util.spec_from_file_location(PACKAGE, init, submodule_search_locations=[str(root)])
        if spec is None or spec.loader is None:
            raise ImportError(f"handler: cannot import {init}")
        package = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = package
        spec.loader.exec_module(package)
    else:
        package = types.ModuleType(PACKAGE)
        package.__path__ = [str(root)]
        sys.modules[PACKAGE] = package
    sys.modules.pop(f"{PACKAGE}.handler", None)
    # Sibling modules may also be imported by plain name, as they could be when run from the directory.
    if str(root) not in sys.path:
        sys.path.append(str(root))
    module = importlib.import_module(f"{PACKAGE}.handler")
    function = getattr(module, "handle", None)
    if not callable(function):
        raise AttributeError(f"handler: {root / 'handler.py'} defines no handle() function")
    chosen: Style = detect_style(function) if style == "auto" else style
    return LoadedHandler(function, chosen, inspect.iscoroutinefunction(function))
