"""The platform's error tree. Services map it to HTTP status codes in one place each.

::

    PyfaasError                       base of everything we raise on purpose
    ├── ConfigError                   bad environment / settings value (names the variable)
    ├── ValidationFailed (400)        a request body or parameter is invalid (names the field)
    ├── NotFound (404)
    │   ├── FunctionNotFound
    │   ├── SecretNotFound
    │   └── NamespaceNotFound
    ├── Forbidden (403)               the backend refused the operation (RBAC, quota, admission)
    ├── Conflict (409)
    │   ├── FunctionExists
    │   └── SecretExists
    ├── PayloadTooLarge (413)
    ├── Unavailable (503)             temporarily unable to serve; retry later
    │   ├── FunctionUnavailable       no ready replica in time (scale-from-zero timeout)
    │   └── QueueUnavailable          NATS/JetStream unreachable; nothing was accepted
    └── ProviderError (502)           the backend failed (process spawn, Kubernetes API, remote provider)
        ├── ProcessSpawnError
        ├── KubernetesAPIError
        └── StateStoreError           the state directory cannot be written (disk full, read-only)

Library exceptions (httpx, aiohttp, nats) are re-raised as one of these with ``from exc`` and never leak
across a module boundary.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "Conflict",
    "Forbidden",
    "FunctionExists",
    "FunctionNotFound",
    "FunctionUnavailable",
    "KubernetesAPIError",
    "NamespaceNotFound",
    "NotFound",
    "PayloadTooLarge",
    "ProcessSpawnError",
    "ProviderError",
    "PyfaasError",
    "QueueUnavailable",
    "SecretExists",
    "SecretNotFound",
    "StateStoreError",
    "Unavailable",
    "ValidationFailed",
]


class PyfaasError(Exception):
    """Base of every error pyfaas raises on purpose. ``status`` is the HTTP code it maps to."""

    status: int = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_json(self) -> dict[str, str]:
        body = {"error": self.message}
        if self.field:
            body["field"] = self.field
        return body


class ConfigError(PyfaasError):
    """A setting read from the environment is invalid; ``field`` is the variable name."""


class ValidationFailed(PyfaasError):
    status = 400


class NotFound(PyfaasError):
    status = 404


class FunctionNotFound(NotFound):
    pass


class SecretNotFound(NotFound):
    pass


class NamespaceNotFound(NotFound):
    pass


class Forbidden(PyfaasError):
    """The backend refused the operation as not permitted (e.g. the Kubernetes API's RBAC or a quota)."""

    status = 403


class Conflict(PyfaasError):
    status = 409


class FunctionExists(Conflict):
    pass


class SecretExists(Conflict):
    pass


class PayloadTooLarge(PyfaasError):
    status = 413


class Unavailable(PyfaasError):
    status = 503

    def __init__(self, message: str, *, retry_after: float = 1.0, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after


class FunctionUnavailable(Unavailable):
    pass


class QueueUnavailable(Unavailable):
    pass


class ProviderError(PyfaasError):
    status = 502


class ProcessSpawnError(ProviderError):
    pass


class KubernetesAPIError(ProviderError):
    def __init__(self, message: str, *, code: int = 502, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.code = code


class StateStoreError(ProviderError):
    status = 507
