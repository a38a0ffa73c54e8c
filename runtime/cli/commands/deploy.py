"""``deploy``: the functions of a stack file (or a functions.py), or one function from flags."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pyfaas.cli.app import pass_context
from pyfaas.cli.context import CliContext
from pyfaas.cli.errors import CliError
from pyfaas.cli.options import (
    gateway_options,
    json_option,
    namespace_option,
    override_options,
    stack_filter_options,
    stack_option,
)
from pyfaas.cli.stackfile import find_stack_file, load_functions
from pyfaas.core.errors import PyfaasError

if TYPE_CHECKING:
    from pyfaas.cli.client import GatewayClient
    from pyfaas.cli.deployment import Overrides
    from pyfaas.core.definitions import FunctionDefinition

__all__ = ["deploy"]


@click.command()
@stack_option
@gateway_options
@namespace_option
@json_option
@stack_filter_options
@override_options
@click.option("--replace", is_flag=True, help="Remove each function first, then create it.")
@click.option(
    "--update/--no-update", default=True, show_default=True, help="Try a rolling update (PUT) first."
)
@click.option(
    "--envsubst/--no-envsubst", default=True, show_default=True, help="Substitute ${VAR} in the stack file."
)
@click.option("--image", default="", help="Without a stack file: the image to deploy (with --name).")
@click.option("--name", default="", help="Without a stack file: the function's name.")
@click.option("--fprocess", default="", help="Without a stack file: the process to run per request.")
@click.option(
    "--handler", default="", help="Without a stack file: a python3-http handler folder (local mode)."
)
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Wait until a replica of each function is ready; fail with its error if it crashes at start.",
)
@click.option(
    "--wait-timeout",
    type=click.FloatRange(min=0),
    default=120.0,
    show_default=True,
    help="Seconds to wait for a ready replica per function.",
)
@pass_context
def deploy(
    context: CliContext,
    stack_file: str | None,
    gateway: str | None,
    tls_no_verify: bool,
    namespace: str,
    as_json: bool,
    glob: str | None,
    regex: str | None,
    env: tuple[str, ...],
    labels: tuple[str, ...],
    annotations: tuple[str, ...],
    secrets: tuple[str, ...],
    replace: bool,
    update: bool,
    envsubst: bool,
    image: str,
    name: str,
    fprocess: str,
    handler: str,
    wait: bool,
    wait_timeout: float,
) -> None:
    """Deploy functions: PUT (update) first, POST (create) when the gateway does not know them.

    Reads -f FILE (stack.yml or functions.py; default stack.yaml, else stack.yml). On a pyfaas local-mode
    gateway python3-http functions run from their handler folder, functions of other templates (python3,
    node20, golang-http, bash-streaming, ./template/...) are built with the machine's toolchain, and fprocess
    functions run in fork mode; elsewhere the image is deployed.
    """
    from pyfaas.cli.deployment import Overrides
    from pyfaas.core.definitions import function

    overrides = Overrides.from_flags(
        env=env, labels=labels, annotations=annotations, secrets=secrets, namespace=namespace
    )
    stack_gateway = None
    if name or image:
        if stack_file:
            raise CliError(
                "--name/--image deploy one function without a stack file", hint="drop -f, or drop --name"
            )
        if not name or not (image or handler):
            raise CliError("deploying without a stack file needs --name and --image (or --handler)")
        definitions = [
            function(
                name,
                image=image or f"{name}:latest",
                fprocess=fprocess or None,
                handler=handler,
                lang="python3-http" if handler else "",
            )
        ]
        base_dir = context.cwd
    else:
        path = context.path(stack_file) if stack_file else find_stack_file(context.cwd)
        if path is None:
            raise CliError(
                "no stack.yaml or stack.yml here", hint="pass -f FILE, or create one with pyfaas new NAME"
            )
        loaded = load_functions(path, context.environ if envsubst else None, glob=glob, regex=regex)
        for warning in loaded.warnings:
            context.output.warn(warning)
        definitions, base_dir, stack_gateway = loaded.functions, loaded.base_dir, loaded.gateway
        if not definitions:
            raise CliError(f"{path} defines no functions", hint="add one under functions:")
    with context.client(gateway, tls_no_verify=tls_no_verify, stack_gateway=stack_gateway) as client:
        local = client.is_local()
        results = _deploy_all(
            context,
            client,
            definitions,
            base_dir,
            local,
            overrides,
            replace=replace,
            update=update,
            announce=not as_json,
            wait_within=wait_timeout if wait else None,
        )
    if as_json:
        context.output.json(results)
    failed = [str(r["name"]) for r in results if r["error"]]
    if failed:
        raise CliError(
            f"{len(failed)} of {len(results)} functions failed to deploy: {', '.join(failed)}",
            hint="see the errors above",
        )


def _deploy_all(
    context: CliContext,
    client: GatewayClient,
    definitions: list[FunctionDefinition],
    base_dir: Path,
    local: bool,
    overrides: Overrides,
    *,
    replace: bool,
    update: bool,
    announce: bool,
    wait_within: float | None,
) -> list[dict[str, object]]:
    from pyfaas.cli.deployment import prepare
    from pyfaas.cli.readiness import wait_ready

    out = context.output
    results: list[dict[str, object]] = []
    for definition in definitions:
        entry: dict[str, object] = {"name": definition.name, "error": None}
        try:
            spec = prepare(
                definition,
                base_dir,
                local=local,
                overrides=overrides,
                environ=context.environ,
                report=lambda step: out.note(f"Building {step}"),
            )
            if replace:
                with contextlib.suppress(CliError):  # not there yet: nothing to replace
                    client.delete(spec.service, spec.namespace or "")
            with out.progress(f"Deploying {spec.service}"):
                result = client.deploy(spec, update=update and not replace)
            if wait_within is not None:
                with out.progress(f"Waiting for a ready replica of {spec.service}"):
                    wait_ready(client, spec.service, spec.namespace or "", within=wait_within)
                entry["ready"] = True
        except (CliError, PyfaasError) as exc:
            message = exc.line() if isinstance(exc, CliError) else f"Error: {exc.message}"
            if len(definitions) == 1:
                raise
            out.note(message)
            entry["error"] = message
            results.append(entry)
            continue
        qualified = f"{spec.service}.{spec.namespace}" if spec.namespace else spec.service
        url = f"{client.url}/function/{qualified}"
        entry.update({"status": result.status, "method": result.method, "url": url, "local": local})
        results.append(entry)
        verb = "Updated" if result.method == "PUT" else "Deployed"
        if announce:
            out.success(f"{verb} {spec.service} ({result.status} Accepted): {url}")
    return results
