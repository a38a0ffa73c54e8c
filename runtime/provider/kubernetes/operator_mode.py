"""``OperatorProvider``: the Kubernetes provider in operator mode; functions are ``Function`` objects.

The REST API's deploy, update and delete write ``openfaas.com/v1`` Function objects (the shape
:func:`pyfaas.core.function_crd.function_object` builds, the same ``pyfaas generate`` prints); the operator
(:mod:`pyfaas.operator`) turns them into Deployments and Services. Scaling writes the Function's ``scale``
subresource. List and status read the Functions: the spec is what was deployed, ``replicas`` the desired count
(the Function's, as the operator applies it) and ``availableReplicas`` its Deployment's. Invocation,
secrets, logs and namespaces are the Kubernetes provider's: they work on the objects the operator writes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from lightkube import operators
from lightkube.core.client import LabelSelector
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.autoscaling_v1 import ScaleSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Service
from lightkube.types import CascadeType

from pyfaas.core.errors import FunctionExists, FunctionNotFound, NamespaceNotFound, ValidationFailed
from pyfaas.core.function_crd import GROUP, KIND, PLURAL, VERSION, deployment_of, function_object
from pyfaas.core.k8s import initial_replicas
from pyfaas.core.labels import LABEL_FUNCTION, scaling_policy
from pyfaas.core.models import FunctionDeployment, FunctionStatus, ProviderInfo
from pyfaas.core.names import validate_function_name
from pyfaas.provider.base import Replica
from pyfaas.provider.kubernetes.errors import ObjectConflict, ObjectMissing, api_errors, delete_if_present
from pyfaas.provider.kubernetes.provider import KubernetesProvider

__all__ = ["FunctionResource", "OperatorProvider"]

log = logging.getLogger("pyfaas.provider.kubernetes.operator")

FunctionResource = create_namespaced_resource(GROUP, VERSION, KIND, PLURAL)
PROVIDER_NAME = "pyfaas-kubernetes-operator"
_UPDATE_ATTEMPTS = 5


def _function_resource(body: dict[str, Any]) -> Any:
    return FunctionResource.from_dict(body)


def _dict(item: Any) -> dict[str, Any]:
    body: dict[str, Any] = item.to_dict()
    return body


def _created(body: dict[str, Any]) -> datetime | None:
    value = (body.get("metadata") or {}).get("creationTimestamp")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


class OperatorProvider(KubernetesProvider):
    """The Provider protocol over Function objects; everything but functions is the Kubernetes provider's."""

    async def info(self) -> ProviderInfo:
        info = await super().info()
        return info.model_copy(update={"provider": PROVIDER_NAME})

    async def health(self) -> None:
        await super().health()
        with api_errors("health check (Function objects)", not_found=NamespaceNotFound):
            async for _ in self.client.list(FunctionResource, namespace=self.default_namespace, chunk_size=1):
                break

    # reading ---------------------------------------------------------------------------------------
    async def _function(self, name: str, namespace: str, *, field: str = "name") -> dict[str, Any]:
        """The Function object, not being deleted; ``FunctionNotFound`` otherwise."""
        missing = f"function {name!r} not found in namespace {namespace!r}"
        if len(name) > 63 or not await self._is_function_namespace(namespace):
            raise FunctionNotFound(missing, field=field)
        try:
            validate_function_name(name, field)
        except ValidationFailed as exc:
            raise FunctionNotFound(missing, field=field) from exc
        with api_errors(f"reading Function {namespace}/{name}", not_found=FunctionNotFound, field=field):
            body = _dict(await self.client.get(FunctionResource, name, namespace=namespace))
        if (body.get("metadata") or {}).get("deletionTimestamp"):
            raise FunctionNotFound(f"function {name!r} is being deleted", field=field)
        return body

    async def _available(self, namespace: str) -> dict[str, int]:
        selector: LabelSelector = {LABEL_FUNCTION: operators.exists()}
        with api_errors(f"listing function Deployments in {namespace}"):
            return {
                item.metadata.name: int((item.status and item.status.availableReplicas) or 0)
                async for item in self.client.list(Deployment, namespace=namespace, labels=selector)
                if item.metadata is not None and item.metadata.name
            }

    def _status(self, body: dict[str, Any], available: int) -> FunctionStatus:
        namespace = (body.get("metadata") or {}).get("namespace")
        try:
            spec, replicas = deployment_of(body)
        except ValidationFailed:
            # Applied with kubectl past an older schema: report what there is; the operator's status says why.
            raw = body.get("spec") or {}
            name = str((body.get("metadata") or {}).get("name", ""))
            return FunctionStatus(name=name, image=str(raw.get("image", "")), namespace=namespace)
        desired = initial_replicas(spec) if replicas is None else replicas
        status = spec.status(replicas=desired, available_replicas=available, created_at=_created(body))
        return status.model_copy(update={"namespace": namespace})

    async def list_functions(self, namespace: str) -> list[FunctionStatus]:
        namespace = namespace or self.default_namespace
        if not await self._is_function_namespace(namespace):
            return []
        with api_errors(f"listing Functions in {namespace}"):
            bodies = [_dict(item) async for item in self.client.list(FunctionResource, namespace=namespace)]
        available = await self._available(namespace)
        statuses = [
            self._status(body, available.get(body["metadata"]["name"], 0))
            for body in bodies
            if not body["metadata"].get("deletionTimestamp")
        ]
        return sorted(statuses, key=lambda s: s.name)

    async def _holds_functions(self, namespace: str) -> bool:
        # The Function objects are the functions: a deleted one's Deployment may outlive it for a moment
        # (the garbage collector, or a reconcile already under way), and goes with the namespace.
        return bool(await self.list_functions(namespace))

    async def get_function(self, name: str, namespace: str) -> FunctionStatus:
        namespace = namespace or self.default_namespace
        body = await self._function(name, namespace)
        try:
            with api_errors(f"reading Deployment {namespace}/{name}", not_found=ObjectMissing):
                deployment = (await self.client.get(Deployment, name, namespace=namespace)).to_dict()
            available = int((deployment.get("status") or {}).get("availableReplicas") or 0)
        except ObjectMissing:
            available = 0  # the operator has not written it yet
        return self._status(body, available)

    async def ready_replicas(self, name: str, namespace: str) -> list[Replica]:
        try:
            return await super().ready_replicas(name, namespace)
        except FunctionNotFound:
            # No Deployment (yet): the Function says whether the function exists.
            await self._function(name, namespace or self.default_namespace)
            return []

    # writing ---------------------------------------------------------------------------------------
    async def deploy(self, spec: FunctionDeployment) -> None:
        validate_function_name(spec.service, "service")
        namespace = await self._admit(spec.namespace)
        await self._registry_secrets(
            spec, namespace
        )  # faas-netes refuses a function whose secrets are absent
        body = function_object(spec, namespace=namespace)
        with api_errors(
            f"creating Function {namespace}/{spec.service}",
            conflict=FunctionExists,
            not_found=NamespaceNotFound,
            field="service",
        ):
            await self.client.create(_function_resource(body))
        self._deleted.discard((namespace, spec.service))
        self._watch(namespace)

    async def update(self, spec: FunctionDeployment) -> None:
        validate_function_name(spec.service, "service")
        namespace = await self._admit(spec.namespace)
        await self._registry_secrets(spec, namespace)
        policy = scaling_policy(spec.labels)
        for attempt in range(_UPDATE_ATTEMPTS):
            current = await self._function(spec.service, namespace, field="service")
            replicas = (current.get("spec") or {}).get("replicas")
            if (
                replicas is not None
                and replicas < policy.min_replicas
                and not (replicas == 0 and policy.zero)
            ):
                replicas = policy.min_replicas  # as the Kubernetes provider: a raised minimum applies at once
            body = function_object(spec, namespace=namespace, replicas=replicas)
            body["metadata"] = {**current["metadata"], "namespace": namespace}
            what = f"updating Function {namespace}/{spec.service}"
            try:
                with api_errors(what, not_found=FunctionNotFound, conflict=ObjectConflict, field="service"):
                    await self.client.replace(_function_resource(body))
                return
            except ObjectConflict:
                if attempt == _UPDATE_ATTEMPTS - 1:
                    raise

    async def delete(self, name: str, namespace: str) -> None:
        namespace = namespace or self.default_namespace
        await self._function(name, namespace)
        what = f"deleting Function {namespace}/{name}"
        with api_errors(what, not_found=FunctionNotFound, field="name"):
            await self.client.delete(
                FunctionResource, name, namespace=namespace, cascade=CascadeType.FOREGROUND
            )
        self._deleted.add((namespace, name))
        self._cache.forget(name, namespace)  # stop routing now
        # The garbage collector removes the children; deleting them here too makes the delete take effect at
        # once (a namespace can be deleted right after, as with the Kubernetes provider).
        for kind in (Deployment, Service):
            what = f"deleting {kind.__name__} {namespace}/{name}"
            await delete_if_present(self.client, kind, name, namespace, what=what)

    async def scale(self, name: str, namespace: str, replicas: int) -> None:
        if replicas < 0:
            raise ValidationFailed("replicas must not be negative", field="replicas")
        namespace = namespace or self.default_namespace
        await self._function(name, namespace, field="serviceName")
        scale = FunctionResource.Scale(
            metadata=ObjectMeta(name=name, namespace=namespace), spec=ScaleSpec(replicas=replicas)
        )
        what = f"scaling Function {namespace}/{name}"
        with api_errors(what, not_found=FunctionNotFound, field="serviceName"):
            await self.client.replace(scale, name, namespace=namespace)  # type: ignore[call-overload]
