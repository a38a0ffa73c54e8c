"""``async status|dead-letters|redrive``: pyfaas's records of asynchronous calls."""

from __future__ import annotations

import click

from pyfaas.cli.app import pass_context
from pyfaas.cli.commands.common import gateway_client
from pyfaas.cli.context import CliContext
from pyfaas.cli.options import gateway_options, json_option, stack_option

__all__ = ["async_group"]


@click.group("async")
def async_group() -> None:
    """Asynchronous calls: their status, the dead letters, and redriving them (pyfaas extension)."""


@async_group.command("status")
@click.argument("call_id")
@gateway_options
@stack_option
@json_option
@pass_context
def status(
    context: CliContext,
    call_id: str,
    gateway: str | None,
    tls_no_verify: bool,
    stack_file: str | None,
    as_json: bool,
) -> None:
    """The state of one async call (queued, running, succeeded, failed, dead-lettered)."""
    with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
        record = client.call_status(call_id)
    if as_json:
        context.output.json(record)
        return
    keys = [
        ("Call ID", "callId"),
        ("Function", "function"),
        ("State", "state"),
        ("Attempts", "attempts"),
        ("Last status", "lastStatus"),
        ("Error", "error"),
        ("Queued", "queuedAt"),
        ("Started", "startedAt"),
        ("Finished", "finishedAt"),
        ("Callback", "callbackUrl"),
        ("Callback status", "callbackStatus"),
    ]
    context.output.fields(
        [(label, record.get(key) if record.get(key) is not None else "-") for label, key in keys]
    )


@async_group.command("dead-letters")
@click.option(
    "--function",
    "function",
    default="",
    metavar="NAME",
    help="Only this function's (name or name.namespace).",
)
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@gateway_options
@stack_option
@json_option
@pass_context
def dead_letters(
    context: CliContext,
    function: str,
    limit: int,
    gateway: str | None,
    tls_no_verify: bool,
    stack_file: str | None,
    as_json: bool,
) -> None:
    """Calls that failed every attempt, oldest first."""
    with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
        data = client.dead_letters(function, limit)
    if as_json:
        context.output.json(data)
        return
    items = data.get("items") or []
    context.output.table(
        ["Call ID", "Function", "Status", "Attempts", "Dead-lettered", "Error"],
        [
            [
                item.get("callId", ""),
                ".".join(part for part in (item.get("function", ""), item.get("namespace", "")) if part),
                item.get("status") if item.get("status") is not None else "-",
                item.get("attempts") if item.get("attempts") is not None else "-",
                item.get("deadLetteredAt") or "-",
                (item.get("error") or "")[:80],
            ]
            for item in items
            if isinstance(item, dict)
        ],
    )
    total = data.get("count", len(items))
    if isinstance(total, int) and total > len(items):
        context.output.note(f"{len(items)} of {total} shown (raise --limit)")


@async_group.command("redrive")
@click.argument("call_ids", nargs=-1, required=True)
@gateway_options
@stack_option
@json_option
@pass_context
def redrive(
    context: CliContext,
    call_ids: tuple[str, ...],
    gateway: str | None,
    tls_no_verify: bool,
    stack_file: str | None,
    as_json: bool,
) -> None:
    """Queue dead-lettered calls again, with fresh attempts."""
    results = []
    with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
        for call_id in call_ids:
            results.append(client.redrive(call_id))
            if not as_json:
                context.output.success(f"Requeued {call_id}")
    if as_json:
        context.output.json(results)
