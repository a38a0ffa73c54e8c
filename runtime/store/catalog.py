"""The function store catalog: OpenFaaS's store JSON, both of its versions, and pyfaas's own catalog format.

Three formats load into one :class:`Catalog` (``Catalog.format`` says which):

* ``openfaas-v1``: the first store (``store.json``), a bare JSON list of entries with one ``image`` each;
* ``openfaas-v2``: ``functions.json``, ``{"version": "0.2.0", "functions": [...]}`` with ``images`` per
  platform (``x86_64``, ``armhf``, ``arm64``);
* ``pyfaas``: ``{"format": "pyfaas-catalog/v1", "title": ..., "functions": [...]}``, a team's internal
  catalog of functions that run in local mode (``docs/cli.md``, ``pyfaas store init``).

Every entry keeps OpenFaaS's keys (``title``, ``name``, ``description``, ``images``, ``fprocess``,
``network``, ``environment``, ``labels``, ``annotations``, ``repo_url``, ``readOnlyRootFilesystem``), so a
catalog written for faas-cli loads here and pyfaas's loads in faas-cli. pyfaas adds optional keys: ``lang``
(alias ``template``: ``python3-http``, ``node20`` ...), ``handler`` (a folder relative to the catalog file),
``files`` (the handler folder's files, which a catalog served by a plain static server must list: such a
server cannot list folders), ``git`` (``repo``, ``ref``, ``path``: the handler lives in a git repository) and
``secrets`` (the secrets the function reads). They let local mode run the function from source, no image.

``load_catalog(None)`` is the catalog bundled with pyfaas (``catalog.json`` beside this module, handlers in
``functions/``); a path or an ``http(s)://`` URL replaces it (the CLI passes ``--url`` or ``OPENFAAS_STORE``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from pyfaas.core.errors import PyfaasError
from pyfaas.core.models import FunctionDeployment
from pyfaas.core.resources import package_path

__all__ = [
    "BUNDLED_CATALOG",
    "DEFAULT_PLATFORM",
    "PYFAAS_FORMAT",
    "Catalog",
    "CatalogError",
    "GitSource",
    "StoreFunction",
    "load_catalog",
    "parse_catalog",
    "unavailable_reason",
]

BUNDLED_CATALOG = package_path("pyfaas.store", "catalog.json")
DEFAULT_PLATFORM = "x86_64"
"""The store's platform keys are ``x86_64``, ``armhf`` and ``arm64`` (faas-cli's ``--platform``)."""
PYTHON_LANGS = frozenset({"python3-http", "python3", "python3-flask", "python3-http-debian"})
"""Templates whose handlers the pyfaas watchdog imports in-process (``mode=python``)."""
_FETCH_TIMEOUT = 10.0
PYFAAS_FORMAT = "pyfaas-catalog/v1"
"""The ``format`` key of a pyfaas catalog index."""


class CatalogError(PyfaasError):
    """The catalog cannot be read or is not store JSON; the message names the source."""


class GitSource(BaseModel):
    """A handler folder inside a git repository: ``git clone --branch ref repo``, then ``path``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repo: str = Field(..., min_length=1)
    ref: str = ""
    """A branch or tag; empty: the repository's default branch."""
    path: str = "."


