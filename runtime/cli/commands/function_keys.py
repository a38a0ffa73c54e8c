"""``key create|list|revoke`` and ``key token``: credentials of private functions (``com.pyfaas.private``).

A pyfaas extension over ``/system/function-keys/NAME`` and ``/system/function-tokens/NAME``; the gateway keeps
only a hash of each key, so ``create`` prints it once. ``pyfaas invoke --function-key`` (or
``PYFAAS_FUNCTION_KEY``) sends one as ``Authorization: Bearer``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from pyfaas.cli.app import pass_context
from pyfaas.cli.commands.common import gateway_client
from pyfaas.cli.context import CliContext
from pyfaas.cli.options import gateway_options, json_option, namespace_option, stack_option

__all__ = ["key"]


@click.group()
def key() -> None:
    """Manage API keys and tokens of private functions (annotation com.pyfaas.private=true)."""


def _params(namespace: str) -> dict[str, str]:
    return {"namespace": namespace} if namespace else {}


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@key.command("create")
@click.argument("function")
@click.option("--label", default="", help="A note to tell keys apart (e.g. who uses it).")
@gateway_options
@stack_option
@namespace_option
@json_option
@pass_context
def create_key(
    context: CliContext,
    function: str,
    label: str,
    gateway: str | None,
    tls_no_verify: bool,
    stack_file: str | None,
    namespace: str,
    as_json: bool,
) -> None:
    """Create an API key for FUNCTION; it is printed once (the gateway keeps only its hash)."""
    with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
        response = client.send(
            "POST", f"/system/function-keys/{function}", params=_params(namespace), json_body={"label": label}
        )
        if response.status_code != 201:
            raise client.fail(response, what=f"create a key for {function}")
        created: dict[str, Any] = response.json()
    if as_json:
        context.output.json(created)
        return
    context.output.note(f"Key {created['id']} for {function}: shown once, store it now.")
    context.output.line(created["key"])


@key.command("list")
@click.argument("function")
@gateway_options
@stack_option
@namespace_option
@json_option
@pass_context
def list_keys(
    context: CliContext,
    function: str,
    gateway: str | None,
    tls_no_verify: bool,
    stack_file: str | None,
    namespace: str,
    as_json: bool,
) -> None:
    """List FUNCTION's API keys (ids and labels, never the keys)."""
    with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
        response = client.send("GET", f"/system/function-keys/{function}", params=_params(namespace))
        if response.status_code != 200:
            raise client.fail(response, what=f"list the keys of {function}")
        keys: list[dict[str, Any]] = response.json()
    if as_json:
        context.output.json(keys)
        return
    context.output.table(
        ["Id", "Label", "Created"], [[k["id"], k["label"] or "-", _when(k["created"])] for k in keys]
    )


@key.command("revoke")
@click.argument("function")
@click.argument("key_id")
@gateway_options
@stack_option
@namespace_option
@pass_context
def revoke_key(
    context: CliContext,
    function: str,
    key_id: str,
    gateway: str | None,
    tls_no_verify: bool,
    stack_file: str | None,
    namespace: str,
) -> None:
    """Revoke FUNCTION's key KEY_ID (calls with it get 401 at once)."""
    with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
        response = client.send(
            "DELETE", f"/system/function-keys/{function}/{key_id}", params=_params(namespace)
        )
        if response.status_code != 204:
            raise client.fail(response, what=f"revoke key {key_id} of {function}")
    context.output.success(f"Revoked key {key_id} of {function}")


@key.command("token")
@click.argument("function")
@click.option("--ttl", type=click.IntRange(1, 366 * 86400), default=3600, show_default=True, help="Seconds.")
@click.option(
    "--scope",
    type=click.Choice(["function", "namespace"]),
    default="function",
    show_default=True,
    help="Valid for FUNCTION only, or for every private function of its namespace.",
)
@gateway_options
@stack_option
@namespace_option
@json_option
@pass_context
def token(
    context: CliContext,
    function: str,
    ttl: int,
    scope: str,
    gateway: str | None,
    tls_no_verify: bool,
    stack_file: str | None,
    namespace: str,
    as_json: bool,
) -> None:
    """Mint a signed token (JWT) for FUNCTION that expires after --ttl seconds."""
    with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
        response = client.send(
            "POST",
            f"/system/function-tokens/{function}",
            params=_params(namespace),
            json_body={"ttl": ttl, "scope": scope},
        )
        if response.status_code != 201:
            raise client.fail(response, what=f"mint a token for {function}")
        minted: dict[str, Any] = response.json()
    if as_json:
        context.output.json(minted)
        return
    context.output.note(f"Token for {minted['audience']}, expires {_when(minted['expires'])}.")
    context.output.line(minted["token"])
