"""``key create|list|revoke`` and ``key token``: credentials of private functions (``com.pyfaas.private``).

A pyfaas extension over ``/system/function-keys/NAME`` and ``/system/function-tokens/NAME``; the gateway keeps
only a hash of each key, so ``create`` prints it once. ``pyfaas invoke --function-key`` (or
``PYFAAS_FUNCTION_KEY``) sends one as ``Authorization: Bearer``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
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


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@dataclass(frozen=True)
class _Function:
    """The function a ``key`` command is about, and its gateway (``-g``, ``--tls-no-verify``, ``-f``)."""

    context: CliContext
    name: str
    gateway: str | None
    tls_no_verify: bool
    stack_file: str | None
    namespace: str

    def call(
        self, method: str, path: str, *, expect: int, what: str, body: dict[str, Any] | None = None
    ) -> Any:
        """One request to ``/system/PATH``; its JSON answer (None for an empty one), or the CLI's error for
        any status but ``expect``."""
        with gateway_client(self.context, self.gateway, self.tls_no_verify, self.stack_file) as client:
            params = {"namespace": self.namespace} if self.namespace else {}
            response = client.send(method, f"/system/{path}", params=params, json_body=body)
            if response.status_code != expect:
                raise client.fail(response, what=what)
            return response.json() if response.content else None


def _function_command(
    name: str, *options: Callable[[Any], Any], as_json: bool = True
) -> Callable[[Callable[..., None]], click.Command]:
    """``key NAME FUNCTION [OPTIONS]`` with the gateway, stack and namespace options (and ``--json``), in
    that order; the body gets the first as one :class:`_Function` and its own ``options`` by name."""

    def decorate(body: Callable[..., None]) -> click.Command:
        @functools.wraps(body)
        def command(
            context: CliContext,
            function: str,
            gateway: str | None,
            tls_no_verify: bool,
            stack_file: str | None,
            namespace: str,
            **rest: Any,
        ) -> None:
            body(_Function(context, function, gateway, tls_no_verify, stack_file, namespace), **rest)

        decorators: list[Callable[[Any], Any]] = [
            key.command(name),
            click.argument("function"),
            *options,
            gateway_options,
            stack_option,
            namespace_option,
            *([json_option] if as_json else []),
            pass_context,
        ]
        made: Any = command
        for decorator in reversed(decorators):
            made = decorator(made)
        return made  # type: ignore[no-any-return]

    return decorate


@_function_command(
    "create", click.option("--label", default="", help="A note to tell keys apart (e.g. who uses it).")
)
def create_key(function: _Function, label: str, as_json: bool) -> None:
    """Create an API key for FUNCTION; it is printed once (the gateway keeps only its hash)."""
    created: dict[str, Any] = function.call(
        "POST",
        f"function-keys/{function.name}",
        expect=201,
        what=f"create a key for {function.name}",
        body={"label": label},
    )
    output = function.context.output
    if as_json:
        output.json(created)
        return
    output.note(f"Key {created['id']} for {function.name}: shown once, store it now.")
    output.line(created["key"])


@_function_command("list")
def list_keys(function: _Function, as_json: bool) -> None:
    """List FUNCTION's API keys (ids and labels, never the keys)."""
    keys: list[dict[str, Any]] = function.call(
        "GET", f"function-keys/{function.name}", expect=200, what=f"list the keys of {function.name}"
    )
    output = function.context.output
    if as_json:
        output.json(keys)
        return
    output.table(
        ["Id", "Label", "Created"], [[k["id"], k["label"] or "-", _when(k["created"])] for k in keys]
    )


@_function_command("revoke", click.argument("key_id"), as_json=False)
def revoke_key(function: _Function, key_id: str) -> None:
    """Revoke FUNCTION's key KEY_ID (calls with it get 401 at once)."""
    function.call(
        "DELETE",
        f"function-keys/{function.name}/{key_id}",
        expect=204,
        what=f"revoke key {key_id} of {function.name}",
    )
    function.context.output.success(f"Revoked key {key_id} of {function.name}")


@_function_command(
    "token",
    click.option(
        "--ttl", type=click.IntRange(1, 366 * 86400), default=3600, show_default=True, help="Seconds."
    ),
    click.option(
        "--scope",
        type=click.Choice(["function", "namespace"]),
        default="function",
        show_default=True,
        help="Valid for FUNCTION only, or for every private function of its namespace.",
    ),
)
def token(function: _Function, ttl: int, scope: str, as_json: bool) -> None:
    """Mint a signed token (JWT) for FUNCTION that expires after --ttl seconds."""
    minted: dict[str, Any] = function.call(
        "POST",
        f"function-tokens/{function.name}",
        expect=201,
        what=f"mint a token for {function.name}",
        body={"ttl": ttl, "scope": scope},
    )
    output = function.context.output
    if as_json:
        output.json(minted)
        return
    output.note(f"Token for {minted['audience']}, expires {_when(minted['expires'])}.")
    output.line(minted["token"])
