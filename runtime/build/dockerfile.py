"""The instructions of a template Dockerfile's last stage, read (never run) for the daemonless builder.

Continuation lines are joined, comments dropped; ``FROM x AS y`` starts a stage. What the builder does with
the instructions is :mod:`pyfaas.build.function`'s business.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from pyfaas.build.errors import BuildError

__all__ = ["Instruction", "Stage", "last_stage", "parse_env", "parse_exec_form", "stages"]


@dataclass(frozen=True)
class Instruction:
    keyword: str
    """Upper case: FROM, RUN, COPY, ENV ..."""
    rest: str
    line: int


def _logical_lines(text: str) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append((start, pending + line))
        pending = ""
    if pending:
        lines.append((start, pending))
    return lines


@dataclass(frozen=True)
class Stage:
    image: str
    """What ``FROM`` names (``python:3.12-slim``)."""
    name: str
    """``AS name``, else the stage's index as text (what ``COPY --from=`` accepts)."""
    instructions: list[Instruction]
    """FROM included."""


def stages(path: Path) -> list[Stage]:
    """Every stage, in order (instructions before the first FROM, such as global ARGs, are dropped)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise BuildError(f"cannot read {path}: {exc}") from exc
    found: list[Stage] = []
    for number, line in _logical_lines(text):
        keyword, _, rest = line.partition(" ")
        instruction = Instruction(keyword.upper(), rest.strip(), number)
        if instruction.keyword == "FROM":
            words = [word for word in rest.split() if not word.startswith("--")]
            if not words:
                raise BuildError(f"{path}:{number}: FROM names no image")
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(found))
            found.append(Stage(words[0], name, []))
        if found:
            found[-1].instructions.append(instruction)
    if not found:
        raise BuildError(f"{path} has no FROM instruction")
    return found


def last_stage(path: Path) -> list[Instruction]:
    """The instructions of the last stage (the image that runs), FROM included."""
    return stages(path)[-1].instructions


def parse_env(rest: str) -> dict[str, str]:
    """``ENV k=v k2="v 2"`` or the legacy ``ENV k v``."""
    words = shlex.split(rest)
    if not words:
        return {}
    if "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words if "=" in word)


def parse_exec_form(rest: str, where: str) -> list[str]:
    """``CMD ["a", "b"]`` as a list; the shell form becomes ``/bin/sh -c``, as Docker does."""
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError as exc:
            raise BuildError(f"{where}: not a JSON array: {rest}") from exc
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise BuildError(f"{where}: not a list of strings: {rest}")
        return value
    return ["/bin/sh", "-c", rest]
