"""``list``, ``describe``, ``remove`` and ``scale``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pyfaas.cli.app import pass_context
from pyfaas.cli.commands.common import gateway_client, stack_for_gateway
from pyfaas.cli.context import CliContext
from pyfaas.cli.errors import CliError
from pyfaas.cli.options import (
    gateway_options,
    json_option,
    namespace_option,
    stack_filter_options,
    stack_option,
)
from pyfaas.cli.stackfile import find_stack_file, load_functions

if TYPE_CHECKING:
    import httpx

__all__ = ["describe", "list_functions", "remove", "scale"]


def _invocations(value: float) -> str:
    return f"{value:g}"


@click.command("list")
@gateway_options
@namespace_option
@stack_option
@json_option
@click.option("-v", "--verbose", is_flag=True, help="Also show image, available replicas and creation time.")
@click.option("-q", "--quiet", is_flag=True, help="Only function names.")
@click.option("--sort", type=click.Choice(["name", "invocations"]), default="name", show_default=True)
@pass_context
def list_functions(
    context: CliContext,
    gateway: str | None,
    tls_no_verify: bool,
    namespace: str,
    stack_file: str | None,
    as_json: bool,
    verbose: bool,
    quiet: bool,
    sort: str,
) -> None:
    """List the functions deployed on the gateway."""
    from pyfaas.core.models import FunctionStatus, format_rfc3339

    with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
        raw = client.list_functions_raw(namespace)
    out = context.output
    if as_json:
        out.json(raw)
        return
    functions = [FunctionStatus.model_validate(item) for item in raw]
    if sort == "invocations":
        functions.sort(key=lambda f: (-f.invocationCount, f.name))
    else:
        functions.sort(key=lambda f: f.name)
    if quiet:
        for function in functions:
            out.line(function.name)
        return
    if verbose:
        out.table(
            ["Function", "Image", "Invocations", "Replicas", "Available", "Created"],
            [
                [
                    f.name,
                    f.image,
                    _invocations(f.invocationCount),
                    f.replicas,
                    f.availableReplicas,
                    format_rfc3339(f.createdAt.replace(microsecond=0)),
                ]
                for f in functions
            ],
        )
    else:
        out.table(
            ["Function", "Invocations", "Replicas"],
            [[f.name, _invocations(f.invocationCount), f.replicas] for f in functions],
        )


def _pairs(values: dict[str, str] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((values or {}).items())) or "-"


@click.command()
@click.argument("name")
@gateway_options
@namespace_option
@stack_option
@json_option
@pass_context
def describe(
    context: CliContext,
    name: str,
    gateway: str | None,
    tls_no_verify: bool,
    namespace: str,
    stack_file: str | None,
    as_json: bool,
) -> None:
    """Show one function's status and settings."""
    from pyfaas.core.models import FunctionStatus, format_rfc3339

    with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
        raw = client.get_function_raw(name, namespace)
        url = client.url
    if as_json:
        context.output.json(raw)
        return
    status = FunctionStatus.model_validate(raw)
    qualified = f"{name}.{namespace}" if namespace else name
    ready = status.availableReplicas > 0
    failure = status.replicaFailure
    state = "Ready" if ready else "Not Ready"
    if failure is not None and failure.beforeReady:
        state = "Crashing at start" if not ready else "Ready (new replicas crash at start)"
    env = dict(status.envVars or {})
    context.output.fields(
        [
            ("Name", status.name),
            ("Namespace", status.namespace or namespace or "-"),
            ("Status", state),
            ("Replicas", status.replicas),
            ("Available Replicas", status.availableReplicas),
            *(
                [("Last Failure", f"{failure.summary()} (restarts: {failure.restarts})")]
                if failure is not None
                else []
            ),
            ("Invocations", _invocations(status.invocationCount)),
            ("Image", status.image),
            ("Function Process", status.envProcess or "-"),
            ("URL", f"{url}/function/{qualified}"),
            ("Async URL", f"{url}/async-function/{qualified}"),
            ("Labels", _pairs(status.labels)),
            ("Annotations", _pairs(status.annotations)),
            ("Environment", _pairs(env)),
            ("Secrets", ", ".join(status.secrets or []) or "-"),
            ("Requests", _pairs(status.requests.wire() if status.requests else None)),
            ("Limits", _pairs(status.limits.wire() if status.limits else None)),
            ("Created", format_rfc3339(status.createdAt)),
        ]
    )


