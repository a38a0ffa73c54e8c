"""Where the data files shipped with pyfaas are: found with ``importlib.resources``, never by checkout paths.

The alert rules and their Prometheus/AlertManager templates (``alerts/``), the example functions ``pyfaas up``
deploys when it finds none (``examples/``) and the function templates (``templates/``) stay at the top of the
repository, where people look for them. ``runtime/_bundled/`` links to them with relative symlinks; building a
wheel copies the files the links point to (``[tool.setuptools.package-data]``), so one look-up finds the same
files in a source checkout, an editable install and an installed wheel. Files of a subpackage (the portal's
assets, the store catalog) are found the same way with :func:`package_path`.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Literal

from pyfaas.core.errors import ConfigError

__all__ = ["Bundle", "bundled", "package_path"]

Bundle = Literal["alerts", "examples", "templates"]


def package_path(package: str, *parts: str) -> Path:
    """The file or folder ``parts`` inside ``package``, as a path on disk.

    Prometheus, AlertManager and the watchdog read these files by path, so pyfaas must be installed as files
    (a wheel or an editable install), not imported from a zip archive.
    """
    resource = files(package).joinpath(*parts)
    if not isinstance(resource, Path):
        raise ConfigError(f"{package} is not installed as files on disk ({resource!r}): install the wheel")
    return resource


def bundled(name: Bundle) -> Path:
    """The bundled ``alerts``, ``examples`` or ``templates`` folder, links resolved (in a checkout: the
    top-level folder itself, so messages name the files people edit)."""
    return package_path("pyfaas", "_bundled", name).resolve()
