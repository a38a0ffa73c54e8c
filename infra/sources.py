"""Where the program's functions come from: a Python ``functions.py`` and/or an OpenFaaS ``stack.yml``.

This is the I/O edge around the pure loaders in ``pyfaas.core`` (:func:`~pyfaas.core.definitions.
collect_functions`, :func:`~pyfaas.core.stack.parse_stack`): files are read relative to the project folder,
and every problem becomes a ``ConfigError`` naming the stack config key that pointed at the file.
"""

from __future__ import annotations

import runpy
from collections.abc import Mapping
from pathlib import Path

from pyfaas.core.definitions import FunctionDefinition, collect_functions
from pyfaas.core.errors import ConfigError, PyfaasError, ValidationFailed
from pyfaas.core.names import validate_image, validate_kubernetes_function_name
from pyfaas.core.stack import parse_stack
from pyfaas.infra.config import PROJECT, PlatformConfig

__all__ = ["load_functions"]


def _functions_file(path: Path, key: str) -> list[FunctionDefinition]:
    try:
        namespace = runpy.run_path(str(path), run_name="pyfaas_functions")
    except OSError as exc:
        raise ConfigError(f"stack config {key}: cannot read {path}: {exc.strerror}", field=key) from exc
    except PyfaasError as exc:
        raise ConfigError(f"stack config {key}: {path}: {exc.message}", field=key) from exc
    try:
        return collect_functions(namespace, origin=path.name)
    except PyfaasError as exc:
        raise ConfigError(f"stack config {key}: {exc.message}", field=key) from exc


def _stack_file(path: Path, key: str, env: Mapping[str, str]) -> list[FunctionDefinition]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"stack config {key}: cannot read {path}: {exc.strerror}", field=key) from exc

    def env_file(name: str) -> str:
        return (path.parent / name).read_text()

    try:
        return parse_stack(text, filename=str(path), env=env, env_files=env_file).functions
    except PyfaasError as exc:
        raise ConfigError(f"stack config {key}: {exc.message}", field=key) from exc


def load_functions(config: PlatformConfig, root: Path, env: Mapping[str, str]) -> list[FunctionDefinition]:
    """Every function the stack deploys, functions file first; names must be unique per namespace.

    ``env`` is the environment for ``${VAR}`` substitution in the stack file.
    """
    found: list[tuple[str, FunctionDefinition]] = []
    if config.functions_file:
        key = f"{PROJECT}:functionsFile"
        found += [(key, d) for d in _functions_file(root / config.functions_file, key)]
    if config.stack_file:
        key = f"{PROJECT}:stackFile"
        found += [(key, d) for d in _stack_file(root / config.stack_file, key, env)]
    allowed = config.function_namespaces
    seen: dict[tuple[str, str], str] = {}
    for key, definition in found:
        try:
            validate_kubernetes_function_name(definition.name)
            validate_image(definition.deployment.image)
        except ValidationFailed as exc:
            raise ConfigError(f"stack config {key}: {definition.origin}: {exc.message}", field=key) from exc
        namespace = definition.deployment.namespace or config.function_namespace
        if namespace not in allowed:
            raise ConfigError(
                f"stack config {key}: {definition.origin}: function {definition.name!r} uses namespace "
                f"{namespace!r}, which is not a function namespace "
                f"(add it to {PROJECT}:extraFunctionNamespaces)",
                field=key,
            )
        other = seen.get((definition.name, namespace))
        if other is not None:
            raise ConfigError(
                f"stack config {key}: {definition.origin}: function {definition.name!r} "
                f"is also defined at {other}",
                field=key,
            )
        seen[(definition.name, namespace)] = definition.origin
    return [definition for _key, definition in found]
