"""``new NAME --lang L`` and ``template list``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import click

from pyfaas.cli.app import pass_context
from pyfaas.cli.context import CliContext
from pyfaas.cli.errors import CliError
from pyfaas.cli.gateway_url import DEFAULT_GATEWAY, normalise_gateway
from pyfaas.cli.options import json_option
from pyfaas.cli.stackfile import find_stack_file
from pyfaas.core.errors import ValidationFailed
from pyfaas.core.names import validate_function_name

__all__ = ["new", "template"]


def _template_spec(path: Path) -> dict[str, Any] | None:
    """A pulled template's ``template.yml`` (``{}`` when it is not a mapping), or None when unreadable."""
    import yaml  # here: only new and template list read templates

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else {}


def _local_templates(cwd: Path) -> dict[str, str]:
    """Templates pulled into ./template/ (faas-cli's layout): name → description."""
    found: dict[str, str] = {}
    root = cwd / "template"
    if not root.is_dir():
        return found
    for spec in sorted(root.glob("*/template.yml")):
        data = _template_spec(spec)
        if data is not None:
            language = str(data.get("language") or spec.parent.name)
            found[spec.parent.name] = f"./template/{spec.parent.name} ({language})"
    return found


def _pulled_template_folder(cwd: Path, lang: str) -> Path | None:
    """The handler folder of ./template/LANG (its template.yml's handler_folder, default ``function``)."""
    spec = cwd / "template" / lang / "template.yml"
    data = _template_spec(spec) if spec.is_file() else None
    if data is None:
        return None
    handler_folder = str(data.get("handler_folder") or "function")
    folder = spec.parent / handler_folder
    return folder if folder.is_dir() else None


@click.command()
@click.argument("name")
@click.option(
    "--lang",
    required=True,
    metavar="LANG",
    help="Template: python3-http or python3 (see pyfaas template list).",
)
@click.option("-a", "--append", "append", default=None, metavar="FILE", help="Add to this stack file.")
@click.option("-f", "--yaml", "stack_file", default=None, metavar="FILE", help="Same as --append.")
@click.option("-p", "--prefix", default=None, help="Image prefix (registry/user); default OPENFAAS_PREFIX.")
@click.option("-g", "--gateway", default=None, metavar="URL", help="Gateway written into a new stack file.")
@click.option("-q", "--quiet", is_flag=True, help="Do not print what was created.")
@pass_context
def new(
    context: CliContext,
    name: str,
    lang: str,
    append: str | None,
    stack_file: str | None,
    prefix: str | None,
    gateway: str | None,
    quiet: bool,
) -> None:
    """Create a function: a handler folder NAME/ from a template, and its entry in the stack file.

    Appends to -a/-f FILE, else to stack.yaml or stack.yml here, else creates stack.yml.
    """
    from pyfaas.cli.scaffold import TEMPLATES, add_to_stack, new_stack, stack_entry

    try:
        validate_function_name(name, field="name")
    except ValidationFailed as exc:
        raise CliError(exc.message, hint="e.g. pyfaas new hello-world --lang python3-http") from exc
    template = TEMPLATES.get(lang)
    pulled = _pulled_template_folder(context.cwd, lang)
    if template is None and pulled is None:
        raise CliError(
            f"unknown template {lang!r}",
            hint=f"use one of: {', '.join([*TEMPLATES, *_local_templates(context.cwd)])}",
        )
    folder = context.cwd / name
    if folder.exists():
        raise CliError(f"folder {folder} already exists", hint="pick another name, or remove the folder")
    if append and stack_file and append != stack_file:
        raise CliError("--append and -f name different files", hint="pass one of them")
    target = append or stack_file
    stack_path = context.path(target) if target else find_stack_file(context.cwd) or context.cwd / "stack.yml"
    prefix = context.settings.openfaas_prefix if prefix is None else prefix
    image = f"{prefix.rstrip('/')}/{name}:latest" if prefix else f"{name}:latest"
    if stack_path.exists():
        text = stack_path.read_text()
        updated = add_to_stack(text, stack_path.name, name, lang, image)
    else:
        if target and not stack_path.parent.is_dir():
            raise CliError(f"folder {stack_path.parent} does not exist", hint="create it first")
        updated = new_stack(normalise_gateway(gateway or DEFAULT_GATEWAY), stack_entry(name, lang, image))
    if template is not None:
        folder.mkdir(parents=True)
        for filename, content in template.files.items():
            (folder / filename).write_text(content)
    elif pulled is not None:
        shutil.copytree(pulled, folder)
    existed = stack_path.exists()
    stack_path.write_text(updated)
    if not quiet:
        out = context.output
        out.success(f"Created {name}/ from template {lang}")
        out.success(f"{'Added' if existed else 'Wrote'} {name} {'to' if existed else 'in'} {stack_path.name}")
        out.line(
            f"Next: edit {name}/handler.py, then pyfaas deploy -f {stack_path.name} && pyfaas invoke {name}"
        )


@click.group()
def template() -> None:
    """Function templates."""


@template.command("list")
@json_option
@pass_context
def list_templates(context: CliContext, as_json: bool) -> None:
    """Templates `pyfaas new --lang` can use (built in, plus ./template/ if present)."""
    from pyfaas.cli.scaffold import TEMPLATES

    rows = [(t.name, t.description) for t in TEMPLATES.values()]
    rows += [
        (name, description)
        for name, description in _local_templates(context.cwd).items()
        if name not in TEMPLATES
    ]
    if as_json:
        context.output.json([{"name": name, "description": description} for name, description in rows])
        return
    context.output.table(["Template", "Description"], rows)
