"""The CLI's error: one line on stderr (the cause, then a hint), and a non-zero exit code."""

from __future__ import annotations

__all__ = ["CliError", "format_error"]


class CliError(Exception):
    """A failure the user can act on: ``hint`` says what to do next, ``exit_code`` the exit status."""

    def __init__(self, message: str, *, hint: str = "", exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def line(self) -> str:
        return format_error(self.message, self.hint)


def format_error(message: str, hint: str = "") -> str:
    """``Error: <cause>: <hint>`` on one line (newlines in a server's message are folded)."""
    text = " ".join(message.split()) if "\n" in message else message
    return f"Error: {text.rstrip('.')}: {hint}" if hint else f"Error: {text}"
