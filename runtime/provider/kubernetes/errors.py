"""Kubernetes API failures as pyfaas errors, in one place.

404 becomes the caller's ``NotFound`` kind, 409 its ``Conflict`` kind, 422/400 ``ValidationFailed`` (the API
server rejected a body: a bug or an invalid label value), 403 ``Forbidden`` (RBAC, a quota, admission) except
a write into a namespace being deleted, which is that namespace's ``NamespaceNotFound``; everything
else ``KubernetesAPIError`` (502) with the API's status code kept in ``.code``. Transport failures (API
unreachable, timeouts) are ``KubernetesAPIError`` too. lightkube and httpx exceptions never leave this
package.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
from lightkube import ApiError, AsyncClient
from lightkube.core.exceptions import ConfigError as LightkubeConfigError
from lightkube.core.exceptions import NotReadyError
from lightkube.core.resource import NamespacedResource
from lightkube.types import CascadeType

from pyfaas.core.errors import (
    Conflict,
    Forbidden,
    KubernetesAPIError,
    NamespaceNotFound,
    NotFound,
    PyfaasError,
    ValidationFailed,
)

__all__ = ["ObjectConflict", "ObjectMissing", "api_errors", "delete_if_present", "status_code"]


class ObjectMissing(NotFound):
    """An object the provider manages is absent (internal: caught where absence is expected)."""


class ObjectConflict(Conflict):
    """A write lost a race (resourceVersion changed) or the object exists (internal: retried)."""


def status_code(exc: ApiError) -> int:
    code = exc.status.code if exc.status is not None else None
    return int(code) if code else exc.response.status_code if exc.response is not None else 500


def _namespace_terminating(exc: ApiError) -> bool:
    details = exc.status.details if exc.status is not None else None
    return (
        any(cause.reason == "NamespaceTerminating" for cause in (details.causes or [])) if details else False
    )


def _message(exc: ApiError) -> str:
    status = exc.status
    return (status.message if status is not None and status.message else None) or str(exc)


@contextmanager
def api_errors(
    what: str,
    *,
    not_found: type[NotFound] | None = None,
    conflict: type[Conflict] | None = None,
    field: str | None = None,
) -> Iterator[None]:
    """Translate API failures of the block; ``what`` names the operation in the error message."""
    try:
        yield
    except PyfaasError:
        raise
    except ApiError as exc:
        code = status_code(exc)
        message = f"{what}: {_message(exc)}"
        if code == 404 and not_found is not None:
            raise not_found(message, field=field) from exc
        if code == 409 and conflict is not None:
            raise conflict(message, field=field) from exc
        if code in (400, 422):
            raise ValidationFailed(message, field=field) from exc
        if code == 403:
            if _namespace_terminating(exc):
                raise NamespaceNotFound(message, field="namespace") from exc
            raise Forbidden(message, field=field) from exc
        raise KubernetesAPIError(message, code=code) from exc
    except httpx2.HTTPError as exc:
        raise KubernetesAPIError(f"{what}: Kubernetes API unreachable: {exc!r}") from exc
    except (LightkubeConfigError, NotReadyError) as exc:
        raise KubernetesAPIError(f"{what}: {exc}") from exc


async def delete_if_present(
    client: AsyncClient,
    kind: type[NamespacedResource],
    name: str,
    namespace: str,
    *,
    what: str,
    cascade: CascadeType = CascadeType.FOREGROUND,
) -> None:
    """Delete ``kind`` ``namespace/name``; one already gone is no error (``what`` names any other)."""
    try:
        with api_errors(what, not_found=ObjectMissing):
            await client.delete(kind, name, namespace=namespace, cascade=cascade)
    except ObjectMissing:
        pass
