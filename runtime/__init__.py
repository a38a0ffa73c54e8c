"""pyfaas: an OpenFaaS-compatible serverless platform.

The public API is what ``__all__`` lists (documented in ``docs/api.md``): what a ``functions.py`` needs to
declare functions, and ``__version__``. Every other module and name is private and may change in any release.

Names are imported on first use (module ``__getattr__``): ``import pyfaas.watchdog`` imports this package
first, and the watchdog must not pay for pydantic, which the definition types need.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from pyfaas.core.lazy_exports import lazy_exports as _lazy_exports
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

__getattr__, __dir__ = _lazy_exports(
    __name__,
    globals(),
    {
        "function": "pyfaas.core.definitions",
        "FunctionDefinition": "pyfaas.core.definitions",
        "DefinitionError": "pyfaas.core.definitions",
        "FunctionDeployment": "pyfaas.core.models",
        "FunctionResources": "pyfaas.core.models",
    },
)
