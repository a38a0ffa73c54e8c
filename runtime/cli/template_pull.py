"""``pyfaas template pull SOURCE``: templates from a repository in OpenFaaS's layout into ``./template/``.

A template repository has ``template/<name>/template.yml`` (plus the template's Dockerfile, entry point and
handler skeleton) at its root. SOURCE is a local folder laid out so, or anything ``git clone`` accepts (a
URL, ``file://``, a path to a repository), optionally ending in ``#REF`` for a branch or tag, as with
faas-cli. Templates already in ``./template/`` are kept unless ``overwrite``.

The bundled store index (``templates/store.json``) lists the built-in templates and well-known OpenFaaS
ones with their repositories, for ``template store list`` and ``template store pull``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from pyfaas.cli.errors import CliError
from pyfaas.provider.local.templates import (
    PROJECT_TEMPLATE_DIR,
    TemplateError,
    builtin_templates_dir,
    load_template,
)

__all__ = [
    "PullResult",
    "StoreEntry",
    "pull_stack_templates",
    "pull_templates",
    "split_source",
    "store_index",
]

CLONE_TIMEOUT = 300.0
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass
class PullResult:
    source: str
    fetched: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """Already in ./template/ and left as they were (no --overwrite)."""
    invalid: list[str] = field(default_factory=list)
    """``name: why`` for folders under template/ that are not usable templates."""


def split_source(source: str) -> tuple[str, str]:
    """``repo#ref`` → (repo, ref); a source with no ``#`` has ref ``""``."""
    repository, _, ref = source.rpartition("#")
    return (repository, ref) if repository and ref else (source, "")


def _clone(repository: str, ref: str, into: Path, environ: Mapping[str, str]) -> None:
    git = shutil.which("git", path=environ.get("PATH", os.defpath))
    if git is None:
        raise CliError(
            "pulling a template repository needs git, and there is no `git` on PATH",
            hint="install Debian's git package: sudo apt-get install git (or pass a local folder)",
        )
    argv = [git, "clone", "--quiet", "--depth", "1"]
    if ref:
        argv += ["--branch", ref]
    argv += ["--", repository, str(into)]
    env = {**environ, "GIT_TERMINAL_PROMPT": "0"}  # a private URL fails instead of waiting for a password
    try:
        completed = subprocess.run(
            argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CLONE_TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        raise CliError(f"git clone {repository} took over {CLONE_TIMEOUT:.0f} s", hint="try again") from exc
    if completed.returncode != 0:
        lines = [line for line in completed.stderr.splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit {completed.returncode}"
        raise CliError(
            f"cannot clone {repository}{'#' + ref if ref else ''}: {reason}",
            hint="check the URL (and the branch or tag after #)",
        )


def _copy_templates(
    root: Path, source: str, destination: Path, *, overwrite: bool, only: str | None = None
) -> PullResult:
    folder = root / PROJECT_TEMPLATE_DIR
    if not folder.is_dir():
        raise CliError(
            f"{source} has no {PROJECT_TEMPLATE_DIR}/ folder",
            hint=f"OpenFaaS's layout: {PROJECT_TEMPLATE_DIR}/<name>/template.yml at the repository's root",
        )
    result = PullResult(source)
    for candidate in sorted(p for p in folder.iterdir() if p.is_dir()):
        name = candidate.name
        if only is not None and name != only:
            continue
        if not _NAME.fullmatch(name):
            result.invalid.append(f"{name}: not a template name")
            continue
        try:
            load_template(candidate, origin=source)
        except TemplateError as exc:
            result.invalid.append(f"{name}: {exc.message}")
            continue
        target = destination / name
        if target.exists():
            if not overwrite:
                result.kept.append(name)
                continue
            shutil.rmtree(target)
        destination.mkdir(parents=True, exist_ok=True)
        shutil.copytree(candidate, target, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        result.fetched.append(name)
    if not (result.fetched or result.kept):
        wanted = f"template {only!r}" if only else "usable template"
        raise CliError(
            f"{source} has no {wanted} under {PROJECT_TEMPLATE_DIR}/"
            + (f" ({'; '.join(result.invalid)})" if result.invalid else ""),
            hint=f"each needs {PROJECT_TEMPLATE_DIR}/<name>/template.yml",
        )
    return result


def pull_templates(
    source: str,
    project_dir: Path,
    *,
    overwrite: bool,
    environ: Mapping[str, str],
    only: str | None = None,
) -> PullResult:
    """Copy SOURCE's templates (or only the one named ``only``) into ``project_dir/template/``."""
    destination = project_dir / PROJECT_TEMPLATE_DIR
    local = Path(source).expanduser()
    if local.is_dir():
        return _copy_templates(local, source, destination, overwrite=overwrite, only=only)
    repository, ref = split_source(source)
    with tempfile.TemporaryDirectory(prefix="pyfaas-template-") as scratch:
        checkout = Path(scratch) / "repository"
        _clone(repository, ref, checkout, environ)
        return _copy_templates(checkout, source, destination, overwrite=overwrite, only=only)


def pull_stack_templates(
    stack_file: Path, *, overwrite: bool, environ: Mapping[str, str]
) -> tuple[list[PullResult], list[str]]:
    """faas-cli's ``template pull stack``: each ``configuration.templates`` entry of the stack file, from its
    ``source`` (a repository or folder) or else from the store index. Returns the pulls and the names that
    are built in (nothing to pull)."""
    from pyfaas.core.errors import ValidationFailed
    from pyfaas.core.stack import parse_stack

    try:
        stack = parse_stack(
            stack_file.read_text(),
            filename=str(stack_file),
            env=environ,
            env_files=lambda name: (stack_file.parent / name).read_text(),
        )
    except OSError as exc:
        raise CliError(f"cannot read {stack_file}: {exc.strerror}", hint="pass -f FILE") from exc
    except ValidationFailed as exc:
        raise CliError(exc.message, hint="fix the stack file") from exc
    if not stack.templates:
        raise CliError(
            f"{stack_file.name} lists no configuration.templates",
            hint="add configuration: templates: [{name: NAME, source: URL}]",
        )
    results: list[PullResult] = []
    built_in: list[str] = []
    index = store_index()
    for entry in stack.templates:
        source = entry.source
        if not source:
            known = [e for e in index if e.template == entry.name]
            if known and not known[0].repo:
                built_in.append(entry.name)
                continue
            if not known:
                raise CliError(
                    f"{stack_file.name}: template {entry.name!r} has no source and is not in the index",
                    hint="give it a source (a repository URL or folder)",
                )
            source = known[0].repo
        results.append(
            pull_templates(source, stack_file.parent, overwrite=overwrite, environ=environ, only=entry.name)
        )
    return results, built_in


class StoreEntry(BaseModel):
    """One row of the bundled store index (the fields of OpenFaaS's templates.json that pyfaas uses)."""

    model_config = ConfigDict(extra="ignore")

    template: str
    language: str
    source: str
    repo: str = ""
    description: str = ""
    local: bool = False
    """Runs in pyfaas's local mode as it is (the built-in templates)."""


def store_index() -> list[StoreEntry]:
    path = builtin_templates_dir() / "store.json"
    try:
        return TypeAdapter(list[StoreEntry]).validate_python(json.loads(path.read_text()))
    except (OSError, ValueError, ValidationError) as exc:
        raise CliError(
            f"cannot read the bundled template index {path}: {exc}", hint="reinstall pyfaas"
        ) from exc
