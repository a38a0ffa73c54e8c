"""One reconcile of one Function: check it, write its Deployment and Service, report its status.

Level-based and idempotent, so a restart in the middle, a repeated event or two calls at once change nothing:
objects have fixed names (the function's), are written with server-side apply (field manager
``pyfaas-operator``) only when they differ from the desired body, and carry an owner reference to their
Function (controller), so deleting the Function lets the garbage collector remove them. The Deployment and
Service bodies are :mod:`pyfaas.core.k8s`'s, the same the Kubernetes provider and Pulumi write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from lightkube import AsyncClient
from lightkube.core.client import LabelSelector
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod, Service
from lightkube.resources.core_v1 import Secret as SecretObject
from lightkube.types import PatchType

from pyfaas.core.errors import NotFound, PyfaasError, ValidationFailed
from pyfaas.core.function_crd import API_VERSION, GROUP, KIND, PLURAL, VERSION, deployment_of
from pyfaas.core.k8s import (
    FunctionWorkloadOptions,
    function_deployment,
    function_service,
    initial_replicas,
    replica_key_secret,
)
from pyfaas.core.labels import LABEL_FUNCTION, scaling_policy
from pyfaas.core.models import FunctionDeployment
from pyfaas.core.replica_key import REPLICA_KEY_LABEL, new_replica_key, replica_key_secret_name
from pyfaas.operator.status import Problem, function_status, status_unchanged
from pyfaas.provider.kubernetes.errors import ObjectConflict, ObjectMissing, api_errors

__all__ = [
    "FIELD_MANAGER",
    "FunctionResource",
    "InvalidFunction",
    "Reconciler",
    "RetryLater",
    "contains",
    "desired_replicas",
    "difference",
    "owner_of",
]

log = logging.getLogger("pyfaas.operator")

FIELD_MANAGER = "pyfaas-operator"
FunctionResource = create_namespaced_resource(GROUP, VERSION, KIND, PLURAL)
REGISTRY_SECRET_TYPES = frozenset({"kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"})


class InvalidFunction(Exception):
    """The Function's spec cannot describe a function; retrying will not help (the status says why)."""


class RetryLater(Exception):
    """Not possible yet (a secret is missing, the API failed); the status says why, the caller retries."""


def desired_replicas(spec: FunctionDeployment, replicas: int | None) -> int:
    """``spec.replicas`` when set (capped at ``com.openfaas.scale.max``), else the initial count."""
    if replicas is None:
        return initial_replicas(spec)
    return min(replicas, scaling_policy(spec.labels).max_replicas)


def difference(actual: Any, desired: Any, path: str = "") -> str | None:
    """The first path where ``actual`` lacks a value of ``desired``, or None when it holds them all.

    The API server adds defaults but never removes what was written, except empty and zero values (Go's
    omitempty): a missing key whose desired value is empty, zero or false is no difference.
    """
    if isinstance(desired, Mapping):
        if not isinstance(actual, Mapping):
            return path or "."
        for key, value in desired.items():
            if key not in actual:
                if value in ([], {}, None, "", 0, False):
                    continue
                return f"{path}.{key}"
            if (found := difference(actual[key], value, f"{path}.{key}")) is not None:
                return found
        return None
    if isinstance(desired, list):
        if not isinstance(actual, list) or len(actual) != len(desired):
            return path
        for index, (a, d) in enumerate(zip(actual, desired, strict=True)):
            if (found := difference(a, d, f"{path}[{index}]")) is not None:
                return found
        return None
    return None if actual == desired else path


def contains(actual: Any, desired: Any) -> bool:
    """Whether ``actual`` holds every value of ``desired`` (see :func:`difference`)."""
    return difference(actual, desired) is None


def owner_of(body: Mapping[str, Any]) -> str | None:
    """Name of the Function that controls ``body`` (an owner reference), or None."""
    for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("apiVersion") == API_VERSION and ref.get("kind") == KIND and ref.get("controller"):
            return str(ref.get("name"))
    return None


