"""Choosing a provider: ``create_provider(ProviderChoice(...))``, so a service never names an implementation.

``PROVIDERS`` maps the ``provider`` setting to a builder; a builder imports its implementation only when
chosen (the Kubernetes client is not loaded by a local gateway). A new provider is a module plus one line
here; the gateway's settings accept whatever is registered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pyfaas.core.booleans import parse_bool
from pyfaas.core.errors import ConfigError
from pyfaas.provider.base import Provider
from pyfaas.system.credentials import BasicAuthCredentials

__all__ = ["PROVIDERS", "ProviderChoice", "create_provider"]


@dataclass(frozen=True, slots=True)
class ProviderChoice:
    """What the service choosing a provider knows; each builder reads the part it needs."""

    kind: str
    """A name in ``PROVIDERS``."""
    environ: Mapping[str, str]
    """The process environment: the Kubernetes provider reads its own settings (and ``operator``) there."""
    default_namespace: str
    state_dir: Path
    """Local provider: where functions, secrets and replica logs live."""
    max_body_bytes: int
    """Local provider: the body limit replicas enforce (what the gateway accepts)."""
    remote_url: str = ""
    """Remote provider: the faas-provider API's base URL."""
    credentials_dir: str | None = None
    """Remote provider: the ``secret_mount_path`` to authenticate with, or None for no basic auth."""
    timeout: float = 60.0
    """Remote provider: per-request timeout in seconds."""


def _local(choice: ProviderChoice) -> Provider:
    from pyfaas.provider.local import LocalProvider, LocalProviderConfig

    try:  # each function in a sandbox of its own unless local_sandbox=false (docs/reliability.md)
        sandbox = parse_bool(choice.environ.get("local_sandbox", "true"))
    except ValueError as exc:
        raise ConfigError(f"invalid value for local_sandbox: {exc}", field="local_sandbox") from exc
    hidden = tuple(Path(p) for p in (choice.environ.get("secret_mount_path"),) if p)
    return LocalProvider(
        LocalProviderConfig(
            state_dir=choice.state_dir,
            default_namespace=choice.default_namespace,
            max_body_bytes=choice.max_body_bytes,
            sandbox=sandbox,
            bwrap=choice.environ.get("PYFAAS_BWRAP", "bwrap"),
            sandbox_hidden=hidden,
        )
    )


def _remote(choice: ProviderChoice) -> Provider:
    from pyfaas.provider.remote import RemoteProvider

    credentials = None
    if choice.credentials_dir is not None:
        credentials = BasicAuthCredentials.load(choice.credentials_dir).pair()
    return RemoteProvider(
        choice.remote_url,
        credentials=credentials,
        default_namespace=choice.default_namespace,
        timeout=choice.timeout,
    )


def _kubernetes(choice: ProviderChoice) -> Provider:
    from pyfaas.provider.kubernetes import KubernetesProvider, KubernetesProviderSettings

    kube = KubernetesProviderSettings.from_env(choice.environ)
    try:
        operator_mode = parse_bool(choice.environ.get("operator", ""))
    except ValueError as exc:
        raise ConfigError(f"invalid value for operator: {exc}", field="operator") from exc
    if operator_mode:  # functions are Function objects, reconciled by pyfaas-operator
        from pyfaas.provider.kubernetes.operator_mode import OperatorProvider

        return OperatorProvider(kube.config())
    return KubernetesProvider(kube.config())


PROVIDERS: Mapping[str, Callable[[ProviderChoice], Provider]] = {
    "local": _local,
    "remote": _remote,
    "kubernetes": _kubernetes,
}
"""The ``provider`` setting → its builder; ``local`` is the default."""


def create_provider(choice: ProviderChoice) -> Provider:
    """The provider ``choice.kind`` names; ``ConfigError`` (field ``provider``) for an unknown one."""
    builder = PROVIDERS.get(choice.kind)
    if builder is None:
        raise ConfigError(
            f"unknown provider {choice.kind!r} (one of {', '.join(PROVIDERS)})", field="provider"
        )
    return builder(choice)
