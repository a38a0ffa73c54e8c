"""Import layers, checked from the source (AST) of every module under ``runtime/`` and ``infra/``.

core ← system ← provider ← services (gateway, worker, idler, cli), which never import each other; the
watchdog imports core and system (OS and HTTP plumbing); ``infra`` and the function store catalog
(``pyfaas.store``, shared by the CLI and portal) import only ``pyfaas.core``. Spawning
``python -m pyfaas.watchdog`` is a string, not an import.
Imports under ``if TYPE_CHECKING:`` count too: they couple the code just the same.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest
from aiohttp import web

from pyfaas.core import errors

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("pyfaas.gateway", "pyfaas.worker", "pyfaas.idler", "pyfaas.cli")
ALLOWED: dict[str, frozenset[str]] = {
    "pyfaas": frozenset({"pyfaas.core"}),
    "pyfaas.__main__": frozenset({"pyfaas.core", "pyfaas.cli"}),  # python -m pyfaas runs the CLI
    "pyfaas.core": frozenset(),
    "pyfaas.system": frozenset({"pyfaas.core"}),
    "pyfaas.provider": frozenset({"pyfaas.core", "pyfaas.system"}),
    "pyfaas.watchdog": frozenset({"pyfaas.core", "pyfaas.system"}),
    "pyfaas.store": frozenset({"pyfaas.core"}),
    "pyfaas.infra": frozenset({"pyfaas.core"}),
    "pyfaas.operator": frozenset({"pyfaas.core", "pyfaas.provider"}),
    "pyfaas.build": frozenset({"pyfaas.core"}),  # the image builder; the CLI's build/push commands use it
    **{
        service: frozenset({"pyfaas.core", "pyfaas.system", "pyfaas.provider", "pyfaas.store"})
        for service in SERVICES
    },
    "pyfaas.cli": frozenset(
        {"pyfaas.core", "pyfaas.system", "pyfaas.provider", "pyfaas.store", "pyfaas.build"}
    ),
}
"""Layer → the other layers it may import (its own layer is always allowed)."""


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to, or None when it is not ours."""
    best = None
    for layer in ALLOWED:
        if (module == layer or module.startswith(layer + ".")) and (best is None or len(layer) > len(best)):
            best = layer
    return best


SOURCE_FOLDERS = {"runtime": ("pyfaas",), "infra": ("pyfaas", "infra")}
"""Source folder → the import package it holds (``runtime/`` is ``pyfaas``, ``infra/``, ``pyfaas.infra``)."""


def module_name(path: Path, root: Path) -> str:
    folder, *rest = path.relative_to(root).with_suffix("").parts
    parts = [*SOURCE_FOLDERS[folder], *rest]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join([*base, target] if target else base)


def imported_modules(source: str, module: str, *, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, dotted target) for every import in ``source``, relative ones resolved against ``module``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = _resolve_relative(module, is_package, node.level, node.module)
            for alias in node.names:
                # `from pyfaas import gateway` imports the subpackage pyfaas.gateway.
                yield node.lineno, f"{base}.{alias.name}" if layer_of(base) == "pyfaas" else base
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value


def violations(source: str, module: str, *, is_package: bool = False) -> list[str]:
    own = layer_of(module)
    assert own is not None, f"{module} is in no layer"
    found = []
    for line, target in imported_modules(source, module, is_package=is_package):
        target_layer = layer_of(target)
        if target_layer is None or target_layer == own or target_layer in ALLOWED[own]:
            continue
        found.append(
            f"{module}:{line} imports {target} ({own} may import {sorted(ALLOWED[own]) or 'nothing'})"
        )
    return found


def scan(root: Path) -> list[str]:
    found = []
    for top in ("runtime", "infra"):
        for path in sorted((root / top).rglob("*.py")):
            module = module_name(path, root)
            found += violations(path.read_text(), module, is_package=path.name == "__init__.py")
    return found


def test_no_module_imports_upward_or_sideways() -> None:
    modules = list((ROOT / "runtime").rglob("*.py"))
    assert len(modules) >= 8, "the scan found too few modules to be looking at the right tree"
    assert scan(ROOT) == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("pyfaas.core.models", "import pyfaas.provider.base"),
        ("pyfaas.core.models", "from pyfaas.gateway import keys"),
        ("pyfaas.provider.local", "from pyfaas.gateway.app import create_app"),
        ("pyfaas.provider.local", "from ..worker import consumer"),
        ("pyfaas.gateway.app", "from pyfaas.worker.consumer import Consumer"),
        ("pyfaas.gateway.app", "from pyfaas import idler"),
        ("pyfaas.gateway.app", "from .. import cli"),
        ("pyfaas.idler.loop", "import importlib\nimportlib.import_module('pyfaas.gateway.app')"),
        ("pyfaas.watchdog.server", "from pyfaas.provider.base import Replica"),
        (
            "pyfaas.cli.main",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pyfaas.worker",
        ),
        ("pyfaas.infra.components.gateway", "from pyfaas.provider import manifests"),
        ("pyfaas.infra.components.gateway", "from pyfaas.gateway.settings import GatewaySettings"),
        ("pyfaas.core.models", "from pyfaas.system.processes import kill_group"),
        ("pyfaas.system.processes", "from pyfaas.provider.base import Replica"),
        ("pyfaas.system.credentials", "from pyfaas.gateway.auth import unauthorized"),
        ("pyfaas.infra.components.gateway", "from pyfaas.system import http_headers"),
    ],
)
def test_a_violating_import_is_detected(module: str, source: str) -> None:
    assert violations(source, module), f"{source!r} in {module} should be a violation"


