"""Function templates in OpenFaaS's format, as local mode and ``pyfaas new`` read them.

A template is a folder ``<name>/`` holding ``template.yml`` (``language``, ``fprocess``,
``welcome_message``, ``build_options``, ``handler_folder``), a Dockerfile, the entry point and a handler
skeleton in ``function/`` (or ``handler_folder``). A project's pulled templates live in ``./template/<name>/``
(faas-cli's layout) and win over the built-in ones shipped in the top-level ``templates/`` folder.

Local mode runs no image, so the watchdog settings a container would get (``mode``, ``upstream_url``,
timeouts ...) are read from the ``ENV`` instructions of the Dockerfile's last stage.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from pyfaas.core.errors import ValidationFailed
from pyfaas.core.resources import bundled

__all__ = [
    "PROJECT_TEMPLATE_DIR",
    "BuildOption",
    "TemplateError",
    "TemplateSpec",
    "builtin_templates_dir",
    "dockerfile_env",
    "find_template",
    "list_templates",
    "load_template",
]

PROJECT_TEMPLATE_DIR = "template"
"""Where faas-cli (and ``pyfaas template pull``) put a project's templates, beside its stack file."""

# Watchdog variables a template's image sets that matter to how its process runs; anything about where it
# listens or its paths inside the image is the local provider's business.
WATCHDOG_ENV = frozenset(
    {
        "mode",
        "fprocess",
        "function_process",
        "upstream_url",
        "http_upstream_url",
        "buffer_http",
        "http_buffer_req_body",
        "content_type",
        "exec_timeout",
        "read_timeout",
        "write_timeout",
        "max_inflight",
        "prefix_logs",
        "cgi_headers",
        "combine_output",
        "marshal_request",
        "ready_path",
    }
)


class TemplateError(ValidationFailed):
    """A template folder that cannot be used; the message names the file."""


class BuildOption(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    packages: list[str] = []


class _TemplateFile(BaseModel):
    """``template.yml`` (unknown keys are kept by faas-cli's reader too, so they are allowed)."""

    model_config = ConfigDict(extra="allow")

    language: str = ""
    fprocess: str = ""
    welcome_message: str = ""
    handler_folder: str = "function"
    build_options: list[BuildOption] = []


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    """The folder name, which ``lang:`` refers to."""
    folder: Path
    language: str
    fprocess: str
    welcome_message: str
    handler_folder: str
    build_options: tuple[BuildOption, ...]
    image_env: Mapping[str, str] = field(default_factory=dict)
    """Watchdog variables the Dockerfile's last stage sets (``mode``, ``upstream_url`` ...)."""
    origin: str = "built in"
    """``built in`` or ``./template`` (pulled into the project)."""

    @property
    def skeleton(self) -> Path:
        """The handler folder ``pyfaas new`` copies."""
        return self.folder / self.handler_folder


def builtin_templates_dir() -> Path:
    """The top-level ``templates/``, bundled in the package (:mod:`pyfaas.core.resources`)."""
    return bundled("templates")


def dockerfile_env(text: str) -> dict[str, str]:
    """Watchdog variables set by ``ENV`` in the last stage (``ENV k=v k2="v 2"`` and ``ENV k v``)."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    if pending:
        logical.append(pending)
    env: dict[str, str] = {}
    stages: dict[str, dict[str, str]] = {}
    for line in logical:
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            # a new stage (the last one is the image that runs); FROM an earlier stage inherits its ENV
            words = [w for w in rest.split() if not w.startswith("--")]
            env = dict(stages.get(words[0].lower(), {})) if words else {}
            if len(words) >= 3 and words[1].lower() == "as":
                stages[words[2].lower()] = env
        elif instruction.upper() == "ENV" and rest.strip():
            try:
                words = shlex.split(rest)
            except ValueError:
                continue
            if "=" not in words[0]:
                pairs = {words[0]: " ".join(words[1:])}
            else:
                pairs = dict(word.split("=", 1) for word in words if "=" in word)
            env.update({key: value for key, value in pairs.items() if key in WATCHDOG_ENV})
    return env


def load_template(folder: Path, *, origin: str = "built in") -> TemplateSpec:
    """The template in ``folder``; ``TemplateError`` naming ``template.yml`` when it is missing or invalid."""
    spec_path = folder / "template.yml"
    try:
        raw: Any = yaml.safe_load(spec_path.read_text()) or {}
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"cannot read {spec_path}: {exc}", field="template.yml") from exc
    except yaml.YAMLError as exc:
        raise TemplateError(f"{spec_path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(raw, dict):
        raise TemplateError(f"{spec_path} is not a map", field="template.yml")
    try:
        data = _TemplateFile.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise TemplateError(f"{spec_path}: {where}: {error['msg']}", field=where) from exc
    dockerfile = folder / "Dockerfile"
    try:
        image_env = dockerfile_env(dockerfile.read_text()) if dockerfile.is_file() else {}
    except (OSError, UnicodeDecodeError):
        image_env = {}
    return TemplateSpec(
        name=folder.name,
        folder=folder,
        language=data.language or folder.name,
        fprocess=data.fprocess or image_env.get("function_process") or image_env.get("fprocess", ""),
        welcome_message=data.welcome_message.strip(),
        handler_folder=data.handler_folder or "function",
        build_options=tuple(data.build_options),
        image_env=image_env,
        origin=origin,
    )


def _roots(project_dir: Path | None) -> list[tuple[Path, str]]:
    roots = [(builtin_templates_dir(), "built in")]
    if project_dir is not None:
        roots.insert(0, (project_dir / PROJECT_TEMPLATE_DIR, f"./{PROJECT_TEMPLATE_DIR}"))
    return roots


def find_template(lang: str, project_dir: Path | None) -> TemplateSpec | None:
    """``./template/<lang>`` of the project, else the built-in ``<lang>``; None when neither exists."""
    if not lang or "/" in lang or lang.startswith("."):
        return None
    for root, origin in _roots(project_dir):
        if (root / lang / "template.yml").is_file():
            return load_template(root / lang, origin=origin)
    return None


def list_templates(project_dir: Path | None) -> list[TemplateSpec]:
    """Every usable template, pulled ones first; a pulled one hides the built-in of the same name."""
    found: dict[str, TemplateSpec] = {}
    for root, origin in _roots(project_dir):
        for spec_path in sorted(root.glob("*/template.yml")) if root.is_dir() else []:
            if spec_path.parent.name in found:
                continue
            try:
                found[spec_path.parent.name] = load_template(spec_path.parent, origin=origin)
            except TemplateError:
                continue  # listed by nothing; `new --lang` on it reports the error
    return list(found.values())
