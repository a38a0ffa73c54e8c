"""``version`` and ``namespaces``."""

from __future__ import annotations

from typing import Any

import click

from pyfaas.cli.app import pass_context
from pyfaas.cli.commands.common import gateway_client
from pyfaas.cli.context import CliContext
from pyfaas.cli.errors import CliError
from pyfaas.cli.options import gateway_options, json_option, stack_option
from pyfaas.core.version import __version__

__all__ = ["namespaces", "version"]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@click.command()
@gateway_options
@stack_option
@json_option
@click.option("--short-version", is_flag=True, help="Print only the CLI's version.")
@pass_context
def version(
    context: CliContext,
    gateway: str | None,
    tls_no_verify: bool,
    stack_file: str | None,
    as_json: bool,
    short_version: bool,
) -> None:
    """The CLI's version and, when reachable, the gateway's and its provider's."""
    out = context.output
    if short_version:
        out.line(__version__)
        return
    info: dict[str, Any] | None = None
    problem = ""
    with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
        url = client.url
        try:
            info = client.info()
        except CliError as exc:
            problem = exc.line()
    if as_json:
        out.json(
            {
                "cli": {"version": __version__},
                "gateway": {"url": url, "info": info, "error": problem or None},
            }
        )
        return
    out.fields([("CLI version", __version__)])
    if info is None:
        out.note(f"Gateway {url}: {problem.removeprefix('Error: ')}")
        return
    provider = _dict(info.get("provider"))
    gw_version = _dict(info.get("version"))
    provider_version = _dict(provider.get("version"))
    out.fields(
        [
            ("Gateway", url),
            ("Gateway version", gw_version.get("release", "") or "-"),
            ("Gateway SHA", gw_version.get("sha", "") or "-"),
            ("Architecture", info.get("arch", "") or "-"),
            ("Provider", provider.get("provider", "") or "-"),
            ("Orchestration", provider.get("orchestration", "") or "-"),
            ("Provider version", provider_version.get("release", "") or "-"),
        ]
    )


@click.command()
@gateway_options
@stack_option
@json_option
@pass_context
def namespaces(
    context: CliContext, gateway: str | None, tls_no_verify: bool, stack_file: str | None, as_json: bool
) -> None:
    """List the namespaces functions can be deployed to."""
    with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
        names = client.namespaces()
    if as_json:
        context.output.json(names)
        return
    for name in names:
        context.output.line(name)
