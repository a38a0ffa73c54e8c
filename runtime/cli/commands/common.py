"""Helpers the command modules share: the stack file a command uses for its gateway, and stdin."""

from __future__ import annotations

from pathlib import Path

from runtime.cli.context import CliContext
from runtime.cli.errors import CliError
from runtime.cli.stackfile import LoadedFunctions, find_stack_file, load_functions
from runtime.core.errors import PyfaasError

__all__ = ["read_stdin", "stack_for_gateway", "stack_gateway"]


def stack_for_gateway(context: CliContext, stack_file: str | None) -> LoadedFunctions | None:
    """The stack whose ``provider.gateway`` applies: ``-f FILE`` (errors are fatal), else a default stack
    file in the working directory (errors there only warn: the command does not need its functions)."""
    if stack_file:
        return load_functions(context.path(stack_file), context.environ)
    found = find_stack_file(context.cwd)
    if found is None:
        return None
    try:
        return load_functions(found, context.environ)
    except (PyfaasError, CliError) as exc:
        message = exc.line() if isinstance(exc, CliError) else exc.message
        context.output.warn(f"ignoring {found.name} for the gateway address: {message}")
        return None


def read_stdin(context: CliContext) -> bytes:
    stream = context.stdin
    if stream.isatty():
        context.output.note("Reading from STDIN - hit (Control + D) to stop.")
    return stream.read()


def resolve(path: str, cwd: Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else cwd / candidate


def stack_gateway(context: CliContext, stack_file: str | None) -> str | None:
    """``provider.gateway`` of the stack that applies (see :func:`stack_for_gateway`), or None."""
    stack = stack_for_gateway(context, stack_file)
    return stack.gateway if stack else None
