"""``secret create|list|update|remove``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pyfaas.cli.app import pass_context
from pyfaas.cli.commands.common import gateway_client, read_stdin
from pyfaas.cli.context import CliContext
from pyfaas.cli.errors import CliError
from pyfaas.cli.options import gateway_options, json_option, namespace_option, stack_option
from pyfaas.core.errors import ValidationFailed
from pyfaas.core.names import validate_secret_name

if TYPE_CHECKING:
    from pyfaas.core.models import Secret

__all__ = ["secret"]


@click.group()
def secret() -> None:
    """Manage secrets (mounted into functions that list them)."""


def _value_options(function: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(
        [
            click.option("--from-literal", default=None, metavar="VALUE", help="The value, given inline."),
            click.option(
                "--from-file", default=None, metavar="FILE", help="Read the value from a file (binary safe)."
            ),
            click.option(
                "--trim/--no-trim", default=True, show_default=True, help="Trim surrounding whitespace."
            ),
        ]
    ):
        function = option(function)
    return function


def _secret(
    context: CliContext, name: str, namespace: str, literal: str | None, file: str | None, trim: bool
) -> Secret:
    from pyfaas.core.models import Secret

    try:
        validate_secret_name(name)
    except ValidationFailed as exc:
        raise CliError(exc.message, hint="e.g. api-key") from exc
    if literal is not None and file is not None:
        raise CliError("--from-literal and --from-file exclude each other", hint="pick one")
    if file is not None:
        path = context.path(file)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    elif literal is not None:
        data = literal.encode()
    else:
        data = read_stdin(context)
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None  # binary: sent as rawValue, and never trimmed (whitespace bytes may be part of it)
    if text is not None and trim:
        text = text.strip()
    if not (text if text is not None else data):
        raise CliError(
            f"secret {name!r} has an empty value", hint="pass --from-literal, --from-file or stdin"
        )
    if text is not None:
        return Secret(name=name, namespace=namespace or None, value=text)
    return Secret(name=name, namespace=namespace or None, rawValue=data)


def _write_command(command_name: str, *, update: bool, summary: str) -> click.Command:
    """``secret create`` or ``secret update``: the same options and steps, POST or PUT."""

    @secret.command(command_name, help=summary)
    @click.argument("name")
    @_value_options
    @gateway_options
    @stack_option
    @namespace_option
    @pass_context
    def write(
        context: CliContext,
        name: str,
        from_literal: str | None,
        from_file: str | None,
        trim: bool,
        gateway: str | None,
        tls_no_verify: bool,
        stack_file: str | None,
        namespace: str,
    ) -> None:
        value = _secret(context, name, namespace, from_literal, from_file, trim)
        with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
            client.write_secret(value, update=update)
        context.output.success(f"{'Updated' if update else 'Created'} secret: {name}")

    return write


create = _write_command(
    "create", update=False, summary="Create a secret from --from-literal, --from-file or stdin."
)
update = _write_command("update", update=True, summary="Change a secret's value.")


@secret.command("list")
@gateway_options
@stack_option
@namespace_option
@json_option
@pass_context
def list_secrets(
    context: CliContext,
    gateway: str | None,
    tls_no_verify: bool,
    stack_file: str | None,
    namespace: str,
    as_json: bool,
) -> None:
    """List secret names (never their values)."""
    with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
        secrets = client.list_secrets(namespace)
    if as_json:
        context.output.json([s.wire() for s in secrets])
        return
    context.output.table(
        ["Name", "Namespace"],
        [[s.name, s.namespace or namespace or "-"] for s in sorted(secrets, key=lambda s: s.name)],
    )


@secret.command("remove")
@click.argument("name")
@gateway_options
@stack_option
@namespace_option
@pass_context
def remove_secret(
    context: CliContext,
    name: str,
    gateway: str | None,
    tls_no_verify: bool,
    stack_file: str | None,
    namespace: str,
) -> None:
    """Remove a secret."""
    with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
        client.delete_secret(name, namespace)
    context.output.success(f"Removed secret: {name}")


secret.add_command(remove_secret, "rm")
