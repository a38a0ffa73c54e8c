"""``generate``: the Function objects (``openfaas.com/v1``) of a stack file, as faas-cli generate prints them.

The output is a YAML stream for ``kubectl apply -f -`` or a GitOps repository; the operator
(``pyfaas-operator``) reconciles them. They come from :func:`pyfaas.core.function_crd.function_object`,
the same the gateway's operator mode writes.
"""

from __future__ import annotations

import click

from pyfaas.cli.app import pass_context
from pyfaas.cli.context import CliContext
from pyfaas.cli.errors import CliError
from pyfaas.cli.options import stack_filter_options, stack_option
from pyfaas.cli.stackfile import find_stack_file, load_functions

__all__ = ["generate"]

DEFAULT_NAMESPACE = "openfaas-fn"
"""faas-cli generate's default namespace."""


@click.command()
@stack_option
@stack_filter_options
@click.option(
    "-n",
    "--namespace",
    default="",
    metavar="NS",
    help=f"Namespace of every object (default: the function's, else {DEFAULT_NAMESPACE}).",
)
@click.option(
    "--api", default="openfaas.com/v1", show_default=True, help="API version of the objects (only this one)."
)
@click.option(
    "--envsubst/--no-envsubst", default=True, show_default=True, help="Substitute ${VAR} in the stack file."
)
@pass_context
def generate(
    context: CliContext,
    stack_file: str | None,
    glob: str | None,
    regex: str | None,
    namespace: str,
    api: str,
    envsubst: bool,
) -> None:
    """Print the Function objects of a stack file (faas-cli generate) for kubectl apply or GitOps."""
    import yaml

    from pyfaas.core.function_crd import API_VERSION, function_object
    from pyfaas.core.names import validate_namespace

    if api != API_VERSION:
        raise CliError(f"unsupported --api {api!r}", hint=f"pyfaas generates {API_VERSION} Function objects")
    if namespace:
        validate_namespace(namespace, "--namespace")
    path = context.path(stack_file) if stack_file else find_stack_file(context.cwd)
    if path is None:
        raise CliError("no stack.yaml or stack.yml here", hint="pass -f FILE")
    loaded = load_functions(path, context.environ if envsubst else None, glob=glob, regex=regex)
    for warning in loaded.warnings:
        context.output.warn(warning)
    documents = []
    for definition in sorted(loaded.functions, key=lambda d: d.name):
        spec = definition.deployment
        target = namespace or spec.namespace or DEFAULT_NAMESPACE
        body = function_object(spec, namespace=target)
        documents.append("---\n" + yaml.safe_dump(body, sort_keys=False, default_flow_style=False))
    context.output.line("".join(documents).rstrip("\n"))
