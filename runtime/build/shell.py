"""A template ``RUN`` line read as the list of commands it would run, without a shell.

The daemonless builder does what a ``RUN`` does rather than running it, so it needs the commands: build
arguments and environment expanded (unset is empty, as in ``sh``), ``&&`` and ``;`` sequences, ``cd``, and
``if [ TEST ]; then ...; else ...; fi`` decided here (``-n``, ``-z``, ``-f``, ``-d``, ``=``, ``!=``), which
is how templates guard optional steps such as ``apt-get install ${ADDITIONAL_PACKAGE}``. Anything a static
reading cannot decide (``||``, pipes, redirections, loops, a condition that is not a test) is refused.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from pyfaas.build.errors import BuildError

__all__ = ["Command", "commands", "expand"]

VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
SEPARATORS = {";", "&&", "\n"}
OPERATOR = re.compile(r"[;&|<>()]+")
"""Shell punctuation other than the separators: pipes, redirections, subshells, ``||``, ``&``."""


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    cwd: str
    """The image folder it runs in (absolute)."""


def expand(text: str, variables: Mapping[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced by their values (unset: empty)."""
    return VARIABLE.sub(lambda match: variables.get(match.group(1) or match.group(2), ""), text)


class _Reader:
    def __init__(self, tokens: list[str], cwd: str, exists: Callable[[str, bool], bool], where: str) -> None:
        self.tokens, self.position, self.cwd, self.exists, self.where = tokens, 0, cwd, exists, where

    def refuse(self, what: str) -> BuildError:
        return BuildError(
            f"{self.where}: RUN {what}: the daemonless builder cannot read this; "
            "build the image with Docker, Podman or Buildah"
        )

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.tokens[self.position]
        self.position += 1
        return token

    def expect(self, word: str) -> None:
        while self.peek() in SEPARATORS:
            self.position += 1
        if self.peek() != word:
            raise self.refuse(f"expected {word!r} near {' '.join(self.tokens[self.position :][:6])!r}")
        self.position += 1

    def sequence(self, ends: frozenset[str], run: bool) -> list[Command]:
        """Commands up to (not including) one of ``ends``; collected only when ``run``."""
        found: list[Command] = []
        while (token := self.peek()) is not None and token not in ends:
            if token in SEPARATORS:
                self.position += 1
                continue
            if token == "if":
                found += self.conditional(run)
            else:
                found += self.simple(run)
        return found

    def conditional(self, run: bool) -> list[Command]:
        self.expect("if")
        taken = False
        found: list[Command] = []
        while True:
            condition = self.simple(run=True, keep=True)
            if len(condition) != 1:
                raise self.refuse("an if without a condition")
            self.expect("then")
            holds = not taken and self.test(condition[0].words)
            found += self.sequence(frozenset({"elif", "else", "fi"}), run and holds)
            taken = taken or holds
            keyword = self.take() if self.peek() is not None else "end"
            if keyword == "elif":
                continue
            if keyword == "else":
                found += self.sequence(frozenset({"fi"}), run and not taken)
                self.expect("fi")
            elif keyword != "fi":
                raise self.refuse("an if without fi")
            return found

    def simple(self, run: bool, keep: bool = False) -> list[Command]:
        words: list[str] = []
        while (token := self.peek()) is not None and token not in SEPARATORS:
            if OPERATOR.fullmatch(token):
                raise self.refuse(f"{token!r} (only && and ; sequences are read)")
            if not words and token in ("then", "elif", "else", "fi"):
                break
            words.append(self.take())
        if not words:
            return []
        if keep:
            return [Command(tuple(words), self.cwd)]
        if run and words[0] == "cd":
            if len(words) != 2:
                raise self.refuse(" ".join(words))
            self.cwd = str(PurePosixPath(self.cwd) / words[1])
            return []
        return [Command(tuple(words), self.cwd)] if run else []

    def test(self, words: tuple[str, ...]) -> bool:
        inner = list(words)
        if inner[:1] == ["["] and inner[-1:] == ["]"]:
            inner = inner[1:-1]
        elif inner[:1] == ["test"]:
            inner = inner[1:]
        else:
            raise self.refuse(f"if {' '.join(words)} (only [ ... ] tests are read)")
        negate = inner[:1] == ["!"]
        inner = inner[1:] if negate else inner
        if len(inner) == 2 and inner[0] in ("-n", "-z"):
            result = bool(inner[1]) == (inner[0] == "-n")
        elif len(inner) == 2 and inner[0] in ("-f", "-e", "-d"):
            path = str(PurePosixPath(self.cwd) / inner[1])
            result = self.exists(path, inner[0] == "-d")
        elif len(inner) == 3 and inner[1] in ("=", "==", "!="):
            result = (inner[0] == inner[2]) == (inner[1] != "!=")
        elif len(inner) == 1:
            result = bool(inner[0])
        else:
            raise self.refuse(f"[ {' '.join(inner)} ] (an unknown test)")
        return result != negate


def commands(
    text: str,
    variables: Mapping[str, str],
    *,
    cwd: str,
    exists: Callable[[str, bool], bool],
    where: str,
) -> list[Command]:
    """The commands the shell text ``text`` runs, in order. ``exists(path, folder)`` answers ``-f``/``-d``
    tests about the image being built; ``where`` (``Dockerfile:LINE``) starts every error."""
    if text.lstrip().startswith("["):
        raise BuildError(f"{where}: RUN in exec form needs a container build (Docker, Podman or Buildah)")
    lexer = shlex.shlex(expand(text, variables), posix=True, punctuation_chars=";&|<>()")
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError as exc:
        raise BuildError(f"{where}: RUN: {exc}") from exc
    reader = _Reader(tokens, cwd, exists, where)
    found = reader.sequence(frozenset(), run=True)
    if reader.peek() is not None:
        raise reader.refuse(f"unexpected {reader.peek()!r}")
    return found
