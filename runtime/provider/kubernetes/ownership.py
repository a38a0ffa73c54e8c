"""Field ownership of the objects the provider writes: server-side apply under one field manager.

Every write of a function's Deployment, Service or Secret is an apply by ``pyfaas.core.k8s.FIELD_MANAGER``
with ``force``, so a write declares the whole object: fields a previous write set and this one leaves out are
removed. The Pulumi program gives the same objects ``pyfaas.core.k8s.PULUMI_OWNERSHIP_ANNOTATIONS``, so
``pulumi up`` applies them as the same manager and forces conflicts with anyone else (``kubectl edit``, a
``/scale`` call): whichever of Pulumi and the gateway wrote last defines the object, with nothing left over
from the other (``docs/kubernetes-provider.md``, "Field ownership").

Creation stays a POST (the only atomic "create if absent" the API has); the POST's ``Update`` entry in
``managedFields`` is then turned into an ``Apply`` entry, exactly as ``kubectl``'s client-side-apply
upgrade does, so later applies own, and can remove, every field the POST set.
"""

from __future__ import annotations

from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.core.resource import NamespacedResource
from lightkube.types import PatchType

from pyfaas.core.errors import ProviderError
from pyfaas.core.k8s import FIELD_MANAGER
from pyfaas.provider.kubernetes.errors import ObjectMissing, api_errors, status_code

__all__ = ["adopt_created"]

_ATTEMPTS = 5


def _entry(body: dict[str, Any], manager: str) -> int | None:
    for index, entry in enumerate((body.get("metadata") or {}).get("managedFields") or []):
        if (
            entry.get("manager") == manager
            and entry.get("operation") == "Update"
            and not entry.get("subresource")
        ):
            return index
    return None


async def adopt_created(
    client: AsyncClient,
    kind: type[NamespacedResource],
    name: str,
    namespace: str,
    created: dict[str, Any],
    manager: str = FIELD_MANAGER,
) -> None:
    """Turn ``manager``'s ``Update`` entry of a just-created object into an ``Apply`` entry.

    A JSON patch with a ``test`` of the entry's position: if another writer moved the list meanwhile, the
    test fails and the object is read again.
    """
    body = created
    what = f"taking ownership of {kind.__name__} {name}.{namespace}"
    for _ in range(_ATTEMPTS):
        index = _entry(body, manager)
        if index is None:
            return  # already an Apply entry (or the object was rewritten by someone else: theirs now)
        path = f"/metadata/managedFields/{index}"
        ops = [
            {"op": "test", "path": f"{path}/manager", "value": manager},
            {"op": "test", "path": f"{path}/operation", "value": "Update"},
            {"op": "replace", "path": f"{path}/operation", "value": "Apply"},
        ]
        try:
            with api_errors(what, not_found=ObjectMissing):
                try:
                    await client.patch(kind, name, ops, namespace=namespace, patch_type=PatchType.JSON)
                    return
                except ApiError as exc:
                    if status_code(exc) not in (409, 422):  # a failed "test" op is 422 Unprocessable Entity
                        raise
                body = (await client.get(kind, name, namespace=namespace)).to_dict()  # type: ignore[attr-defined]
        except ObjectMissing:
            return  # deleted meanwhile: nothing to own
    raise ProviderError(f"{what}: managedFields kept changing")
