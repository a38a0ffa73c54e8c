"""No private internal of a third-party library is used outside its adapter module.

Checked from the source: an attribute ``x._name`` (or a method ``_name`` defined in a class) whose name is not
one our own code defines anywhere must be a library's, and only the adapters in ``pyfaas.system`` may touch
those; likewise imports of modules a library does not export. The adapters' own tests
(``tests/unit/system/test_aiohttp_internals.py``, ``tests/integration/async_/test_nats_internals.py``)
fail on the upgrade that moves what they use.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = frozenset({"runtime/system/aiohttp_internals.py", "runtime/system/nats_internals.py"})
PRIVATE_MODULES = frozenset({"aiohttp.client_proto", "aiohttp.web_server", "nats.aio.subscription"})
"""Modules whose classes the libraries do not export: importing them is reaching into internals."""
KNOWN_LIBRARY_PRIVATE = frozenset(
    {"_loop", "_kwargs", "_server", "_sub", "_drain_helper", "_make_server", "_make_handler", "_nc", "_js"}
)
"""Private names of aiohttp and nats-py that our own classes happen to use too (``self._loop``): reaching
for one of them on another object, or overriding it, is still using the library's internals."""
LIBRARY_HOOKS = frozenset({"_make_server", "_make_handler", "_drain_helper", "_make_request"})
"""Private methods of aiohttp classes: defining one is overriding the library's internals."""
STANDARD_PRIVATE = frozenset({"_replace", "_asdict", "_fields", "_make", "_exit", "_getframe"})
"""Underscore names that are documented API (namedtuple methods, ``os._exit``, ``sys._getframe``)."""


def _sources(root: Path) -> dict[str, ast.Module]:
    return {
        str(path.relative_to(root)): ast.parse(path.read_text())
        for top in ("runtime", "infra")
        for path in sorted((root / top).rglob("*.py"))
    }


def _own_private_names(trees: dict[str, ast.Module]) -> set[str]:
    """Every ``_name`` our code defines: functions, methods, classes, assigned attributes and names."""
    names: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return {name for name in names if name.startswith("_") and not name.startswith("__")}


def _on_self(node: ast.Attribute) -> bool:
    return isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}


def library_internals(root: Path) -> list[str]:
    trees = _sources(root)
    own = _own_private_names({path: tree for path, tree in trees.items() if path not in ADAPTERS})
    found = []
    for path, tree in trees.items():
        if path in ADAPTERS:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in PRIVATE_MODULES:
                found.append(f"{path}:{node.lineno} imports {node.module}")
            elif (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and node.attr not in STANDARD_PRIVATE
                and (node.attr not in own or (node.attr in KNOWN_LIBRARY_PRIVATE and not _on_self(node)))
            ):
                found.append(f"{path}:{node.lineno} uses .{node.attr}")
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in LIBRARY_HOOKS:
                found.append(f"{path}:{node.lineno} overrides {node.name}")
    return found


def test_library_internals_only_in_adapters() -> None:
    assert library_internals(ROOT) == []


def test_a_library_internal_is_detected(tmp_path: Path) -> None:
    (tmp_path / "runtime" / "worker").mkdir(parents=True)
    (tmp_path / "infra").mkdir()
    (tmp_path / "runtime" / "worker" / "app.py").write_text(
        "from aiohttp.client_proto import ResponseHandler\n"
        "class Own:\n    def __init__(self):\n        self._mine = 1\n"
        "def port(site, own):\n    own._mine\n    return site._server.sockets\n"
        "class Runner:\n    def __init__(self):\n        self._loop = None\n"
        "    async def _make_server(self, plain):\n        return plain._loop\n"
    )
    assert sorted(library_internals(tmp_path)) == [
        "runtime/worker/app.py:1 imports aiohttp.client_proto",
        "runtime/worker/app.py:11 overrides _make_server",
        "runtime/worker/app.py:12 uses ._loop",
        "runtime/worker/app.py:7 uses ._server",
    ]