@pytest.mark.parametrize(
    ("module", "source", "is_package"),
    [
        ("pyfaas.core.models", "from pyfaas.core.durations import parse_duration", False),
        ("pyfaas.core.models", "from .names import split_name", False),
        ("pyfaas.provider.local", "from pyfaas.core import models", False),
        ("pyfaas.gateway", "from .keys import PROVIDER", True),
        ("pyfaas.gateway.app", "from pyfaas.provider.base import Provider\nimport aiohttp", False),
        ("pyfaas.watchdog.server", "from ..core.settings import EnvSettings", False),
        (
            "pyfaas.infra.components.function",
            "from pyfaas.core.labels import LABEL_FUNCTION\nimport pulumi",
            False,
        ),
        ("pyfaas.cli.up", "import subprocess\nsubprocess.run(['python', '-m', 'pyfaas.gateway'])", False),
        ("pyfaas.system.credentials", "from pyfaas.core.errors import ConfigError", False),
        ("pyfaas.watchdog.function_processes", "from pyfaas.system.processes import kill_group", False),
        ("pyfaas.provider.local.store", "from pyfaas.system.atomic_files import atomic_write", False),
        ("pyfaas.worker.invoker", "from pyfaas.system.http_headers import HOP_BY_HOP", False),
    ],
)
def test_an_allowed_import_passes(module: str, source: str, is_package: bool) -> None:
    assert violations(source, module, is_package=is_package) == []


def test_scan_walks_a_real_tree(tmp_path: Path) -> None:
    for package in ("runtime", "runtime/core", "runtime/worker", "infra"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "runtime/core/ok.py").write_text("import json\n")
    (tmp_path / "runtime/worker/bad.py").write_text(
        "from pyfaas.core import ok\nfrom pyfaas import gateway\n"
    )
    (tmp_path / "infra/bad.py").write_text("import pyfaas.worker.bad\n")
    assert sorted(scan(tmp_path)) == [
        "pyfaas.infra.bad:1 imports pyfaas.worker.bad (pyfaas.infra may import ['pyfaas.core'])",
        "pyfaas.worker.bad:2 imports pyfaas.gateway "
        "(pyfaas.worker may import ['pyfaas.core', 'pyfaas.provider', 'pyfaas.store', 'pyfaas.system'])",
    ]


IO_MODULES = frozenset({"aiohttp", "httpx", "socket", "subprocess", "signal", "kubernetes_asyncio"})
"""Servers, clients, processes and signals: ``pyfaas.system`` and the services hold these, core never
(core's ``queue_layout`` uses nats-py's configuration dataclasses, which are plain data)."""


def io_imports(root: Path) -> list[str]:
    found = []
    for path in sorted((root / "runtime" / "core").rglob("*.py")):
        module = module_name(path, root)
        for line, target in imported_modules(path.read_text(), module, is_package=path.name == "__init__.py"):
            if target.split(".")[0] in IO_MODULES:
                found.append(f"{module}:{line} imports {target}")
    return found


def test_core_does_no_io() -> None:
    assert io_imports(ROOT) == []


def test_an_io_import_in_core_is_detected(tmp_path: Path) -> None:
    (tmp_path / "runtime" / "core").mkdir(parents=True)
    (tmp_path / "runtime" / "core" / "guard.py").write_text("from aiohttp import web\nimport json\n")
    assert io_imports(tmp_path) == ["pyfaas.core.guard:1 imports aiohttp"]


LIBRARY_ERRORS: tuple[type[BaseException], ...] = (
    httpx.HTTPError,
    httpx.StreamError,
    httpx.InvalidURL,
    aiohttp.ClientError,
    web.HTTPException,
    OSError,
    ValueError,
)


def _error_classes() -> list[type[errors.PyfaasError]]:
    defined = [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == errors.__name__
    ]
    tree = [cls for cls in defined if issubclass(cls, errors.PyfaasError)]
    assert tree == defined, "every exception in pyfaas.core.errors belongs to the PyfaasError tree"
    return tree


def test_error_tree_does_not_subclass_library_exceptions() -> None:
    classes = _error_classes()
    assert len(classes) >= 10
    for cls in classes:
        assert issubclass(cls, errors.PyfaasError)
        for library_error in LIBRARY_ERRORS:
            assert not issubclass(cls, library_error), f"{cls.__name__} subclasses {library_error.__name__}"
        foreign = [base for base in cls.__mro__ if base.__module__ not in {errors.__name__, "builtins"}]
        assert foreign == [], f"{cls.__name__} inherits from {foreign}"
        assert base_is_plain_exception(cls)


def base_is_plain_exception(cls: type[BaseException]) -> bool:
    builtin_bases = [base for base in cls.__mro__ if base.__module__ == "builtins"]
    return builtin_bases == [Exception, BaseException, object]


def test_error_tree_is_drawn_and_exported() -> None:
    assert errors.__doc__ is not None
    for cls in _error_classes():
        assert cls.__name__ in errors.__doc__, f"{cls.__name__} missing from the errors docstring tree"
        assert cls.__name__ in errors.__all__
        assert 400 <= cls.status <= 599
        error = cls("boom", field="x")
        assert error.to_json() == {"error": "boom", "field": "x"}
