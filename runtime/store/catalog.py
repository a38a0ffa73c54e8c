"""The function store catalog: OpenFaaS's store JSON (``functions.json``, format 0.2.0) plus local-mode code.

Each entry keeps OpenFaaS's keys (``title``, ``name``, ``description``, ``images`` by platform, ``fprocess``,
``environment``, ``labels``, ``annotations``, ``repo_url`` ...), so a catalog written for faas-cli loads here
and pyfaas's catalog loads in faas-cli. pyfaas adds two optional keys per entry: ``lang`` (the template, e.g.
``python3-http``) and ``handler`` (a folder holding ``handler.py``, relative to the catalog file), which let
local mode run the function from source with no image.

``load_catalog(None)`` is the catalog bundled with pyfaas (``catalog.json`` beside this module, handlers in
``functions/``); a path or an ``http(s)://`` URL replaces it (the CLI passes ``--url`` or ``OPENFAAS_STORE``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pyfaas.core.errors import PyfaasError
from pyfaas.core.models import FunctionDeployment
from pyfaas.core.resources import package_path

__all__ = [
    "BUNDLED_CATALOG",
    "DEFAULT_PLATFORM",
    "Catalog",
    "CatalogError",
    "StoreFunction",
    "load_catalog",
    "parse_catalog",
]

BUNDLED_CATALOG = package_path("pyfaas.store", "catalog.json")
DEFAULT_PLATFORM = "x86_64"
"""The store's platform keys are ``x86_64``, ``armhf`` and ``arm64`` (faas-cli's ``--platform``)."""
PYTHON_LANGS = frozenset({"python3-http", "python3", "python3-flask", "python3-http-debian"})
"""Templates whose handlers the pyfaas watchdog imports in-process (``mode=python``)."""
_FETCH_TIMEOUT = 10.0


class CatalogError(PyfaasError):
    """The catalog cannot be read or is not store JSON; the message names the source."""


class StoreFunction(BaseModel):
    """One store entry. Unknown keys are kept out (faas-cli ignores them too)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    name: str = Field(..., min_length=1)
    title: str = ""
    description: str = ""
    images: dict[str, str] = Field(default_factory=dict)
    fprocess: str = ""
    environment: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    repo_url: str = ""
    icon: str = ""
    author: str = ""
    network: str = ""
    readOnlyRootFilesystem: bool = False
    lang: str = ""
    """pyfaas: the template language of ``handler`` (``python3-http`` or ``python3``)."""
    handler: str = ""
    """pyfaas: the handler folder as written in the catalog (relative to the catalog file)."""
    handler_path: Path | None = Field(None, exclude=True)
    """The handler folder resolved on this machine, or None when there is none (e.g. a catalog from a URL)."""

    def image(self, platform: str = DEFAULT_PLATFORM) -> str:
        """The image for ``platform``; empty when the entry has none for it."""
        return self.images.get(platform, "")

    @property
    def runs_locally(self) -> bool:
        """True when local mode can run it with no image: a Python handler folder, or a command."""
        return bool(self.handler_path and self.lang in PYTHON_LANGS) or bool(self.fprocess)

    def deployment(
        self,
        *,
        local: bool,
        platform: str = DEFAULT_PLATFORM,
        name: str | None = None,
        namespace: str | None = None,
    ) -> FunctionDeployment:
        """The FunctionDeployment of this entry.

        ``local=True`` (a pyfaas local-mode gateway): a Python handler runs from its folder (``mode=python``,
        ``handler=<absolute path>``); otherwise ``fprocess`` runs per request (``mode=fork``). Elsewhere the
        image for ``platform`` is deployed. Raises :class:`CatalogError` when the entry cannot run there.
        """
        env = dict(self.environment)
        process: str | None = self.fprocess or None
        image = self.image(platform)
        if local:
            if self.handler_path is not None and self.lang in PYTHON_LANGS:
                env.setdefault("mode", "python")
                env["handler"] = str(self.handler_path)
                process = None
            elif process:
                env.setdefault("mode", "fork")
            else:
                raise CatalogError(
                    f"store function {self.name!r} has no handler folder or fprocess that local mode can run",
                    field="handler",
                )
            image = image or next(iter(self.images.values()), "") or f"store/{self.name}:local"
        elif not image:
            available = ", ".join(sorted(self.images)) or "none"
            raise CatalogError(
                f"store function {self.name!r} has no image for platform {platform!r} (has: {available})",
                field="images",
            )
        return FunctionDeployment(
            service=name or self.name,
            image=image,
            envProcess=process,
            envVars=env or None,
            labels=dict(self.labels) or None,
            annotations=dict(self.annotations) or None,
            namespace=namespace or None,
            readOnlyRootFilesystem=self.readOnlyRootFilesystem,
        )


