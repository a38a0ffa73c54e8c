"""``store list|describe|deploy``: the function store (bundled catalog, or ``--url`` / ``OPENFAAS_STORE``).

The catalog module (httpx, pydantic) is imported by the subcommands, not here: ``pyfaas --help`` imports this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click
from click.decorators import FC

from pyfaas.cli.app import pass_context
from pyfaas.cli.commands.common import gateway_client
from pyfaas.cli.context import CliContext
from pyfaas.cli.errors import CliError
from pyfaas.cli.options import (
    gateway_options,
    json_option,
    namespace_option,
    override_options,
    stack_option,
)

if TYPE_CHECKING:
    from pyfaas.store.catalog import Catalog, StoreFunction

__all__ = ["store"]


def _url_option(function: FC) -> FC:
    return click.option(
        "--url",
        "store_url",
        default=None,
        metavar="URL|FILE",
        help="Store catalog (default: OPENFAAS_STORE, else the bundled one).",
    )(function)


def _platform_option(purpose: str) -> Callable[[FC], FC]:
    """``--platform``; its default, the catalog's, is applied by the command (the catalog loads late)."""
    return click.option(
        "--platform", default=None, help=f"{purpose}; default: the catalog's default platform."
    )


def _catalog(context: CliContext, url: str | None) -> Catalog:
    from pyfaas.store.catalog import load_catalog

    return load_catalog(url or context.settings.openfaas_store or None)


def _find(catalog: Catalog, name: str) -> StoreFunction:
    entry = catalog.find(name)
    if entry is None:
        raise CliError(
            f"{name!r} is not in the store {catalog.source}",
            hint=f"available: {', '.join(catalog.names()) or 'none'}",
        )
    return entry


@click.group()
def store() -> None:
    """Ready-made functions to deploy with one command."""


@store.command("list")
@_url_option
@json_option
@click.option("-v", "--verbose", is_flag=True, help="Full descriptions.")
@_platform_option("Only entries with an image for it (on a non-local gateway)")
@pass_context
def list_store(
    context: CliContext, store_url: str | None, as_json: bool, verbose: bool, platform: str | None
) -> None:
    """List the store's functions."""
    catalog = _catalog(context, store_url)
    if as_json:
        context.output.json([entry.model_dump(mode="json") for entry in catalog.functions])
        return
    width = 10_000 if verbose or not context.output.terminal else 70

    def short(text: str) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    context.output.table(
        ["Function", "Title", "Local", "Description"],
        [
            [entry.name, entry.title, "yes" if entry.runs_locally else "no", short(entry.description)]
            for entry in catalog.functions
        ],
    )


@store.command("describe")
@click.argument("name")
@_url_option
@json_option
@pass_context
def describe_store(context: CliContext, name: str, store_url: str | None, as_json: bool) -> None:
    """Show one store function."""
    entry = _find(_catalog(context, store_url), name)
    if as_json:
        context.output.json(entry.model_dump(mode="json"))
        return
    context.output.fields(
        [
            ("Name", entry.name),
            ("Title", entry.title),
            ("Author", entry.author or "-"),
            ("Description", entry.description),
            ("Images", ", ".join(f"{k}={v}" for k, v in sorted(entry.images.items())) or "-"),
            ("Process", entry.fprocess or "-"),
            ("Local handler", f"{entry.handler_path} ({entry.lang})" if entry.handler_path else "-"),
            ("Environment", ", ".join(f"{k}={v}" for k, v in sorted(entry.environment.items())) or "-"),
            ("Labels", ", ".join(f"{k}={v}" for k, v in sorted(entry.labels.items())) or "-"),
            ("Annotations", ", ".join(f"{k}={v}" for k, v in sorted(entry.annotations.items())) or "-"),
            ("Repo URL", entry.repo_url or "-"),
        ]
    )


@store.command("deploy")
@click.argument("name")
@_url_option
@gateway_options
@stack_option
@namespace_option
@click.option("--name", "function_name", default=None, help="Deploy under another name.")
@_platform_option("Which image to use (non-local gateways)")
@override_options
@json_option
@pass_context
def deploy_store(
    context: CliContext,
    name: str,
    store_url: str | None,
    gateway: str | None,
    tls_no_verify: bool,
    stack_file: str | None,
    namespace: str,
    function_name: str | None,
    platform: str | None,
    env: tuple[str, ...],
    labels: tuple[str, ...],
    annotations: tuple[str, ...],
    secrets: tuple[str, ...],
    as_json: bool,
) -> None:
    """Deploy a store function: from its handler folder in local mode, else its image."""
    from pyfaas.cli.deployment import Overrides
    from pyfaas.store.catalog import DEFAULT_PLATFORM

    entry = _find(_catalog(context, store_url), name)
    overrides = Overrides.from_flags(
        env=env, labels=labels, annotations=annotations, secrets=secrets, namespace=namespace
    )
    with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
        local = client.is_local()
        spec = overrides.apply(
            entry.deployment(
                local=local, platform=platform or DEFAULT_PLATFORM, name=function_name, namespace=namespace
            )
        )
        with context.output.progress(f"Deploying {spec.service} from the store"):
            result = client.deploy(spec)
        url = f"{client.url}/function/{spec.service}" + (f".{namespace}" if namespace else "")
    if as_json:
        context.output.json(
            {
                "name": spec.service,
                "status": result.status,
                "method": result.method,
                "url": url,
                "local": local,
            }
        )
        return
    source = (
        "handler folder" if local and spec.envVars and "handler" in spec.envVars else f"image {spec.image}"
    )
    context.output.success(f"Deployed {spec.service} from the store ({source}): {url}")
