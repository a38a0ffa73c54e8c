"""Functions defined in Python: a user's ``functions.py`` declares them, every target deploys them.

A definition is the REST API's own :class:`FunctionDeployment` plus where the code lives for local mode (the
template language and handler folder). The Pulumi program deploys ``definition.deployment``; local mode runs
``definition.handler``; ``stack.yml`` files load into the same type (:mod:`pyfaas.core.stack`).

A ``functions.py`` looks like::

    from pyfaas import function  # the public name (docs/api.md)

    echo = function("echo", image="ghcr.io/acme/echo:1.0.0", handler="./echo", lang="python3-http",
                    labels={"com.openfaas.scale.max": "10"})

Plain ``FunctionDeployment(...)`` objects work too, and so do lists or tuples of either. This module does no
I/O: the caller executes the file (``runpy.run_path``) and hands the resulting namespace to
:func:`collect_functions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from pyfaas.core.durations import format_go_duration
from pyfaas.core.errors import ValidationFailed
from pyfaas.core.models import FunctionDeployment, FunctionResources
from pyfaas.core.names import validate_function_name, validate_namespace
from pyfaas.core.timeouts import ANNOTATION_TIMEOUT, validate_timeout_annotation

__all__ = ["DefinitionError", "FunctionDefinition", "collect_functions", "function"]


class DefinitionError(ValidationFailed):
    """A function definition is invalid; the message names the origin (file and line, or variable)."""


@dataclass(frozen=True, slots=True)
class FunctionDefinition:
    """One function as its author defined it."""

    deployment: FunctionDeployment
    """What every target deploys: the body of ``POST /system/functions``."""
    lang: str = ""
    """Template language (``python3-http``, ``python3``, ``dockerfile`` ...); empty when unknown."""
    handler: str = ""
    """Handler folder as written, relative to the defining file's folder; empty when there is none."""
    origin: str = ""
    """Where it was defined, for messages: ``stack.yml:12`` or ``functions.py:echo``."""

    @property
    def name(self) -> str:
        return self.deployment.service


def _resources(value: FunctionResources | Mapping[str, Any] | None, field: str) -> FunctionResources | None:
    if value is None or isinstance(value, FunctionResources):
        return value
    try:
        return FunctionResources.model_validate({k: str(v) for k, v in dict(value).items()})
    except (ValidationError, TypeError, ValueError) as exc:
        raise DefinitionError(f"{field}: expected a map of memory/cpu quantities", field=field) from exc


def function(
    name: str,
    *,
    image: str,
    handler: str = "",
    lang: str = "",
    fprocess: str | None = None,
    environment: Mapping[str, Any] | None = None,
    secrets: Iterable[str] | None = None,
    labels: Mapping[str, Any] | None = None,
    annotations: Mapping[str, Any] | None = None,
    limits: FunctionResources | Mapping[str, Any] | None = None,
    requests: FunctionResources | Mapping[str, Any] | None = None,
    namespace: str | None = None,
    read_only_root_filesystem: bool = False,
    constraints: Iterable[str] | None = None,
    timeout: str | float | None = None,
) -> FunctionDefinition:
    """Declare one function with stack.yml's vocabulary (``environment``, ``fprocess``, ``limits`` ...).

    ``timeout`` (seconds or a Go duration such as ``"90s"``) is the function's one timeout, stored as the
    ``com.openfaas.timeout`` annotation (:mod:`pyfaas.core.timeouts`).

    Raises :class:`DefinitionError` naming the function and the field on a bad value.
    """
    where = f"function {name!r}"
    if timeout is not None:
        value = format_go_duration(float(timeout)) if isinstance(timeout, int | float) else str(timeout)
        annotations = {**(annotations or {}), ANNOTATION_TIMEOUT: value}
    try:
        validate_function_name(name, field="name")
        if namespace:
            validate_namespace(namespace)
        deployment = FunctionDeployment(
            service=name,
            image=image,
            envProcess=fprocess or None,
            envVars=dict(environment) if environment else None,
            secrets=list(secrets) if secrets else None,
            labels=dict(labels) if labels else None,
            annotations=dict(annotations) if annotations else None,
            limits=_resources(limits, "limits"),
            requests=_resources(requests, "requests"),
            namespace=namespace or None,
            readOnlyRootFilesystem=read_only_root_filesystem,
            constraints=list(constraints) if constraints else None,
        )
        validate_timeout_annotation(deployment.annotations)
    except ValidationFailed as exc:
        raise DefinitionError(f"{where}: {exc.message}", field=exc.field) from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "function"
        raise DefinitionError(f"{where}: {field}: {first['msg']}", field=field) from exc
    return FunctionDefinition(deployment=deployment, lang=lang.lower(), handler=handler)


def _as_definition(value: Any, origin: str) -> FunctionDefinition | None:
    if isinstance(value, FunctionDefinition):
        return (
            value if value.origin else FunctionDefinition(value.deployment, value.lang, value.handler, origin)
        )
    if isinstance(value, FunctionDeployment):
        try:
            validate_function_name(value.service)
        except ValidationFailed as exc:
            raise DefinitionError(f"{origin}: {exc.message}", field="service") from exc
        return FunctionDefinition(deployment=value, origin=origin)
    return None


def collect_functions(
    namespace: Mapping[str, Any], *, origin: str = "functions.py"
) -> list[FunctionDefinition]:
    """The functions a module namespace defines, in definition order.

    Module-level values that are a :class:`FunctionDefinition` or a :class:`FunctionDeployment`, or a list
    or tuple of them, count; names starting with ``_`` are private and skipped. The same object bound to two
    names counts once; two different functions with one name (in one namespace) are an error.
    """
    found: list[FunctionDefinition] = []
    seen: dict[tuple[str, str], str] = {}
    seen_ids: set[int] = set()
    for variable, value in namespace.items():
        if variable.startswith("_"):
            continue
        items = list(value) if isinstance(value, list | tuple) else [value]
        for index, item in enumerate(items):
            label = f"{origin}:{variable}" if len(items) == 1 else f"{origin}:{variable}[{index}]"
            definition = _as_definition(item, label)
            if definition is None or id(item) in seen_ids:
                continue
            seen_ids.add(id(item))
            key = (definition.name, definition.deployment.namespace or "")
            if key in seen:
                raise DefinitionError(
                    f"{label}: function {definition.name!r} is already defined at {seen[key]}", field=variable
                )
            seen[key] = label
            found.append(definition)
    return found
