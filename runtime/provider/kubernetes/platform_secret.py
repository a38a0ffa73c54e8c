"""One Secret of the platform's own (control) namespace holding a few documents, read and written whole with
optimistic concurrency: the home of what every gateway replica must share (docs/decisions/0142).

Not part of the function provider's API surface: the gateway builds it on the provider's client, and the
Pulumi program grants its calls through a Role of their own in the control namespace, limited to this one
Secret by name (plus ``create``, which RBAC cannot limit by name).
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Secret as SecretObject

from pyfaas.core.labels import LABEL_MANAGED_BY, MANAGED_BY_VALUE
from pyfaas.provider.kubernetes.errors import ObjectConflict, ObjectMissing, api_errors

__all__ = ["PlatformSecret"]


class PlatformSecret:
    def __init__(self, client: Callable[[], AsyncClient], namespace: str, name: str) -> None:
        self._client = client
        """The provider's client (it exists once the provider has started)."""
        self.namespace = namespace
        self.name = name

    @property
    def where(self) -> str:
        return f"Secret {self.namespace}/{self.name}"

    async def read(self) -> tuple[dict[str, bytes], str | None]:
        """The documents and the Secret's ``resourceVersion``; nothing and None when there is no Secret."""
        try:
            with api_errors(f"reading {self.where}", not_found=ObjectMissing):
                secret = await self._client().get(SecretObject, self.name, namespace=self.namespace)
        except ObjectMissing:
            return {}, None
        data = secret.data or {}
        version = secret.metadata.resourceVersion if secret.metadata is not None else None
        return {key: base64.b64decode(value) for key, value in data.items()}, version

    async def write(self, documents: dict[str, bytes], version: str | None) -> str | None:
        """Store ``documents`` if the Secret is still at ``version`` (None: if there is none yet); raises
        ``ObjectConflict`` when another writer came first (read again and re-apply)."""
        body = SecretObject(
            metadata=ObjectMeta(
                name=self.name,
                namespace=self.namespace,
                labels={LABEL_MANAGED_BY: MANAGED_BY_VALUE},
                resourceVersion=version,
            ),
            type="Opaque",
            data={key: base64.b64encode(value).decode() for key, value in documents.items()},
        )
        client = self._client()
        try:
            with api_errors(f"writing {self.where}", not_found=ObjectMissing, conflict=ObjectConflict):
                if version is None:
                    written = await client.create(body)
                else:
                    written = await client.replace(body)
        except ObjectMissing as exc:  # deleted since it was read
            raise ObjectConflict(str(exc)) from exc
        return written.metadata.resourceVersion if written.metadata is not None else None
