"""``store list|describe|deploy|init|validate``: function stores, several at once, named and in order.

Which stores: ``--url URL|FILE`` (faas-cli's flag: that one store), ``--store NAME`` (one of the named
sources; a URL works too, as faas-cli's old ``--store`` took one), else ``PYFAAS_STORE_SOURCES``
(``name=location, ...``, see :mod:`pyfaas.store.sources`), else ``OPENFAAS_STORE``, else the bundled catalog.
Fetched indexes are cached under ``$XDG_CACHE_HOME/pyfaas/store`` and revalidated by ETag.

The store modules (httpx, pydantic) are imported by the subcommands, not here: ``pyfaas --help`` imports this.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
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
    from pyfaas.cli.client import GatewayClient
    from pyfaas.core.models import FunctionDeployment
    from pyfaas.store.catalog import StoreFunction
    from pyfaas.store.sources import SourceResult, StoreSource

__all__ = ["store"]

STORE_DEPLOY_WAIT = 120.0
"""Seconds ``store deploy`` waits for a ready replica (``pyfaas deploy``'s default)."""


def _source_options(function: FC) -> FC:
    function = click.option(
        "--store",
        "store_name",
        default=None,
        metavar="NAME",
        help="One named store (PYFAAS_STORE_SOURCES; 'pyfaas' is the bundled one).",
    )(function)
    return click.option(
        "--url",
        "store_url",
        default=None,
        metavar="URL|FILE",
        help="One store by its index URL or file (default: every configured store).",
    )(function)


def _platform_option(purpose: str) -> Callable[[FC], FC]:
    return click.option("--platform", default=None, help=f"{purpose}; default: x86_64.")


def _cache_dir(context: CliContext) -> Path:
    base = context.environ.get("XDG_CACHE_HOME") or str(Path(context.settings.home or Path.home()) / ".cache")
    return Path(base) / "pyfaas" / "store"


def _sources(context: CliContext, url: str | None, name: str | None) -> list[StoreSource]:
    from pyfaas.core.errors import ValidationFailed
    from pyfaas.store.sources import BUNDLED, StoreSource, parse_sources

    if url and name:
        raise CliError("give --url or --store, not both")
    if url:
        return [StoreSource(name="url", location=url)]
    try:
        configured = parse_sources(context.settings.pyfaas_store_sources, field="PYFAAS_STORE_SOURCES")
    except ValidationFailed as exc:
        raise CliError(exc.message) from exc
    if not configured:
        store = context.settings.openfaas_store
        configured = [StoreSource(name="default", location=store) if store else StoreSource(name=BUNDLED)]
    if name is None:
        return configured
    for source in configured:
        if source.name == name:
            return [source]
    if name == BUNDLED:
        return [StoreSource(name=BUNDLED)]
    if "://" in name or "/" in name:
        return [StoreSource(name="url", location=name)]
    raise CliError(
        f"no store named {name!r}",
        hint=f"stores: {', '.join(source.name for source in configured)} (PYFAAS_STORE_SOURCES)",
    )


def _load(context: CliContext, url: str | None, name: str | None) -> list[SourceResult]:
    """Every chosen store; a store that is down is one warning line, and an error when none is up."""
    from pyfaas.store.sources import load_sources

    results = load_sources(_sources(context, url, name), cache_dir=_cache_dir(context))
    if len(results) == 1 and results[0].catalog is None:
        raise CliError(results[0].error)
    for result in results:
        if not result.up:
            kept = " (listing its last copy)" if result.stale else ""
            context.output.warn(f"store {result.source.name} is down: {result.error}{kept}")
    if not any(result.catalog is not None for result in results):
        raise CliError("no store could be read", hint="see the lines above")
    return results


def _find(results: list[SourceResult], name: str) -> tuple[SourceResult, StoreFunction]:
    for result in results:
        if result.catalog is not None and (entry := result.catalog.find(name)) is not None:
            return result, entry
    names = [entry.name for result in results for entry in result.functions]
    raise CliError(
        f"{name!r} is in no store ({', '.join(result.source.name for result in results)})",
        hint=f"available: {', '.join(names) or 'none'}",
    )


@click.group()
def store() -> None:
    """Function stores: ready-made functions to deploy with one command."""


@store.command("list")
@_source_options
@json_option
@click.option("-v", "--verbose", is_flag=True, help="Full descriptions, and why an entry cannot run.")
@_platform_option("Which image counts for cluster deploys")
@pass_context
def list_store(
    context: CliContext,
    store_url: str | None,
    store_name: str | None,
    as_json: bool,
    verbose: bool,
    platform: str | None,
) -> None:
    """List the functions of every store (or of one: --store/--url)."""
    from pyfaas.store.catalog import DEFAULT_PLATFORM, unavailable_reason

    platform = platform or DEFAULT_PLATFORM
    results = _load(context, store_url, store_name)
    if as_json:
        context.output.json(
            [
                {
                    "name": result.source.name,
                    "location": result.source.index,
                    "up": result.up,
                    "error": result.error,
                    "stale": result.stale,
                    "format": result.catalog.format if result.catalog else "",
                    "title": result.catalog.title if result.catalog else "",
                    "functions": [
                        {
                            **entry.model_dump(mode="json", by_alias=True),
                            "local": unavailable_reason(entry, local=True) or None,
                            "cluster": unavailable_reason(entry, local=False, platform=platform) or None,
                        }
                        for entry in result.functions
                    ],
                }
                for result in results
            ]
        )
        return
    width = 10_000 if verbose or not context.output.terminal else 60

    def short(text: str) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    rows = []
    for result in results:
        for entry in result.functions:
            local = unavailable_reason(entry, local=True)
            cluster = unavailable_reason(entry, local=False, platform=platform)
            row = [entry.name, result.source.name, "no" if local else "yes", "no" if cluster else "yes"]
            description = entry.description
            if verbose and (local or cluster):
                description += "".join(
                    f" [{where}: {why}]" for where, why in (("local", local), ("cluster", cluster)) if why
                )
            rows.append([*row, short(description)])
    context.output.table(["Function", "Store", "Local", "Cluster", "Description"], rows)


@store.command("describe")
@click.argument("name")
@_source_options
@json_option
@_platform_option("Which image counts for cluster deploys")
@pass_context
def describe_store(
    context: CliContext,
    name: str,
    store_url: str | None,
    store_name: str | None,
    as_json: bool,
    platform: str | None,
) -> None:
    """Show one store function (the first store, in order, that has it)."""
    from pyfaas.store.catalog import DEFAULT_PLATFORM, unavailable_reason

    platform = platform or DEFAULT_PLATFORM
    result, entry = _find(_load(context, store_url, store_name), name)
    local = unavailable_reason(entry, local=True)
    cluster = unavailable_reason(entry, local=False, platform=platform)
    if as_json:
        context.output.json(
            {
                **entry.model_dump(mode="json", by_alias=True),
                "store": result.source.name,
                "local": local or None,
                "cluster": cluster or None,
            }
        )
        return
    if entry.git is not None:
        code = f"{entry.git.repo} {entry.git.ref or '(default branch)'} {entry.git.path} ({entry.lang})"
    elif entry.handler:
        code = f"{entry.handler_path or entry.handler} ({entry.lang})"
    else:
        code = "-"
    images = {**({"any": entry.single_image} if entry.single_image else {}), **entry.images}
    context.output.fields(
        [
            ("Name", entry.name),
            ("Title", entry.title),
            ("Store", f"{result.source.name} ({result.source.index})"),
            ("Author", entry.author or "-"),
            ("Description", entry.description),
            ("Images", ", ".join(f"{k}={v}" for k, v in sorted(images.items())) or "-"),
            ("Process", entry.fprocess or "-"),
            ("Source", code),
            ("Secrets", ", ".join(entry.secrets) or "-"),
            ("Environment", ", ".join(f"{k}={v}" for k, v in sorted(entry.environment.items())) or "-"),
            ("Labels", ", ".join(f"{k}={v}" for k, v in sorted(entry.labels.items())) or "-"),
            ("Annotations", ", ".join(f"{k}={v}" for k, v in sorted(entry.annotations.items())) or "-"),
            ("Repo URL", entry.repo_url or "-"),
            ("Local mode", f"no: {local}" if local else "yes"),
            ("Cluster", f"no: {cluster}" if cluster else "yes"),
        ]
    )


def _local_spec(
    context: CliContext, result: SourceResult, entry: StoreFunction, spec: FunctionDeployment
) -> FunctionDeployment:
    """The deployment that runs ``entry`` from its source in local mode (fetched, cloned, built as needed)."""
    from pyfaas.cli.deployment import local_deployment
    from pyfaas.core.definitions import FunctionDefinition
    from pyfaas.core.errors import PyfaasError
    from pyfaas.store.handlers import handler_folder

    try:
        with context.output.progress(f"Fetching {entry.name} from store {result.source.name}"):
            folder = handler_folder(entry, result.source.index, cache_dir=_cache_dir(context))
    except PyfaasError as exc:
        raise CliError(exc.message) from exc
    definition = FunctionDefinition(
        deployment=spec,
        lang=entry.lang,
        handler=folder.name,
        origin=f"store {result.source.name}: {entry.name}",
    )
    return local_deployment(
        definition, folder.parent, environ=context.environ, report=lambda step: context.output.note(step)
    )


def _check_secrets(client: GatewayClient, needed: list[str], namespace: str, name: str) -> None:
    if not needed:
        return
    present = {secret.name for secret in client.list_secrets(namespace)}
    missing = [secret for secret in needed if secret not in present]
    if missing:
        raise CliError(
            f"{name} needs the secret{'s' if len(missing) > 1 else ''} {', '.join(missing)}, "
            f"missing in {namespace or 'the default namespace'}",
            hint=f"create {'them' if len(missing) > 1 else 'it'} first: pyfaas secret create {missing[0]} "
            "--from-literal ...",
        )


@store.command("deploy")
@click.argument("name")
@_source_options
@gateway_options
@stack_option
@namespace_option
@click.option("--name", "function_name", default=None, help="Deploy under another name.")
@_platform_option("Which image to use (non-local gateways)")
@override_options
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Wait until a replica is ready; fail with its error if it crashes at start.",
)
@json_option
@pass_context
def deploy_store(
    context: CliContext,
    name: str,
    store_url: str | None,
    store_name: str | None,
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
    wait: bool,
    as_json: bool,
) -> None:
    """Deploy a store function: from its source in local mode, else its image."""
    from pyfaas.cli.deployment import Overrides
    from pyfaas.cli.readiness import wait_ready
    from pyfaas.core.errors import PyfaasError
    from pyfaas.store.catalog import DEFAULT_PLATFORM, unavailable_reason

    result, entry = _find(_load(context, store_url, store_name), name)
    overrides = Overrides.from_flags(
        env=env, labels=labels, annotations=annotations, secrets=secrets, namespace=namespace
    )
    platform = platform or DEFAULT_PLATFORM
    with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
        local = client.is_local()
        reason = unavailable_reason(entry, local=local, platform=platform)
        if reason:
            where = "in local mode" if local else "on this gateway"
            raise CliError(f"{entry.name} (store {result.source.name}) cannot run {where}: {reason}")
        target = function_name or entry.name
        try:
            if local and entry.has_source:
                spec = _local_spec(
                    context, result, entry, entry.source_deployment(name=target, namespace=namespace)
                )
            else:
                spec = entry.deployment(local=local, platform=platform, name=target, namespace=namespace)
        except PyfaasError as exc:
            raise CliError(exc.message) from exc
        spec = overrides.apply(spec)
        _check_secrets(client, list(spec.secrets or []), namespace, spec.service)
        with context.output.progress(f"Deploying {spec.service} from store {result.source.name}"):
            deployed = client.deploy(spec)
        # as pyfaas deploy does: answer once a replica of the new spec serves (an update may start slowly,
        # e.g. a new sandbox for a changed handler folder), so that the next call reaches the new code
        if wait:
            with context.output.progress(f"Waiting for a ready replica of {spec.service}"):
                wait_ready(client, spec.service, namespace, within=STORE_DEPLOY_WAIT)
        url = f"{client.url}/function/{spec.service}" + (f".{namespace}" if namespace else "")
    if as_json:
        context.output.json(
            {
                "name": spec.service,
                "store": result.source.name,
                "status": deployed.status,
                "method": deployed.method,
                "url": url,
                "local": local,
            }
        )
        return
    env_vars = spec.envVars or {}
    source = "handler folder" if local and "handler" in env_vars else f"image {spec.image}"
    context.output.success(f"Deployed {spec.service} from store {result.source.name} ({source}): {url}")


@store.command("init")
@click.argument("folder", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--title", default=None, help="The catalog's title (default: the folder's name).")
@pass_context
def init_store(context: CliContext, folder: Path, title: str | None) -> None:
    """Scaffold a catalog repository (index + one folder per function) to keep in git."""
    from pyfaas.core.errors import PyfaasError
    from pyfaas.store.scaffold import init_catalog

    target = (context.cwd / folder).resolve()
    try:
        written = init_catalog(target, title=title or target.name)
    except PyfaasError as exc:
        raise CliError(exc.message, hint="pick an empty folder") from exc
    for path in written:
        context.output.line(f"wrote {path.relative_to(target)}")
    context.output.success(f"Catalog in {target}: check it with `pyfaas store validate {folder}`")


@store.command("validate")
@click.argument("path", default=".", type=click.Path(path_type=Path))
@pass_context
def validate_store(context: CliContext, path: Path) -> None:
    """Check a catalog repository: one line per problem, naming the file and field."""
    from pyfaas.store.validate import validate_catalog

    problems = validate_catalog((context.cwd / path).resolve())
    if problems:
        for problem in problems:
            context.output.line(str(problem))
        raise CliError(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the catalog")
    context.output.success("The catalog is valid")
