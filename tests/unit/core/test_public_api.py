"""``pyfaas.core`` is what every other part codes against: each module declares its public names."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import pyfaas.core

MODULES = sorted(info.name for info in pkgutil.iter_modules(pyfaas.core.__path__, "pyfaas.core."))


def test_core_has_the_contract_modules() -> None:
    for name in ("durations", "errors", "labels", "models", "names", "settings"):
        assert f"pyfaas.core.{name}" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_module_declares_all_and_every_name_exists(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__doc__, f"{name} has no module docstring"
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported)), f"{name}.__all__ has duplicates"
    for attribute in exported:
        assert hasattr(module, attribute), f"{name}.__all__ names missing {attribute}"
