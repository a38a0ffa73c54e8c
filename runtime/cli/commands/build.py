"""``build`` and ``push``: images without a Docker daemon (:mod:`pyfaas.build`).

``pyfaas build`` writes each function of the stack file as an OCI image layout in ``--output DIR/<name>``
(and ``DIR/<name>.tar``, an archive ``ctr images import`` reads, with ``--tar``); ``--platform-image``
builds one of the platform's images instead. ``pyfaas push`` sends those layouts to the registry their
``image:`` names. The builder is imported when a command runs, not when ``pyfaas`` starts.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pyfaas.cli.app import pass_context
from pyfaas.cli.context import CliContext
from pyfaas.cli.errors import CliError
from pyfaas.cli.options import json_option, stack_filter_options, stack_option
from pyfaas.cli.stackfile import find_stack_file, load_functions

if TYPE_CHECKING:
    from pyfaas.build.oci import Image
    from pyfaas.build.registry import Credentials
    from pyfaas.core.definitions import FunctionDefinition

__all__ = ["build", "push"]

DEFAULT_OUTPUT = "build/images"
COMPONENTS = ("pyfaas", "nats", "prometheus", "alertmanager")


def _cache_dir(context: CliContext) -> Path:
    root = context.environ.get("XDG_CACHE_HOME") or str(Path(context.settings.home or Path.home()) / ".cache")
    return Path(root) / "pyfaas" / "blobs"


def _credentials(context: CliContext, username: str, password_stdin: bool) -> Credentials | None:
    from pyfaas.build.registry import Credentials

    user = username or context.environ.get("PYFAAS_REGISTRY_USERNAME", "")
    if password_stdin:
        password = context.stdin.read().decode().strip()
    else:
        password = context.environ.get("PYFAAS_REGISTRY_PASSWORD", "")
    if not user:
        if password_stdin:
            raise CliError("--password-stdin needs --username (or PYFAAS_REGISTRY_USERNAME)")
        return None
    return Credentials(user, password)


def _stack_functions(
    context: CliContext, stack_file: str | None, glob: str | None, regex: str | None
) -> tuple[list[FunctionDefinition], Path]:
    path = context.path(stack_file) if stack_file else find_stack_file(context.cwd)
    if path is None:
        raise CliError(
            "no stack.yaml or stack.yml here", hint="pass -f FILE, or create one with pyfaas new NAME"
        )
    loaded = load_functions(path, context.environ, glob=glob, regex=regex)
    for warning in loaded.warnings:
        context.output.warn(warning)
    if not loaded.functions:
        raise CliError(f"{path} defines no functions", hint="add one under functions:")
    return loaded.functions, loaded.base_dir


def _output_option(summary: str) -> Callable[[click.decorators.FC], click.decorators.FC]:
    """``-o/--output DIR``: the images folder, which ``build`` writes and ``push`` reads."""
    return click.option(
        "--output", "-o", default=DEFAULT_OUTPUT, show_default=True, metavar="DIR", help=summary
    )


def registry_options(function: click.decorators.FC) -> click.decorators.FC:
    for option in (
        click.option(
            "--plain-http/--tls",
            "plain_http",
            default=None,
            help="Speak HTTP, not HTTPS, to the registry (default: HTTP for localhost/127.0.0.1 only).",
        ),
        click.option(
            "--password-stdin", is_flag=True, help="Read the registry password from stdin (with --username)."
        ),
        click.option(
            "--username",
            default="",
            help="Registry user (else PYFAAS_REGISTRY_USERNAME/_PASSWORD, else ~/.docker/config.json).",
        ),
    ):
        function = option(function)
    return function


@click.command()
@stack_option
@stack_filter_options
@json_option
@click.option(
    "--base",
    default="",
    metavar="REF|PATH",
    help="Base image: an OCI layout folder, OCI or docker archive, or REGISTRY/NAME@sha256:... "
    "(else PYFAAS_BUILD_BASE).",
)
@_output_option("Where images are written.")
@click.option("--tar", "write_tar", is_flag=True, help="Also write DIR/<name>.tar (for ctr images import).")
@click.option(
    "--platform-image",
    type=click.Choice(COMPONENTS),
    default=None,
    help="Build this platform image instead of functions (with --image).",
)
@click.option("--image", default="", help="With --platform-image: the image reference to name it.")
@click.option(
    "--source",
    default=".",
    show_default=True,
    metavar="DIR",
    help="With --platform-image pyfaas: the pyfaas checkout (pyproject.toml, requirements.lock).",
)
@registry_options
@pass_context
def build(
    context: CliContext,
    stack_file: str | None,
    glob: str | None,
    regex: str | None,
    as_json: bool,
    base: str,
    output: str,
    write_tar: bool,
    platform_image: str | None,
    image: str,
    source: str,
    username: str,
    password_stdin: bool,
    plain_http: bool | None,
) -> None:
    """Build OCI images without a Docker daemon: the stack's functions, or a platform image.

    A function image is the base's layers, Debian packages its template installs (Node.js for node20),
    the watchdog runtime, the function's requirements and the template's files with its handler, laid out
    as the template's Dockerfile says; go build and npm ci run on this machine. The same inputs give the
    same digest (set SOURCE_DATE_EPOCH to stamp another time than 1970).
    """
    from pyfaas.build.base import load_base
    from pyfaas.build.oci import write_archive, write_layout
    from pyfaas.build.registry import parse_reference

    base_spec = base or context.environ.get("PYFAAS_BUILD_BASE", "")
    out = context.path(output)
    results: list[dict[str, str | float]] = []
    with tempfile.TemporaryDirectory(prefix="pyfaas-build-") as scratch_name:
        scratch = Path(scratch_name)

        def base_image() -> Image:
            if not base_spec:
                raise CliError("no base image", hint="pass --base REF|PATH or set PYFAAS_BUILD_BASE")
            return load_base(
                base_spec,
                scratch=scratch / "base",
                cache=_cache_dir(context),
                credentials=_credentials(context, username, password_stdin),
                plain_http=plain_http,
            )

        if platform_image:
            if not image:
                raise CliError("--platform-image needs --image NAME:TAG")
            parse_reference(image)
            component, checkout = platform_image, context.path(source)
            jobs: list[tuple[str, str, Callable[[Path], Image]]] = [
                (component, image, lambda work: _platform(component, work, checkout, base_image))
            ]
        else:
            definitions, base_dir = _stack_functions(context, stack_file, glob, regex)
            loaded: list[Image] = []

            def cached_base() -> Image:
                if not loaded:
                    loaded.append(base_image())
                return loaded[0]

            jobs = [
                (
                    d.name,
                    d.deployment.image,
                    _function_job(d, base_dir, cached_base, _cache_dir(context).parent / "layers"),
                )
                for d in definitions
            ]
        for name, reference, job in jobs:
            started = time.perf_counter()
            made = job(scratch / "work" / name)
            layout = out / name
            digest = write_layout(made, layout, reference)
            if write_tar:
                write_archive(made, out / f"{name}.tar", reference)
            seconds = round(time.perf_counter() - started, 2)
            results.append(
                {
                    "name": name,
                    "image": reference,
                    "digest": digest,
                    "layout": str(layout),
                    "seconds": seconds,
                }
            )
            if not as_json:
                context.output.success(f"{name}: {reference} {digest} ({layout}, {seconds} s)")
    if as_json:
        context.output.json(results)


def _function_job(
    definition: FunctionDefinition, base_dir: Path, base: Callable[[], Image], layer_cache: Path
) -> Callable[[Path], Image]:
    def job(work: Path) -> Image:
        from pyfaas.build.function import FunctionSource, build_function_image
        from pyfaas.provider.local.templates import find_template

        if not definition.lang or not definition.handler:
            raise CliError(
                f"{definition.name}: no lang and handler to build from", hint="set lang: and handler:"
            )
        template = find_template(definition.lang, base_dir)
        if template is None:
            raise CliError(
                f"{definition.name}: no template {definition.lang!r}",
                hint="pyfaas template list shows them; pyfaas template pull fetches more",
            )
        source = FunctionSource(
            definition.name, template.folder, base_dir / definition.handler, template.handler_folder
        )
        return build_function_image(source, base(), work, cache=layer_cache)

    return job


def _platform(component: str, work: Path, source: Path, base: Callable[[], Image]) -> Image:
    from pyfaas.build import platform

    if component == "pyfaas":
        return platform.platform_image(source, base(), work)
    if component == "nats":
        return platform.nats_image(work)
    if component == "prometheus":
        return platform.prometheus_image(base(), work)
    return platform.alertmanager_image(base(), work)


@click.command()
@stack_option
@stack_filter_options
@json_option
@_output_option("Where pyfaas build wrote the images.")
@click.option(
    "--layout", default="", metavar="DIR", help="Push this OCI layout (with --image) instead of the stack's."
)
@click.option("--image", default="", help="With --layout: where to push it (REGISTRY/NAME:TAG).")
@registry_options
@pass_context
def push(
    context: CliContext,
    stack_file: str | None,
    glob: str | None,
    regex: str | None,
    as_json: bool,
    output: str,
    layout: str,
    image: str,
    username: str,
    password_stdin: bool,
    plain_http: bool | None,
) -> None:
    """Push images built by pyfaas build to an OCI registry (blobs it has are skipped; safe to repeat)."""
    from pyfaas.build.oci import read_layout
    from pyfaas.build.registry import RegistryClient, parse_reference

    if layout or image:
        if not (layout and image):
            raise CliError("--layout and --image go together")
        targets = [(Path(layout).name, image, context.path(layout))]
    else:
        definitions, _ = _stack_functions(context, stack_file, glob, regex)
        out = context.path(output)
        targets = [(d.name, d.deployment.image, out / d.name) for d in definitions]
    credentials = _credentials(context, username, password_stdin)
    results: list[dict[str, str]] = []
    for name, reference_text, folder in targets:
        if not (folder / "index.json").is_file():
            raise CliError(f"{name}: no image at {folder}", hint="run pyfaas build first (same --output)")
        reference = parse_reference(reference_text)
        progress = (lambda _line: None) if as_json else context.output.note
        with RegistryClient(
            reference.registry, credentials=credentials, plain_http=plain_http, progress=progress
        ) as client:
            digest = client.push(read_layout(folder), reference)
        results.append({"name": name, "image": reference_text, "digest": digest})
        if not as_json:
            context.output.success(f"{name}: pushed {reference_text}@{digest}")
    if as_json:
        context.output.json(results)
