"""``login`` and ``logout``: basic-auth credentials in faas-cli's config file, checked before saving."""

from __future__ import annotations

import click

from pyfaas.cli.app import pass_context
from pyfaas.cli.commands.common import stack_gateway
from pyfaas.cli.context import CliContext
from pyfaas.cli.errors import CliError
from pyfaas.cli.options import gateway_options, stack_option
from pyfaas.core.version import __version__

__all__ = ["login", "logout"]


@click.command()
@gateway_options
@stack_option
@click.option("-u", "--username", default="admin", show_default=True)
@click.option(
    "-p", "--password", default=None, help="Insecure: visible in the process list; prefer --password-stdin."
)
@click.option("-s", "--password-stdin", is_flag=True, help="Read the password from stdin.")
@pass_context
def login(
    context: CliContext,
    gateway: str | None,
    tls_no_verify: bool,
    stack_file: str | None,
    username: str,
    password: str | None,
    password_stdin: bool,
) -> None:
    """Check credentials against the gateway and save them for later commands."""
    from pyfaas.cli.client import GatewayClient
    from pyfaas.cli.credentials import BasicCredentials

    if password is not None and password_stdin:
        raise CliError("--password and --password-stdin exclude each other", hint="use --password-stdin")
    if password_stdin:
        password = context.stdin.read().decode("utf-8", errors="replace").strip()
    elif password is None:
        if not context.stdin.isatty():
            raise CliError("no password given", hint="pass --password-stdin and pipe it in")
        password = click.prompt("Password", hide_input=True)
    else:
        context.output.warn("--password is visible to other users of this machine; prefer --password-stdin")
    if not password:
        raise CliError("the password is empty", hint="pipe it in: ... | pyfaas login --password-stdin")
    if not username:
        raise CliError("the username is empty", hint="pass -u USER")
    url = context.gateway_url(gateway, stack_gateway(context, stack_file))
    credentials = BasicCredentials(username, password)
    with GatewayClient(
        url,
        auth=(username, password),
        verify=not tls_no_verify,
        timeout=context.settings.timeout,
        user_agent=f"pyfaas-cli/{__version__}",
    ) as client:
        with context.output.progress(f"Checking the credentials with {url}"):
            response = client.send("GET", "/system/functions")
        if response.status_code == 401:
            raise CliError(
                f"the gateway at {url} rejected user {username!r} (401)",
                hint="check the username and password",
            )
        if response.status_code != 200:
            raise client.fail(response, what="login")
    store = context.credentials()
    store.save(url, credentials)
    context.output.success(f"Credentials saved for {username} {url} in {store.path}")


@click.command()
@gateway_options
@stack_option
@pass_context
def logout(context: CliContext, gateway: str | None, tls_no_verify: bool, stack_file: str | None) -> None:
    """Forget the saved credentials of the gateway."""
    url = context.gateway_url(gateway, stack_gateway(context, stack_file))
    store = context.credentials()
    if not store.remove(url):
        raise CliError(
            f"no saved credentials for {url} in {store.path}",
            hint="pass -g URL of a gateway you logged in to",
        )
    context.output.success(f"Credentials removed for {url}")