class Catalog(BaseModel):
    """A store: ``version`` and its ``functions``; ``source`` says where it was read from."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: str = ""
    functions: list[StoreFunction] = Field(default_factory=list)
    source: str = Field("", exclude=True)

    def find(self, name: str) -> StoreFunction | None:
        """The entry called ``name`` (exact, then case-insensitive, then by title), or None."""
        for entry in self.functions:
            if entry.name == name:
                return entry
        lowered = name.lower()
        for entry in self.functions:
            if entry.name.lower() == lowered or entry.title.lower() == lowered:
                return entry
        return None

    def names(self) -> list[str]:
        return [entry.name for entry in self.functions]


def parse_catalog(text: str | bytes, *, source: str, base_dir: Path | None = None) -> Catalog:
    """Parse store JSON; relative ``handler`` folders resolve against ``base_dir`` (None: not resolved)."""
    try:
        raw: Any = json.loads(text)
    except ValueError as exc:
        raise CatalogError(f"{source}: not valid JSON: {exc}", field="catalog") from exc
    if isinstance(raw, list):  # the store's first format was a bare list of functions
        raw = {"functions": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("functions", []), list):
        raise CatalogError(f"{source}: expected an object with a 'functions' list", field="functions")
    entries: list[StoreFunction] = []
    for index, item in enumerate(raw.get("functions") or []):
        try:
            entry = StoreFunction.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise CatalogError(
                f"{source}: functions[{index}].{where}: {first['msg']}", field=f"functions[{index}].{where}"
            ) from exc
        entries.append(entry.model_copy(update={"handler_path": _resolve_handler(entry.handler, base_dir)}))
    return Catalog(version=str(raw.get("version", "")), functions=entries, source=source)


def _resolve_handler(handler: str, base_dir: Path | None) -> Path | None:
    if not handler:
        return None
    path = Path(handler)
    if not path.is_absolute():
        if base_dir is None:
            return None
        path = base_dir / path
    path = path.resolve()
    return path if (path / "handler.py").is_file() else None


def load_catalog(source: str | None = None) -> Catalog:
    """The catalog at ``source``: None for the bundled one, a file path, or an ``http(s)://`` URL.

    Raises :class:`CatalogError` (one line naming the source and the cause) when it cannot be read.
    """
    if source is None or not source.strip():
        return parse_catalog(
            BUNDLED_CATALOG.read_bytes(), source=str(BUNDLED_CATALOG), base_dir=BUNDLED_CATALOG.parent
        )
    source = source.strip()
    if source.startswith(("http://", "https://")):
        try:
            response = httpx.get(source, timeout=_FETCH_TIMEOUT, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise CatalogError(
                f"cannot fetch store {source}: {exc or type(exc).__name__}", field="url"
            ) from exc
        if response.status_code != 200:
            raise CatalogError(f"cannot fetch store {source}: HTTP {response.status_code}", field="url")
        return parse_catalog(response.content, source=source)
    path = Path(source.removeprefix("file://")).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"cannot read store {path}: {exc.strerror or exc}", field="url") from exc
    return parse_catalog(data, source=str(path), base_dir=path.resolve().parent)