class StoreFunction(BaseModel):
    """One store entry. Unknown keys are kept out (faas-cli ignores them too)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    name: str = Field(..., min_length=1)
    title: str = ""
    description: str = ""
    images: dict[str, str] = Field(default_factory=dict)
    single_image: str = Field("", alias="image")
    """``image``: the first store format's single image (any platform)."""
    fprocess: str = Field("", validation_alias=AliasChoices("fprocess", "envProcess"))
    environment: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    repo_url: str = ""
    icon: str = ""
    author: str = ""
    network: str = ""
    readOnlyRootFilesystem: bool = False
    lang: str = Field("", validation_alias=AliasChoices("lang", "template"))
    """pyfaas: the template of ``handler`` (``python3-http``, ``python3``, ``node20`` ...)."""
    handler: str = ""
    """pyfaas: the handler folder as written in the catalog (relative to the catalog file)."""
    files: list[str] = Field(default_factory=list)
    """pyfaas: the files of ``handler`` (relative to it), fetched one by one from a catalog on HTTP."""
    git: GitSource | None = None
    """pyfaas: the handler folder is in this git repository instead."""
    secrets: list[str] = Field(default_factory=list)
    """pyfaas: secrets the function reads; they must exist in the namespace before it is deployed."""
    handler_path: Path | None = Field(None, exclude=True)
    """The handler folder resolved on this machine, or None when there is none (e.g. a catalog from a URL)."""

    def image(self, platform: str = DEFAULT_PLATFORM) -> str:
        """The image for ``platform``; empty when the entry has none for it."""
        return self.images.get(platform, "") or self.single_image

    @property
    def has_source(self) -> bool:
        """True when the entry names its code (a handler folder or a git repository) and its template."""
        return bool(self.lang and (self.handler or self.git))

    @property
    def runs_locally(self) -> bool:
        """True when local mode can run it with no image: a Python handler folder, or a command."""
        return bool(
            self.handler_path and self.lang in PYTHON_LANGS and (self.handler_path / "handler.py").is_file()
        ) or bool(self.fprocess)

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
                if not (self.handler_path / "handler.py").is_file():
                    raise CatalogError(
                        f"store function {self.name!r}: no handler.py in {self.handler_path}", field="handler"
                    )
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
        elif not image and self.has_source:
            raise CatalogError(
                f"store function {self.name!r} has no image for platform {platform!r}: the catalog gives "
                "its source only, which local mode runs (build and push an image to deploy it here)",
                field="images",
            )
        elif not image:
            available = ", ".join(sorted(self.images)) or "none"
            raise CatalogError(
                f"store function {self.name!r} has no image for platform {platform!r} (has: {available})",
                field="images",
            )
        return self._spec(image, process, env, name=name, namespace=namespace)

    def source_deployment(
        self, *, name: str | None = None, namespace: str | None = None
    ) -> FunctionDeployment:
        """An entry run from its source, before local mode adds how (mode, handler, build)."""
        image = self.image() or next(iter(self.images.values()), "") or f"store/{self.name}:local"
        return self._spec(image, None, dict(self.environment), name=name, namespace=namespace)

    def _spec(
        self, image: str, process: str | None, env: dict[str, str], *, name: str | None, namespace: str | None
    ) -> FunctionDeployment:
        return FunctionDeployment(
            service=name or self.name,
            image=image,
            envProcess=process,
            envVars=env or None,
            labels=dict(self.labels) or None,
            annotations=dict(self.annotations) or None,
            secrets=list(self.secrets) or None,
            namespace=namespace or None,
            readOnlyRootFilesystem=self.readOnlyRootFilesystem,
        )


class Catalog(BaseModel):
    """A store: ``version`` and its ``functions``; ``source`` says where it was read from."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: str = ""
    title: str = ""
    format: str = "openfaas-v2"
    """``openfaas-v1`` (a bare list), ``openfaas-v2`` (``version`` + ``functions``) or ``pyfaas``."""
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
    kind = "openfaas-v2"
    if isinstance(raw, list):  # the store's first format was a bare list of functions
        raw, kind = {"functions": raw}, "openfaas-v1"
    if not isinstance(raw, dict) or not isinstance(raw.get("functions", []), list):
        raise CatalogError(f"{source}: expected an object with a 'functions' list", field="functions")
    if "format" in raw:
        if raw["format"] != PYFAAS_FORMAT:
            raise CatalogError(f"{source}: format {raw['format']!r} is not {PYFAAS_FORMAT!r}", field="format")
        kind = "pyfaas"
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
    return Catalog(
        version=str(raw.get("version", "")),
        title=str(raw.get("title", "")),
        format=kind,
        functions=entries,
        source=source,
    )


def _resolve_handler(handler: str, base_dir: Path | None) -> Path | None:
    if not handler:
        return None
    path = Path(handler)
    if not path.is_absolute():
        if base_dir is None:
            return None
        path = base_dir / path
    path = path.resolve()
    return path if path.is_dir() else None


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


def unavailable_reason(entry: StoreFunction, *, local: bool, platform: str = DEFAULT_PLATFORM) -> str:
    """Why ``entry`` cannot run on this gateway (local mode or not); empty when it can."""
    if local:
        if entry.has_source:
            return ""
        if entry.fprocess:
            program = entry.fprocess.split()[0]
            if shutil.which(program) is None:
                return (
                    f"local mode runs its command `{program}` per request, and there is no {program} on this "
                    "machine's PATH (the image has it: deploy it on a Kubernetes gateway)"
                )
            return ""
        return "image only: local mode runs no containers (deploy it on a Kubernetes gateway)"
    if entry.image(platform):
        return ""
    if entry.has_source and not entry.images:
        return (
            f"source only, no image for {platform}: it runs in local mode (build and push an image to deploy "
            "it on a cluster)"
        )
    return f"no image for platform {platform} (has: {', '.join(sorted(entry.images)) or 'none'})"
