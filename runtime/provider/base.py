"""The ``Provider`` protocol: faas-provider's handler set as one async Python interface.

Three implementations share it: :mod:`pyfaas.provider.local` (watchdog processes on this machine),
:mod:`pyfaas.provider.kubernetes` (Deployments and Services through the Kubernetes API) and
:mod:`pyfaas.provider.remote` (any faas-provider HTTP API, e.g. faasd or faas-netes). The gateway, the idler
and the worker talk to a provider only through this protocol (or through the gateway's HTTP API).

Errors are raised from :mod:`pyfaas.core.errors` (``FunctionNotFound``, ``ValidationFailed``,
``ProviderError`` ...); the gateway maps them to HTTP status codes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from pyfaas.core.models import (
    FunctionDeployment,
    FunctionNamespace,
    FunctionStatus,
    LogMessage,
    ProviderInfo,
    Secret,
)

__all__ = ["LogRequest", "Provider", "Replica", "ReplicaListener"]


@dataclass(slots=True)
class Replica:
    """One ready replica of a function: where to send an invocation, and how busy it is.

    ``in_flight`` is owned by the gateway's balancer (least in-flight wins); providers create Replica objects
    and keep the same object for as long as the replica lives, so the count survives list refreshes.
    """

    id: str
    url: str
    """Base URL of the replica's watchdog, e.g. ``http://127.0.0.1:41235`` (no trailing slash)."""
    in_flight: int = 0
    ready: bool = True
    started_at: float = 0.0
    key: str | None = None
    """What the gateway sends as ``X-Pyfaas-Replica-Key`` to reach it (local replicas only; see
    ``pyfaas.core.replica_key``)."""


@dataclass(frozen=True, slots=True)
class LogRequest:
    name: str
    namespace: str
    instance: str | None = None
    tail: int = 0
    """Lines from the end; 0 or less means all kept lines."""
    follow: bool = False
    since: datetime | None = None


ReplicaListener = Callable[[str, str, list[Replica]], None]
"""Called with (name, namespace, ready replicas) whenever a function's ready set changes, and (with the same
set) when a replica fails, so that a caller waiting for one re-reads ``FunctionStatus.replicaFailure``."""


@runtime_checkable
class Provider(Protocol):
    """faas-provider's handler set. Every method may raise a ``pyfaas.core.errors.PyfaasError``."""

    default_namespace: str

    async def start(self) -> None:
        """Load state, start supervision or watches. Called once before anything else."""

    async def close(self) -> None:
        """Stop background work; local replicas are drained and stopped."""

    async def info(self) -> ProviderInfo: ...

    async def health(self) -> None:
        """Return if healthy, else raise ``ProviderError``."""

    # functions -------------------------------------------------------------------------------------
    async def list_functions(self, namespace: str) -> list[FunctionStatus]: ...

    async def get_function(self, name: str, namespace: str) -> FunctionStatus:
        """Raise ``FunctionNotFound`` when absent.

        Optional: ``replicaFailure`` says why replicas do not become ready (the last error of a crashing
        replica: its output's last lines, or the orchestrator's reason), cleared once a replica of the current
        spec is ready; ``beforeReady`` when it never was (the gateway then fails calls at once with it)."""
        ...

    async def deploy(self, spec: FunctionDeployment) -> None:
        """Create a function; ``FunctionExists`` if it exists, ``ValidationFailed`` for a bad spec."""

    async def update(self, spec: FunctionDeployment) -> None:
        """Rolling update; ``FunctionNotFound`` when absent (faas-cli falls back to POST on 404)."""

    async def delete(self, name: str, namespace: str) -> None: ...

    async def scale(self, name: str, namespace: str, replicas: int) -> None:
        """Set desired replicas (0 allowed). The caller has already clamped to the function's max."""

    # invocation ------------------------------------------------------------------------------------
    async def ready_replicas(self, name: str, namespace: str) -> list[Replica]:
        """Ready replicas from memory (no API call per request). ``FunctionNotFound`` when absent."""
        ...

    def subscribe(self, listener: ReplicaListener) -> None:
        """Register a listener for ready-set changes (used by the gateway's balancer and scale-from-zero)."""

    # secrets ---------------------------------------------------------------------------------------
    async def list_secrets(self, namespace: str) -> list[Secret]:
        """Names only (values are never returned)."""
        ...

    async def create_secret(self, secret: Secret) -> None: ...

    async def update_secret(self, secret: Secret) -> None: ...

    async def delete_secret(self, name: str, namespace: str) -> None: ...

    # logs ------------------------------------------------------------------------------------------
    def logs(self, request: LogRequest) -> AsyncIterator[LogMessage]:
        """Kept lines (``tail``, ``since``), then new ones while ``follow``."""
        ...

    # namespaces ------------------------------------------------------------------------------------
    async def list_namespaces(self) -> list[str]: ...

    async def get_namespace(self, name: str) -> FunctionNamespace: ...

    async def create_namespace(self, namespace: FunctionNamespace) -> None: ...

    async def update_namespace(self, namespace: FunctionNamespace) -> None: ...

    async def delete_namespace(self, name: str) -> None: ...
