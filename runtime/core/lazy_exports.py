"""A package's public names imported on first use (a module ``__getattr__``, PEP 562).

``pyfaas`` and ``pyfaas.infra`` both list names that live in heavier modules: ``import pyfaas.watchdog``
imports ``pyfaas`` first and must not pay for pydantic, and ``import pyfaas.infra.config`` must not load
Pulumi. Each package passes its table of name → defining module and installs the two functions returned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, namespace: MutableMapping[str, Any], modules: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` (whose ``globals()`` is ``namespace``): a name in
    ``modules`` is imported from its module when first looked up and kept in ``namespace``, so later look-ups
    skip ``__getattr__``; any other name is an ``AttributeError``."""

    def __getattr__(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(
            {*namespace.get("__all__", ()), *(name for name in namespace if not name.startswith("_"))}
        )

    return __getattr__, __dir__
