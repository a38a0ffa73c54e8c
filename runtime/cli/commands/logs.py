"""``logs``: a function's log lines, followed by default as faas-cli does (``--tail=false`` stops)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

from pyfaas.cli.app import pass_context
from pyfaas.cli.commands.common import gateway_client
from pyfaas.cli.context import CliContext
from pyfaas.cli.errors import CliError
from pyfaas.cli.options import gateway_options, namespace_option, stack_option
from pyfaas.core.durations import parse_duration

if TYPE_CHECKING:
    from pyfaas.core.models import LogMessage

__all__ = ["logs"]


def _since(since: str | None, since_time: str | None) -> str | None:
    from pyfaas.core.models import format_rfc3339

    if since and since_time:
        raise CliError("--since and --since-time exclude each other", hint="pick one")
    if since:
        try:
            seconds = parse_duration(since)
        except ValueError as exc:
            raise CliError(f"--since {since!r}: {exc}", hint="a duration such as 30s, 5m or 1h") from exc
        return format_rfc3339(datetime.now(UTC) - timedelta(seconds=seconds))
    if since_time:
        try:
            parsed = datetime.fromisoformat(since_time.replace("Z", "+00:00"))
        except ValueError as exc:
            raise CliError(
                f"--since-time {since_time!r} is not an RFC3339 time", hint="e.g. 2024-05-01T12:00:00Z"
            ) from exc
        return format_rfc3339(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    return None


def _format(message: LogMessage, output: str, name: bool, instance: bool) -> str:
    from pyfaas.core.models import format_rfc3339

    if output == "json":
        return json.dumps(message.wire())
    timestamp = format_rfc3339(message.timestamp)
    text = message.text.rstrip("\n")
    if output == "keyvalue":
        parts = [f"timestamp={timestamp}"]
        if name:
            parts.append(f"name={message.name}")
        if instance:
            parts.append(f"instance={message.instance}")
        parts.append(f"text={text}")
        return " ".join(parts)
    parts = [timestamp]
    if name:
        parts.append(message.name)
    if instance:
        parts.append(f"({message.instance})")
    parts.append(text)
    return " ".join(parts)


@click.command()
@click.argument("name")
@gateway_options
@namespace_option
@stack_option
@click.option(
    "-t",
    "--tail",
    type=click.BOOL,
    default=True,
    is_flag=False,
    flag_value=True,
    show_default=True,
    help="Follow new lines; --tail=false prints what is there and stops.",
)
@click.option("--lines", type=click.IntRange(min=0), default=None, help="Only the last N lines.")
@click.option("--since", default=None, metavar="DURATION", help="Only lines newer than this (e.g. 5m).")
@click.option("--since-time", default=None, metavar="RFC3339", help="Only lines after this time.")
@click.option(
    "-o", "--output", type=click.Choice(["plain", "keyvalue", "json"]), default="plain", show_default=True
)
@click.option("--name/--no-name", "show_name", default=False, help="Print the function name on each line.")
@click.option(
    "--instance/--no-instance", "show_instance", default=False, help="Print the replica on each line."
)
@pass_context
def logs(
    context: CliContext,
    name: str,
    gateway: str | None,
    tls_no_verify: bool,
    namespace: str,
    stack_file: str | None,
    tail: bool,
    lines: int | None,
    since: str | None,
    since_time: str | None,
    output: str,
    show_name: bool,
    show_instance: bool,
) -> None:
    """Print a function's logs (follows by default; Ctrl-C or --tail=false to stop)."""
    since_value = _since(since, since_time)
    out = context.output
    with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
        for message in client.logs(name, namespace=namespace, follow=tail, tail=lines, since=since_value):
            out.line(_format(message, output, show_name, show_instance))
