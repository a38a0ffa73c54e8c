"""How results are shown: rich tables on a terminal, aligned plain text when piped, JSON with ``--json``.

Commands write results through :class:`Output` and never ``print``; errors go through the error handler in
``app`` (one line on stderr). Progress spinners appear only on a terminal. rich is imported only when a
table, a spinner or a coloured line is shown on a terminal (plain output needs none of it).
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Output"]


class Output:
    def __init__(self, stdout: IO[str], stderr: IO[str], *, terminal: bool | None = None) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.terminal = stdout.isatty() if terminal is None else terminal

    @functools.cached_property
    def console(self) -> Console:
        from rich.console import Console

        return Console(file=self.stdout, force_terminal=self.terminal, highlight=False, soft_wrap=True)

    # results ----------------------------------------------------------------------------------------
    def line(self, text: str = "") -> None:
        """Plain text on stdout (no markup interpretation)."""
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def raw(self, data: bytes) -> None:
        buffer = getattr(self.stdout, "buffer", None)
        self.stdout.flush()
        if buffer is not None:
            buffer.write(data)
            buffer.flush()
        else:
            self.stdout.write(data.decode("utf-8", errors="replace"))
            self.stdout.flush()

    def json(self, value: Any) -> None:
        self.line(json.dumps(value, indent=2, ensure_ascii=False, default=str))

    def table(
        self, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None
    ) -> None:
        cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
        if self.terminal:
            from rich.table import Table

            table = Table(title=title, show_edge=False, header_style="bold", pad_edge=False)
            for index, column in enumerate(columns):
                table.add_column(column, overflow="fold", no_wrap=index == 0)
            for row in cells:
                table.add_row(*row)
            self.console.print(table)
            return
        widths = [len(column) for column in columns]
        for row in cells:
            widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=False)]
        for row in [list(columns), *cells]:
            self.line("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip())

    def fields(self, pairs: Sequence[tuple[str, Any]]) -> None:
        """``Key:  value`` lines, aligned (``describe``)."""
        width = max((len(key) for key, _ in pairs), default=0) + 1
        for key, value in pairs:
            self.line(f"{(key + ':').ljust(width)} {'' if value is None else value}")

    # messages ---------------------------------------------------------------------------------------
    def note(self, text: str) -> None:
        """A status message for a person, on stderr so that stdout stays the result."""
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def success(self, text: str) -> None:
        """A confirmation on stdout (what the command did)."""
        if self.terminal:
            self.console.print(f"[green]✔[/green] {_escape(text)}")
        else:
            self.line(text)

    def warn(self, text: str) -> None:
        self.stderr.write(f"Warning: {text}\n")
        self.stderr.flush()

    @contextlib.contextmanager
    def progress(self, text: str) -> Iterator[None]:
        """A spinner while waiting, on a terminal only."""
        if not self.terminal:
            yield
            return
        with self.console.status(_escape(text)):
            yield


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
