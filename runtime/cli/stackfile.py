"""Where a command's functions come from: a ``stack.yml`` (parsed by :mod:`pyfaas.core.stack`) or a
``functions.py`` (executed, then read by :func:`pyfaas.core.definitions.collect_functions`).

Paths in either (``handler``, ``environment_file``) are relative to the file's folder, as with faas-cli.
The parsers (yaml, the pydantic models) are imported when a file is loaded: most commands only look for one.
"""

from __future__ import annotations

import runpy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pyfaas.cli.errors import CliError

if TYPE_CHECKING:
    from pyfaas.core.definitions import FunctionDefinition

__all__ = ["DEFAULT_STACK_FILES", "LoadedFunctions", "find_stack_file", "load_functions"]

DEFAULT_STACK_FILES = ("stack.yaml", "stack.yml")


@dataclass(frozen=True, slots=True)
class LoadedFunctions:
    path: Path
    functions: list[FunctionDefinition]
    gateway: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def find_stack_file(cwd: Path) -> Path | None:
    """faas-cli's default: ``stack.yaml``, else ``stack.yml``, in the working directory."""
    for name in DEFAULT_STACK_FILES:
        if (cwd / name).is_file():
            return cwd / name
    return None


def _template_fprocess(base_dir: Path) -> object:
    def read(lang: str) -> str | None:
        import yaml

        template = base_dir / "template" / lang / "template.yml"
        if not template.is_file():
            return None
        data = yaml.safe_load(template.read_text())
        value = data.get("fprocess") if isinstance(data, dict) else None
        return str(value) if value else None

    return read


def load_functions(
    path: Path,
    environ: Mapping[str, str] | None,
    *,
    glob: str | None = None,
    regex: str | None = None,
) -> LoadedFunctions:
    """Load and filter the functions of ``path`` (``.py`` → a functions.py; anything else → a stack file).

    ``environ`` enables ``${VAR}`` substitution in stack files (None disables it, as ``--envsubst=false``).
    Errors (missing file, bad YAML, bad field) raise with the file, line and field named.
    """
    from pyfaas.core.definitions import collect_functions
    from pyfaas.core.stack import filter_functions, parse_stack

    if not path.is_file():
        raise CliError(
            f"stack file {path} not found", hint="pass -f FILE, or create one with pyfaas new NAME"
        )
    base_dir = path.resolve().parent
    if path.suffix == ".py":
        try:
            namespace = runpy.run_path(str(path), run_name="__pyfaas_functions__")
        except SyntaxError as exc:
            raise CliError(f"{path}:{exc.lineno}: {exc.msg}", hint="fix the Python syntax") from exc
        definitions = collect_functions(namespace, origin=path.name)
        loaded = LoadedFunctions(path=path, functions=definitions)
    else:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"cannot read stack file {path}: {exc}") from exc

        def env_file(name: str) -> str:
            return (base_dir / name).read_text()

        stack = parse_stack(
            text,
            filename=str(path),
            env=environ,
            env_files=env_file,
            template_fprocess=_template_fprocess(base_dir),  # type: ignore[arg-type]
        )
        loaded = LoadedFunctions(
            path=path, functions=stack.functions, gateway=stack.gateway, warnings=stack.warnings
        )
    selected = filter_functions(loaded.functions, glob=glob, regex=regex)
    if (glob or regex) and not selected:
        wanted = " and ".join(
            part for part in (f"--filter {glob}" if glob else "", f"--regex {regex}" if regex else "") if part
        )
        raise CliError(
            f"no function in {path} matches {wanted}",
            hint=f"functions: {', '.join(f.name for f in loaded.functions) or 'none'}",
        )
    return LoadedFunctions(
        path=loaded.path, functions=selected, gateway=loaded.gateway, warnings=loaded.warnings
    )
