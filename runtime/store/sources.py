"""Named store sources, in order, each loaded on its own so that one that is down costs only itself.

A source list is written ``name=location`` entries separated by commas or new lines, e.g.
``acme=https://git.acme.example/catalog/catalog.json, openfaas=https://example.org/functions.json, pyfaas``:
the gateway's ``store_sources`` setting and the CLI's ``PYFAAS_STORE_SOURCES`` use it. A bare ``pyfaas``
(or ``pyfaas=``) is the catalog bundled with pyfaas. A location is an ``http(s)://`` URL, a ``file://`` URL
or a path; one that ends in ``/`` or names a folder means that folder's ``catalog.json`` (a catalog
repository as ``pyfaas store init`` writes it).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from pyfaas.core.errors import PyfaasError, ValidationFailed
from pyfaas.store.catalog import BUNDLED_CATALOG, Catalog, CatalogError, StoreFunction, parse_catalog
from pyfaas.store.fetch import DEFAULT_TIMEOUT, FetchError, fetch

__all__ = [
    "BUNDLED",
    "INDEX_NAME",
    "SourceResult",
    "StoreSource",
    "load_source",
    "load_sources",
    "parse_sources",
]

BUNDLED = "pyfaas"
"""The name of the catalog bundled with pyfaas."""
INDEX_NAME = "catalog.json"
"""The index file of a catalog repository."""
_NAME = re.compile(r"^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$")


class StoreSource(BaseModel):
    """One named store; ``location`` empty means the bundled catalog."""

    model_config = ConfigDict(frozen=True)

    name: str
    location: str = ""

    @property
    def is_remote(self) -> bool:
        return self.location.startswith(("http://", "https://"))

    @property
    def index(self) -> str:
        """The index's URL or path (a folder's ``catalog.json``)."""
        if not self.location:
            return str(BUNDLED_CATALOG)
        if self.is_remote:
            return self.location + INDEX_NAME if self.location.endswith("/") else self.location
        path = Path(self.location.removeprefix("file://")).expanduser()
        return str(path / INDEX_NAME) if path.is_dir() or self.location.endswith("/") else str(path)


def parse_sources(text: str, *, field: str = "store_sources") -> list[StoreSource]:
    """Parse a source list (see the module docstring); raises ValidationFailed naming ``field``."""
    sources: list[StoreSource] = []
    for raw in re.split(r"[,\n]", text):
        item = raw.strip()
        if not item:
            continue
        name, _, location = item.partition("=")
        name, location = name.strip(), location.strip()
        if not _NAME.match(name):
            raise ValidationFailed(
                f"{field}: store name {name!r} must be lowercase letters, digits, '-', '_' or '.'",
                field=field,
            )
        if not location and name != BUNDLED:
            raise ValidationFailed(
                f"{field}: store {name!r} needs a location (name=URL or name=path)", field=field
            )
        if any(source.name == name for source in sources):
            raise ValidationFailed(f"{field}: store name {name!r} is given twice", field=field)
        sources.append(StoreSource(name=name, location=location))
    return sources


@dataclass(frozen=True, slots=True)
class SourceResult:
    """What loading one source gave: its catalog, or why it is down (and its last copy, when kept)."""

    source: StoreSource
    catalog: Catalog | None
    error: str = ""
    stale: bool = False
    """Down, but ``catalog`` is the copy it last served."""
    not_modified: bool = False
    """The server answered 304 to the cached copy's ETag."""

    @property
    def up(self) -> bool:
        return not self.error

    @property
    def functions(self) -> list[StoreFunction]:
        return [] if self.catalog is None else list(self.catalog.functions)


def load_source(
    source: StoreSource, *, cache_dir: Path | None, timeout: float = DEFAULT_TIMEOUT
) -> SourceResult:
    """Load one source; never raises: a failure is the result's ``error`` (one line naming the location)."""
    index = source.index
    try:
        if not source.is_remote:
            path = Path(index)
            try:
                data = path.read_bytes()
            except OSError as exc:
                return SourceResult(source, None, f"cannot read {path}: {exc.strerror or exc}")
            return SourceResult(source, parse_catalog(data, source=str(path), base_dir=path.resolve().parent))
        fetched = fetch(index, cache_dir=cache_dir, timeout=timeout)
        catalog = parse_catalog(fetched.body, source=index)
    except FetchError as exc:
        return SourceResult(source, None, exc.message)
    except CatalogError as exc:
        return SourceResult(source, None, exc.message)
    except PyfaasError as exc:  # pragma: no cover - every failure above is a CatalogError or FetchError
        return SourceResult(source, None, exc.message)
    if fetched.stale:
        return SourceResult(source, catalog, f"cannot fetch {index}: {fetched.error}", stale=True)
    return SourceResult(source, catalog, not_modified=fetched.not_modified)


def load_sources(
    sources: list[StoreSource], *, cache_dir: Path | None, timeout: float = DEFAULT_TIMEOUT
) -> list[SourceResult]:
    """Load every source at once (a slow one holds up nobody); results in the sources' order."""
    if not sources:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(sources)), thread_name_prefix="store") as pool:
        return list(
            pool.map(lambda source: load_source(source, cache_dir=cache_dir, timeout=timeout), sources)
        )
