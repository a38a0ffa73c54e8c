"""Helpers the command modules share: the gateway client the common options name, its stack file, stdin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyfaas.cli.context import CliContext
from pyfaas.cli.errors import CliError
from pyfaas.cli.stackfile import LoadedFunctions, find_stack_file, load_functions
from pyfaas.core.errors import PyfaasError

if TYPE_CHECKING:
    from pyfaas.cli.client import GatewayClient

__all__ = ["gateway_client", "read_stdin", "stack_for_gateway", "stack_gateway"]


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


def stack_gateway(context: CliContext, stack_file: str | None) -> str | None:
    """``provider.gateway`` of the stack that applies (see :func:`stack_for_gateway`), or None."""
    stack = stack_for_gateway(context, stack_file)
    return stack.gateway if stack else None


def gateway_client(
    context: CliContext, gateway: str | None, tls_no_verify: bool, stack_file: str | None
) -> GatewayClient:
    """The client of the gateway that ``-g``, ``--tls-no-verify`` and ``-f`` name (``-g``, else the stack's
    ``provider.gateway``, else ``OPENFAAS_URL``, else the default), with the saved credentials."""
    return context.client(
        gateway, tls_no_verify=tls_no_verify, stack_gateway=stack_gateway(context, stack_file)
    )


def read_stdin(context: CliContext) -> bytes:
    stream = context.stdin
    if stream.isatty():
        context.output.note("Reading from STDIN - hit (Control + D) to stop.")
    return stream.read()
