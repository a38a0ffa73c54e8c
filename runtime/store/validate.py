"""``pyfaas store validate``: every problem of a catalog repository, one line each, naming file and field.

Checked: the index is JSON in a known format; every entry matches the schema; names are valid function
names and unique; an entry with source names its template and a handler folder (or a git repository) that
exists and holds the template's handler file; the files it lists exist and every file of the folder is listed
(a static server serves only what is listed); images are pinned (a tag other than ``latest``, or a digest);
secret names are valid.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pyfaas.core.errors import PyfaasError
from pyfaas.core.names import validate_function_name
from pyfaas.store.catalog import PYFAAS_FORMAT, StoreFunction
from pyfaas.store.handlers import safe_relative

__all__ = ["HANDLER_FILES", "Problem", "catalog_files", "validate_catalog"]

HANDLER_FILES = {
    "python3-http": "handler.py",
    "python3": "handler.py",
    "python3-flask": "handler.py",
    "python3-http-debian": "handler.py",
    "node20": "handler.js",
    "node": "handler.js",
    "golang-http": "handler.go",
    "bash-streaming": "handler.sh",
}
"""The file a template's handler folder must hold (templates not listed: any file)."""
_IGNORED = {".git", "__pycache__", ".DS_Store", "node_modules"}
_SECRET = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}" if self.field else f"{self.file}: {self.message}"


def catalog_files(folder: Path) -> list[str]:
    """The files of a handler folder, relative, sorted (what its ``files`` should list)."""
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file()
        and not _IGNORED.intersection(path.relative_to(folder).parts)
        and not path.name.endswith((".pyc", "~"))
    )


def _pinned(image: str) -> bool:
    if _DIGEST.search(image):
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1] not in ("", "latest")


def _check_entry(raw: dict[str, Any], index: int, root: Path, where: str) -> list[Problem]:
    problems: list[Problem] = []
    prefix = f"functions[{index}]"
    try:
        entry = StoreFunction.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            problems.append(Problem(where, f"{prefix}.{field}", error["msg"]))
        return problems
    try:
        validate_function_name(entry.name, field="name")
    except PyfaasError as exc:
        problems.append(Problem(where, f"{prefix}.name", exc.message))
    if not entry.title:
        problems.append(Problem(where, f"{prefix}.title", "missing: the portal shows it"))
    if not entry.description:
        problems.append(Problem(where, f"{prefix}.description", "missing"))
    for platform, image in sorted(
        {**({"image": entry.single_image} if entry.single_image else {}), **entry.images}.items()
    ):
        field = f"{prefix}.image" if platform == "image" else f"{prefix}.images.{platform}"
        if not _pinned(image):
            problems.append(
                Problem(where, field, f"{image!r} is not pinned: give a tag other than latest, or a digest")
            )
    for position, secret in enumerate(entry.secrets):
        if not _SECRET.match(secret):
            problems.append(
                Problem(where, f"{prefix}.secrets[{position}]", f"{secret!r} is not a valid secret name")
            )
    if (entry.handler or entry.git) and not entry.lang:
        problems.append(
            Problem(where, f"{prefix}.template", "missing: the template its handler is written for")
        )
    if entry.git is not None:
        if entry.handler:
            problems.append(Problem(where, f"{prefix}.handler", "give a handler folder or git, not both"))
        return problems
    if not entry.handler:
        if not (entry.images or entry.single_image or entry.fprocess):
            problems.append(
                Problem(where, f"{prefix}.handler", "missing: give a handler folder, git, images or fprocess")
            )
        return problems
    try:
        relative = safe_relative(entry.handler, field="handler")
    except PyfaasError as exc:
        return [*problems, Problem(where, f"{prefix}.handler", exc.message)]
    folder = root / relative
    if not folder.is_dir():
        return [*problems, Problem(where, f"{prefix}.handler", f"folder {relative} does not exist")]
    wanted = HANDLER_FILES.get(entry.lang, "")
    if wanted and not (folder / wanted).is_file():
        template = entry.lang
        problems.append(
            Problem(str(relative), f"{prefix}.handler", f"no {wanted} (template {template} needs it)")
        )
    present = catalog_files(folder)
    for position, name in enumerate(entry.files):
        try:
            safe_relative(name, field="files")
        except PyfaasError as exc:
            problems.append(Problem(where, f"{prefix}.files[{position}]", exc.message))
            continue
        if not (folder / name).is_file():
            problems.append(
                Problem(where, f"{prefix}.files[{position}]", f"{relative}/{name} does not exist")
            )
    for name in present:
        if name not in entry.files:
            problems.append(
                Problem(
                    str(relative / name),
                    f"{prefix}.files",
                    "not listed: a catalog served by a static server only fetches the files it lists",
                )
            )
    return problems


def validate_catalog(path: Path) -> list[Problem]:
    """Problems of the catalog at ``path`` (a catalog folder or its index file); empty when it is valid."""
    index = path / "catalog.json" if path.is_dir() else path
    root = index.parent
    where = index.name
    try:
        text = index.read_text()
    except OSError as exc:
        return [Problem(str(index), "", f"cannot read: {exc.strerror or exc}")]
    try:
        raw: Any = json.loads(text)
    except ValueError as exc:
        return [Problem(where, "", f"not valid JSON: {exc}")]
    if not isinstance(raw, dict):
        return [Problem(where, "", f"expected an object with format {PYFAAS_FORMAT!r} and functions")]
    problems: list[Problem] = []
    if raw.get("format") != PYFAAS_FORMAT:
        problems.append(Problem(where, "format", f"must be {PYFAAS_FORMAT!r}, got {raw.get('format')!r}"))
    if not isinstance(raw.get("title", ""), str) or not raw.get("title"):
        problems.append(Problem(where, "title", "missing: the portal and the CLI show it"))
    functions = raw.get("functions")
    if not isinstance(functions, list):
        return [*problems, Problem(where, "functions", "must be a list")]
    seen: dict[str, int] = {}
    for index_number, item in enumerate(functions):
        if not isinstance(item, dict):
            problems.append(Problem(where, f"functions[{index_number}]", "must be an object"))
            continue
        problems.extend(_check_entry(item, index_number, root, where))
        name = item.get("name")
        if isinstance(name, str) and name:
            if name in seen:
                problems.append(
                    Problem(
                        where,
                        f"functions[{index_number}].name",
                        f"{name!r} is used twice (also functions[{seen[name]}])",
                    )
                )
            else:
                seen[name] = index_number
    return problems
