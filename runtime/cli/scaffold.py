"""What ``new`` writes: a handler folder copied from a template's skeleton and the stack entry (appended in
place, so the user's comments and layout survive). :mod:`pyfaas.provider.local.templates` reads templates.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from pyfaas.cli.errors import CliError
from pyfaas.provider.local.templates import TemplateSpec

__all__ = ["add_to_stack", "copy_skeleton", "new_stack", "stack_entry"]

_NOT_COPIED = ("__pycache__", "node_modules", ".pyfaas-build.json", ".pyfaas-build.log")


def copy_skeleton(template: TemplateSpec, folder: Path) -> None:
    """The template's handler skeleton (``function/``) as the new function's folder."""
    if not template.skeleton.is_dir():
        raise CliError(
            f"template {template.name} ({template.folder}) has no {template.handler_folder}/ folder",
            hint="fix or re-pull the template",
        )
    shutil.copytree(template.skeleton, folder, ignore=shutil.ignore_patterns(*_NOT_COPIED))


def stack_entry(name: str, lang: str, image: str, indent: int = 2) -> str:
    pad, inner = " " * indent, " " * (indent * 2)
    return f"{pad}{name}:\n{inner}lang: {lang}\n{inner}handler: ./{name}\n{inner}image: {image}\n"


def new_stack(gateway: str, entry: str) -> str:
    return f"version: 1.0\nprovider:\n  name: openfaas\n  gateway: {gateway}\nfunctions:\n{entry}"


def add_to_stack(text: str, filename: str, name: str, lang: str, image: str) -> str:
    """``text`` with the function appended to its ``functions:`` map; the rest of the file is untouched."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise CliError(
            f"{filename} is not valid YAML: {str(exc).splitlines()[0]}", hint="fix it first"
        ) from exc
    if not isinstance(root, yaml.MappingNode):
        raise CliError(f"{filename} is not a stack file (expected a map)", hint="pass another file with -f")
    functions = next((value for key, value in root.value if getattr(key, "value", None) == "functions"), None)
    if functions is None:
        separator = "" if text.endswith("\n") or not text else "\n"
        return f"{text}{separator}functions:\n{stack_entry(name, lang, image)}"
    if isinstance(functions, yaml.MappingNode) and functions.value and not functions.flow_style:
        for key, _ in functions.value:
            if getattr(key, "value", None) == name:
                raise CliError(f"{filename} already has a function {name!r}", hint="pick another name")
        indent = functions.value[0][0].start_mark.column
        end = functions.end_mark
        lines = text.splitlines(keepends=True)
        at = end.line if end.column == 0 or end.line >= len(lines) else end.line + 1
        # step back over blank lines and comments, which belong to what follows
        while (
            at > 0
            and at <= len(lines)
            and (not lines[at - 1].strip() or lines[at - 1].lstrip().startswith("#"))
        ):
            at -= 1
        head = "".join(lines[:at])
        if head and not head.endswith("\n"):
            head += "\n"
        return head + stack_entry(name, lang, image, indent) + "".join(lines[at:])
    if isinstance(functions, yaml.MappingNode) and functions.value:
        raise CliError(
            f"{filename}: 'functions' is written inline", hint="write it as a block map, then retry"
        )
    start, stop = functions.start_mark.index, functions.end_mark.index
    return text[:start].rstrip(" ") + "\n" + stack_entry(name, lang, image) + text[stop:].lstrip("\n")
