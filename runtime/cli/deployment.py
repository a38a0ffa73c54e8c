"""From a function definition to the FunctionDeployment a gateway receives (contract §8.2), and local mode.

faas-cli's merge order: ``environment`` then ``environment_file`` (done by the stack parser), then ``--env``
flags; labels, annotations and secrets from the stack plus the flags; ``--namespace`` over the stack's.

Local mode (a pyfaas gateway whose provider is ``pyfaas-local``) runs code without images:
``lang: python3-http`` functions run from their handler folder in the watchdog's python mode
(``mode=python``, ``handler=<absolute folder>``); a function whose ``lang`` is a template
(``./template/<lang>`` or a built-in one: ``python3``, ``node20``, ``golang-http``, ``bash-streaming`` ...) is
built with the machine's toolchain and runs in its template's mode
(:mod:`pyfaas.provider.local.function_build`); other functions with an ``fprocess`` run it per request
(``mode=fork``, unless the function sets another mode; from the handler folder when there is one).
Elsewhere the image is deployed as written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyfaas.cli.errors import CliError
from pyfaas.cli.options import parse_pairs
from pyfaas.core.definitions import FunctionDefinition
from pyfaas.core.models import FunctionDeployment
from pyfaas.core.timeouts import WATCHDOG_VARIABLES, declared_timeout
from pyfaas.store.catalog import PYTHON_LANGS

__all__ = ["Overrides", "local_deployment", "prepare"]

# Served in-process by the watchdog's python mode; every other template is built and run as a process.
_PYTHON_MODE_LANGS = PYTHON_LANGS - {"python3"}


@dataclass(frozen=True, slots=True)
class Overrides:
    """Command-line additions to every deployed function."""

    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    secrets: Sequence[str] = ()
    namespace: str = ""
    image: str = ""

    @classmethod
    def from_flags(
        cls,
        *,
        env: Iterable[str],
        labels: Iterable[str],
        annotations: Iterable[str],
        secrets: Sequence[str],
        namespace: str,
    ) -> Overrides:
        """From the ``K=V`` values of :func:`pyfaas.cli.options.override_options` and ``--namespace``."""
        return cls(
            env=parse_pairs(env, "--env"),
            labels=parse_pairs(labels, "--label"),
            annotations=parse_pairs(annotations, "--annotation"),
            secrets=secrets,
            namespace=namespace,
        )

    def apply(self, spec: FunctionDeployment) -> FunctionDeployment:
        env = {**(spec.envVars or {}), **self.env}
        labels = {**(spec.labels or {}), **self.labels}
        annotations = {**(spec.annotations or {}), **self.annotations}
        secrets = list(dict.fromkeys([*(spec.secrets or []), *self.secrets]))
        return spec.model_copy(
            update={
                "envVars": env or None,
                "labels": labels or None,
                "annotations": annotations or None,
                "secrets": secrets or None,
                "namespace": self.namespace or spec.namespace,
                "image": self.image or spec.image,
            }
        )


def _where(definition: FunctionDefinition) -> str:
    return f"function {definition.name!r}" + (f" ({definition.origin})" if definition.origin else "")


def _from_template(
    definition: FunctionDefinition,
    base_dir: Path,
    environ: Mapping[str, str],
    report: Callable[[str], None] | None,
) -> FunctionDeployment | None:
    """A function whose lang is a template, built for local mode; None when its lang is no template."""
    from pyfaas.provider.local.function_build import BuildFailed, build_function
    from pyfaas.provider.local.templates import TemplateError, find_template

    try:
        template = find_template(definition.lang, base_dir)
    except TemplateError as exc:
        raise CliError(f"{_where(definition)}: {exc.message}", hint="fix or re-pull the template") from exc
    if template is None:
        return None
    spec = definition.deployment
    try:
        built = build_function(
            name=definition.name,
            template=template,
            handler_dir=(base_dir / definition.handler).resolve(),
            environ=environ,
            fprocess=spec.envProcess,
            report=report,
        )
    except BuildFailed as exc:
        raise CliError(f"{_where(definition)}: {exc.message}", hint=exc.hint) from exc
    # the stack's environment wins: e.g. upstream_url at the fixed port of a server ignoring http_port
    template_env = dict(built.env)
    if declared_timeout(spec.annotations) is not None:
        # the template's timeouts are defaults, not the function's choice: its declared timeout wins over them
        for name in WATCHDOG_VARIABLES:
            template_env.pop(name, None)
    env = {**template_env, **(spec.envVars or {})}
    return spec.model_copy(update={"envVars": env, "envProcess": built.fprocess})


def local_deployment(
    definition: FunctionDefinition,
    base_dir: Path,
    *,
    environ: Mapping[str, str] | None = None,
    report: Callable[[str], None] | None = None,
) -> FunctionDeployment:
    """The deployment that runs ``definition`` on a pyfaas local-mode gateway (no image).

    ``environ`` (PATH, HOME, XDG_CACHE_HOME, GOCACHE ...) is what template builds run with; ``report``
    hears each build step before it runs."""
    spec = definition.deployment
    env = dict(spec.envVars or {})
    environ = os.environ if environ is None else environ
    if definition.handler and definition.lang not in _PYTHON_MODE_LANGS and definition.lang != "dockerfile":
        built = _from_template(definition, base_dir, environ, report)
        if built is not None:
            return built
    if definition.lang in _PYTHON_MODE_LANGS and definition.handler:
        folder = (base_dir / definition.handler).resolve()
        if not (folder / "handler.py").is_file():
            raise CliError(
                f"{_where(definition)}: no handler.py in {folder}",
                hint="check the function's handler folder (relative to the stack file)",
            )
        env.setdefault("mode", "python")
        env["handler"] = str(folder)
        return spec.model_copy(update={"envVars": env, "envProcess": None})
    if spec.envProcess or env.get("fprocess"):
        env.setdefault("mode", "fork")
        folder = (base_dir / definition.handler).resolve() if definition.handler else base_dir / "-"
        if definition.handler and folder.is_dir() and " " not in str(folder):
            # a command beside its files (lang: dockerfile): run it from the handler folder
            command = spec.envProcess or env.pop("fprocess")
            return spec.model_copy(update={"envVars": env, "envProcess": f"env -C {folder} {command}"})
        return spec.model_copy(update={"envVars": env})
    if env.get("mode") == "static":
        return spec
    if definition.lang == "dockerfile":
        raise CliError(
            f"{_where(definition)} (lang dockerfile) is image-only: local mode runs no containers",
            hint="give it an fprocess in the stack file (a command run per request in fork mode, from its "
            "handler folder), or deploy it to a cluster",
        )
    raise CliError(
        f"{_where(definition)}: local mode runs python3-http handlers, template functions or fprocess "
        f"commands, not the image {spec.image!r}",
        hint="give it a lang (pyfaas template list) and a handler folder, or an fprocess",
    )


def prepare(
    definition: FunctionDefinition,
    base_dir: Path,
    *,
    local: bool,
    overrides: Overrides | None = None,
    environ: Mapping[str, str] | None = None,
    report: Callable[[str], None] | None = None,
) -> FunctionDeployment:
    """The FunctionDeployment to send for ``definition``."""
    spec = (
        local_deployment(definition, base_dir, environ=environ, report=report)
        if local
        else definition.deployment
    )
    if overrides is not None:
        spec = overrides.apply(spec)
    return spec