def _owned(body: dict[str, Any], function: Mapping[str, Any]) -> dict[str, Any]:
    meta = function["metadata"]
    reference = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    body["metadata"]["ownerReferences"] = [reference]
    return body


@dataclass
class Outcome:
    applied: list[str]
    """Kinds written in this reconcile (``Deployment``, ``Service``): empty when nothing had drifted."""
    status: dict[str, Any]


class Reconciler:
    """Reconciles Functions through a lightkube client; one lock per function serialises concurrent calls."""

    def __init__(self, client: AsyncClient, workload: FunctionWorkloadOptions) -> None:
        self.client = client
        self.workload = workload
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def _lock(self, namespace: str, name: str) -> asyncio.Lock:
        return self._locks.setdefault((namespace, name), asyncio.Lock())

    async def read_function(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            with api_errors(f"reading Function {namespace}/{name}", not_found=ObjectMissing):
                found = await self.client.get(FunctionResource, name, namespace=namespace)
        except ObjectMissing:
            return None
        body: dict[str, Any] = found.to_dict()  # type: ignore[no-untyped-call]
        return body

    async def refresh(self, namespace: str, name: str, *, apply: bool = True) -> Outcome | None:
        """Reconcile the Function ``namespace/name`` as it is now (a child changed); None when it is gone."""
        function = await self.read_function(namespace, name)
        if function is None or (function.get("metadata") or {}).get("deletionTimestamp"):
            lock = self._locks.get((namespace, name))
            if lock is not None and not lock.locked():
                del self._locks[(namespace, name)]  # a deleted function's lock is not kept forever
            return None
        try:
            return await self.reconcile(function, apply=apply)
        except (InvalidFunction, RetryLater):
            return None  # the status says why; the Function's own handler retries

    async def reconcile(self, function: Mapping[str, Any], *, apply: bool = True) -> Outcome:
        meta = function.get("metadata") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        async with self._lock(namespace, name):
            return await self._reconcile(function, namespace, name, apply=apply)

    async def _reconcile(
        self, function: Mapping[str, Any], namespace: str, name: str, *, apply: bool
    ) -> Outcome:
        try:
            spec, replicas = deployment_of(function)
        except ValidationFailed as exc:
            await self._report(function, desired=0, problem=Problem("InvalidSpec", exc.message))
            raise InvalidFunction(exc.message) from exc
        desired = desired_replicas(spec, replicas)
        try:
            registry = await self._registry_secrets(spec, namespace)
        except RetryLater as exc:
            await self._report(function, desired=desired, problem=Problem("SecretNotFound", str(exc)))
            raise
        deployment_body = _owned(
            function_deployment(
                spec,
                namespace=namespace,
                options=self.workload,
                replicas=desired,
                image_pull_secrets=registry,
                replica_key=True,
            ),
            function,
        )
        service_body = _owned(function_service(spec, namespace=namespace, options=self.workload), function)
        applied: list[str] = []
        try:
            if await self._replica_key(function, namespace, name, apply=apply):
                log.info("function %s/%s: created its replica key Secret", namespace, name)
            deployment = await self._current(Deployment, namespace, name)
            drift = "absent" if deployment is None else difference(deployment, deployment_body)
            if apply and drift is not None:
                deployment = (await self._apply(Deployment, deployment_body)).to_dict()
                applied.append(f"Deployment ({drift})")
            service = await self._current(Service, namespace, name)
            drift = "absent" if service is None else difference(service, service_body)
            if apply and drift is not None:
                await self._apply(Service, service_body)
                applied.append(f"Service ({drift})")
        except ValidationFailed as exc:  # the API refused a body: an annotation or label value it rejects
            await self._report(function, desired=desired, problem=Problem("ApplyFailed", exc.message))
            raise InvalidFunction(exc.message) from exc
        except PyfaasError as exc:
            raise RetryLater(exc.message) from exc
        if applied:
            log.info("function %s/%s: wrote %s", namespace, name, " and ".join(applied))
        status = await self._report(function, desired=desired, deployment=deployment)
        return Outcome(applied, status)

    async def _registry_secrets(self, spec: FunctionDeployment, namespace: str) -> list[str]:
        """Check every named secret exists (else ``RetryLater`` naming it); return the registry ones."""
        registry = []
        for index, secret in enumerate(spec.secrets or []):
            try:
                with api_errors(f"reading secret {secret}", not_found=ObjectMissing):
                    body = (await self.client.get(SecretObject, secret, namespace=namespace)).to_dict()
            except ObjectMissing as exc:
                raise RetryLater(
                    f"secret {secret!r} (spec.secrets[{index}]) not found in namespace {namespace!r}; "
                    "waiting for it"
                ) from exc
            except PyfaasError as exc:
                raise RetryLater(exc.message) from exc
            if body.get("type") in REGISTRY_SECRET_TYPES:
                registry.append(secret)
        return registry

    async def _replica_key(
        self, function: Mapping[str, Any], namespace: str, name: str, *, apply: bool
    ) -> bool:
        """Create the function's replica key Secret (owned by the Function) unless it exists; never rewrite
        it: every pod of the function shares the key (``pyfaas.core.replica_key``). True when created."""
        existing = await self._current(SecretObject, namespace, replica_key_secret_name(name))
        if existing is not None:
            if ((existing.get("metadata") or {}).get("labels") or {}).get(REPLICA_KEY_LABEL) != name:
                raise ValidationFailed(
                    f"secret {replica_key_secret_name(name)!r} exists and is not the replica key of {name!r}"
                )
            return False
        if not apply:
            return False
        body = _owned(replica_key_secret(name, namespace=namespace, key=new_replica_key()), function)
        try:
            with api_errors(f"creating the replica key of {namespace}/{name}", conflict=ObjectConflict):
                await self.client.create(
                    cast(SecretObject, SecretObject.from_dict(body)), field_manager=FIELD_MANAGER
                )
        except ObjectConflict:
            return False  # created meanwhile (409): that one is the key
        return True

    async def _current(self, kind: type[Any], namespace: str, name: str) -> dict[str, Any] | None:
        try:
            with api_errors(f"reading {kind.__name__} {namespace}/{name}", not_found=ObjectMissing):
                body: dict[str, Any] = (await self.client.get(kind, name, namespace=namespace)).to_dict()
        except ObjectMissing:
            return None
        return body

    async def _apply(self, kind: type[Any], body: dict[str, Any]) -> Any:
        meta = body["metadata"]
        with api_errors(f"applying {kind.__name__} {meta['namespace']}/{meta['name']}"):
            return await self.client.apply(kind.from_dict(body), field_manager=FIELD_MANAGER, force=True)

    async def _pods(self, namespace: str, name: str) -> list[dict[str, Any]]:
        selector: LabelSelector = {LABEL_FUNCTION: name}
        with api_errors(f"listing pods of {namespace}/{name}"):
            return [p.to_dict() async for p in self.client.list(Pod, namespace=namespace, labels=selector)]

    async def _report(
        self,
        function: Mapping[str, Any],
        *,
        desired: int,
        deployment: Mapping[str, Any] | None = None,
        problem: Problem | None = None,
    ) -> dict[str, Any]:
        """Write the status when it changed; failures to write are logged (the next event writes it)."""
        meta = function.get("metadata") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        try:
            pods = [] if problem is not None else await self._pods(namespace, name)
            status = function_status(
                function, desired=desired, deployment=deployment, pods=pods, problem=problem
            )
            if not status_unchanged(function.get("status"), status):
                with api_errors(f"writing the status of Function {namespace}/{name}", not_found=NotFound):
                    await self.client.patch(
                        FunctionResource.Status,
                        name,
                        {"status": status},
                        namespace=namespace,
                        patch_type=PatchType.MERGE,
                    )
        except PyfaasError as exc:
            log.warning("function %s/%s: status not written: %s", namespace, name, exc.message)
            return {}
        return status
