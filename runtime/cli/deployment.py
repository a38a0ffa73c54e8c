"""From a function definition to the FunctionDeployment a gateway receives (contract §8.2), and local mode.

faas-cli's merge order: ``environment`` then ``environment_file`` (done by the stack parser), then ``--env``
flags; labels, annotations and secrets from the stack plus the flags; ``--namespace`` over the stack's.

Local mode (a pyfaas gateway whose provider is ``pyfaas-local``) runs code without images:
``lang: python3-http`` / ``python3`` functions run from their handler folder in the watchdog's python mode
(``mode=python``, ``handler=<absolute folder>``); functions with an ``fprocess`` run it per request
(``mode=fork``, unless the function sets another mode). Elsewhere the image is deployed as written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyfaas.cli.errors import CliError
from pyfaas.cli.options import parse_pairs
from pyfaas.core.definitions import FunctionDefinition
from pyfaas.core.models import FunctionDeployment
from pyfaas.store.catalog import PYTHON_LANGS

__all__ = ["Overrides", "local_deployment", "prepare"]


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


def local_deployment(definition: FunctionDefinition, base_dir: Path) -> FunctionDeployment:
    """The deployment that runs ``definition`` on a pyfaas local-mode gateway (no image)."""
    spec = definition.deployment
    env = dict(spec.envVars or {})
    if definition.lang in PYTHON_LANGS and definition.handler:
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
        return spec.model_copy(update={"envVars": env})
    if env.get("mode") == "static":
        return spec
    raise CliError(
        f"{_where(definition)}: local mode runs python3-http/python3 handlers or fprocess commands, "
        f"not the image {spec.image!r}",
        hint="give it lang: python3-http and a handler folder, or an fprocess",
    )


def prepare(
    definition: FunctionDefinition, base_dir: Path, *, local: bool, overrides: Overrides | None = None
) -> FunctionDeployment:
    """The FunctionDeployment to send for ``definition``."""
    spec = local_deployment(definition, base_dir) if local else definition.deployment
    if overrides is not None:
        spec = overrides.apply(spec)
    return spec