@click.command()
@click.argument("names", nargs=-1)
@gateway_options
@namespace_option
@stack_option
@stack_filter_options
@pass_context
def remove(
    context: CliContext,
    names: tuple[str, ...],
    gateway: str | None,
    tls_no_verify: bool,
    namespace: str,
    stack_file: str | None,
    glob: str | None,
    regex: str | None,
) -> None:
    """Remove functions: NAME..., or every function of the stack file (-f). Aliases: rm, delete."""
    stack = None
    targets: list[tuple[str, str]] = [(name, namespace) for name in names]
    if not names:
        if not stack_file:
            found = find_stack_file(context.cwd)
            if found is None:
                raise CliError("nothing to remove", hint="pass function names, or -f stack.yml")
            stack_file = str(found)
        stack = load_functions(context.path(stack_file), context.environ, glob=glob, regex=regex)
        targets = [(f.name, namespace or f.deployment.namespace or "") for f in stack.functions]
    else:
        stack = stack_for_gateway(context, stack_file)
    failures = 0
    with context.client(
        gateway, tls_no_verify=tls_no_verify, stack_gateway=stack.gateway if stack else None
    ) as client:
        for name, ns in targets:
            try:
                client.delete(name, ns)
            except CliError as exc:
                if len(targets) == 1:
                    raise
                context.output.note(exc.line())
                failures += 1
                continue
            context.output.success(f"Removed: {name}")
    if failures:
        raise CliError(
            f"{failures} of {len(targets)} functions were not removed", hint="see the errors above"
        )


@click.command()
@click.argument("name")
@click.option(
    "--replicas", type=click.IntRange(min=0), required=True, help="Desired replicas (0 scales to zero)."
)
@gateway_options
@namespace_option
@stack_option
@pass_context
def scale(
    context: CliContext,
    name: str,
    replicas: int,
    gateway: str | None,
    tls_no_verify: bool,
    namespace: str,
    stack_file: str | None,
) -> None:
    """Set a function's replica count."""
    with gateway_client(context, gateway, tls_no_verify, stack_file) as client:
        response = client.scale(name, replicas, namespace)
    clamped = response.headers.get("X-Scale-Clamped")
    if clamped:
        context.output.warn(f"{replicas} is above com.openfaas.scale.max of {name}: scaled to {clamped}")
        replicas = int(clamped) if clamped.isdigit() else replicas
    context.output.success(f"Scaled {name} to {replicas} replica{'s' if replicas != 1 else ''}")
    _say_who_owns(context, name, replicas, response)


def _say_who_owns(context: CliContext, name: str, replicas: int, response: httpx.Response) -> None:
    """Repeat the gateway's answer on who else sets the count (nothing from gateways without the header)."""
    from pyfaas.core.replica_owner import MANUAL, REPLICA_OWNER_HEADER

    owners = response.headers.get(REPLICA_OWNER_HEADER)
    if owners is None:
        return
    if owners == MANUAL:
        context.output.note(f"No autoscaler owns the replica count of {name}: it stays at {replicas}.")
        return
    try:
        notes = [str(note) for note in response.json().get("notes", [])]
    except (ValueError, AttributeError):
        notes = []
    detail = "; ".join(notes) or owners
    if "target-tracking" in owners.split(","):
        context.output.warn(f"the replica count of {name} is owned by an autoscaler: {detail}")
    else:
        context.output.note(f"Autoscaling shares the replica count of {name} ({owners}): {detail}")
