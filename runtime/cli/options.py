"""Options shared by many commands, named as faas-cli names them, and ``key=value`` parsing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from pyfaas.cli.errors import CliError

__all__ = [
    "gateway_options",
    "json_option",
    "namespace_option",
    "override_options",
    "parse_pairs",
    "stack_filter_options",
    "stack_option",
]

F = TypeVar("F", bound=Callable[..., Any])


def gateway_options(function: F) -> F:
    """``-g/--gateway`` and ``--tls-no-verify``."""
    function = click.option(
        "--tls-no-verify", is_flag=True, help="Skip TLS certificate verification (self-signed gateways)."
    )(function)
    return click.option(
        "-g",
        "--gateway",
        default=None,
        metavar="URL",
        help="Gateway URL (default: OPENFAAS_URL or http://127.0.0.1:8080).",
    )(function)


def namespace_option(function: F) -> F:
    return click.option(
        "-n", "--namespace", default="", metavar="NS", help="Function namespace (default: the gateway's)."
    )(function)


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(function)


def stack_option(function: F) -> F:
    return click.option(
        "-f",
        "--yaml",
        "stack_file",
        default=None,
        metavar="FILE",
        help="Stack file (default: stack.yaml, else stack.yml).",
    )(function)


def stack_filter_options(function: F) -> F:
    """``--filter GLOB`` and ``--regex RE``: only some of the stack file's functions."""
    function = click.option(
        "--regex", default=None, metavar="RE", help="Only the stack's functions whose name matches the regex."
    )(function)
    return click.option(
        "--filter",
        "glob",
        default=None,
        metavar="GLOB",
        help="Only the stack's functions whose name matches the glob.",
    )(function)


def override_options(function: F) -> F:
    """``-e``, ``-l``, ``--annotation`` and ``--secret``: additions to every deployed function (parsed by
    ``pyfaas.cli.deployment.Overrides.from_flags``)."""
    for option in reversed(
        [
            click.option(
                "-e",
                "--env",
                "env",
                multiple=True,
                metavar="K=V",
                help="Set an environment variable (repeatable).",
            ),
            click.option(
                "-l", "--label", "labels", multiple=True, metavar="K=V", help="Set a label (repeatable)."
            ),
            click.option(
                "--annotation",
                "annotations",
                multiple=True,
                metavar="K=V",
                help="Set an annotation (repeatable).",
            ),
            click.option(
                "--secret",
                "secrets",
                multiple=True,
                metavar="NAME",
                help="Give the function a secret (repeatable).",
            ),
        ]
    ):
        function = option(function)
    return function


def parse_pairs(values: Iterable[str], option: str, *, separators: str = "=") -> dict[str, str]:
    """``key=value`` options into a dict (later wins); a missing separator or an empty key is an error."""
    result: dict[str, str] = {}
    for raw in values:
        positions = [raw.find(sep) for sep in separators if sep in raw]
        if not positions:
            raise CliError(
                f"{option} {raw!r}: expected key{separators[0]}value",
                hint=f"e.g. {option} name{separators[0]}value",
            )
        cut = min(positions)
        key, value = raw[:cut].strip(), raw[cut + 1 :]
        if not key:
            raise CliError(
                f"{option} {raw!r}: the key is empty", hint=f"e.g. {option} name{separators[0]}value"
            )
        result[key] = value.strip() if separators != "=" else value
    return result
