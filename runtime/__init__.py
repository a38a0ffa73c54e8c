"""pyfaas: an OpenFaaS-compatible serverless platform.

The public API is what ``__all__`` lists (documented in ``docs/api.md``): what a ``functions.py`` needs to
declare functions, and ``__version__``. Every other module and name is private and may change in any release.

Names are imported on first use (module ``__getattr__``): ``import pyfaas.watchdog`` imports this package
first, and the watchdog must not pay for pydantic, which the definition types need.
"""

from importlib import import_module as _import_module
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from pyfaas.core.version import __version__

if _TYPE_CHECKING:
    from pyfaas.core.definitions import DefinitionError, FunctionDefinition, function
    from pyfaas.core.models import FunctionDeployment, FunctionResources

__all__ = [
    "DefinitionError",
    "FunctionDefinition",
    "FunctionDeployment",
    "FunctionResources",
    "__version__",
    "function",
]

_LAZY = {
    "function": "pyfaas.core.definitions",
    "FunctionDefinition": "pyfaas.core.definitions",
    "DefinitionError": "pyfaas.core.definitions",
    "FunctionDeployment": "pyfaas.core.models",
    "FunctionResources": "pyfaas.core.models",
}
"""Public name → the module defining it."""


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pyfaas' has no attribute {name!r}")
    value = getattr(_import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *(name for name in globals() if not name.startswith("_"))})
