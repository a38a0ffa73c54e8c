"""``KubernetesProvider``: the Provider protocol over the Kubernetes API; functions as Deployments + Services.

Bodies come from :mod:`pyfaas.core.k8s` (shared with Pulumi). Reads go to the API except invocation, which is
served from memory: an EndpointSlice watch per function namespace keeps the ready addresses current
(:mod:`.watch`, :mod:`.endpoints`). Function namespaces are the default one plus every namespace labelled
``openfaas=1``. API failures become :mod:`pyfaas.core.errors` in :mod:`.errors`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar, cast

import httpx2
from lightkube import AsyncClient, operators
from lightkube.core.client import LabelSelector
from lightkube.models.autoscaling_v1 import ScaleSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Pod, Service
from lightkube.resources.core_v1 import Secret as SecretObject
from lightkube.types import CascadeType

from pyfaas.core.errors import (
    Conflict,
    Forbidden,
    FunctionExists,
    FunctionNotFound,
    NamespaceNotFound,
    NotFound,
    ProviderError,
    SecretExists,
    SecretNotFound,
    ValidationFailed,
)
from pyfaas.core.k8s import (
    FUNCTION_NAMESPACE_VALUE,
    LABEL_FUNCTION_NAMESPACE,
    LABEL_ROLLOUT,
    function_deployment,
    function_namespace,
    function_secret,
    function_service,
    function_status,
    replica_key_secret,
)
from pyfaas.core.labels import LABEL_FUNCTION, LABEL_MANAGED_BY, MANAGED_BY_VALUE, scaling_policy
from pyfaas.core.models import (
    FunctionDeployment,
    FunctionNamespace,
    FunctionStatus,
    LogMessage,
    ProviderInfo,
    Secret,
    VersionInfo,
)
from pyfaas.core.names import (
    DNS1123_LABEL,
    validate_image,
    validate_kubernetes_function_name,
    validate_namespace,
    validate_secret_name,
)
from pyfaas.core.replica_key import REPLICA_KEY_LABEL, new_replica_key, replica_key_secret_name
from pyfaas.core.version import __version__
from pyfaas.provider.base import LogRequest, Replica, ReplicaListener
from pyfaas.provider.kubernetes.config import KubernetesProviderConfig, kube_config
from pyfaas.provider.kubernetes.endpoints import EndpointCache, ReplicaKeys
from pyfaas.provider.kubernetes.errors import ObjectConflict, ObjectMissing, api_errors, delete_if_present
from pyfaas.provider.kubernetes.failures import replica_failure
from pyfaas.provider.kubernetes.logs import stream_logs
from pyfaas.provider.kubernetes.ownership import adopt_created
from pyfaas.provider.kubernetes.watch import KeyWatcher, SliceWatcher
from pyfaas.provider.listeners import ReplicaListeners

__all__ = ["KubernetesProvider"]

log = logging.getLogger("pyfaas.provider.kubernetes")

PROVIDER_NAME = "pyfaas-kubernetes"
ORCHESTRATION = "kubernetes"
REGISTRY_SECRET_TYPES = frozenset({"kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"})
MANAGED_SECRET_VALUES = ("pyfaas", "openfaas")
"""Secrets labelled managed-by either value are listed (faas-netes labels its secrets ``openfaas``)."""
SYSTEM_NAMESPACE_LABELS = ("kubernetes.io/metadata.name", LABEL_FUNCTION_NAMESPACE)
"""Namespace labels that are ours or the API server's, not the user's; hidden from FunctionNamespace."""
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
"""Object names the API can hold (Deployments); anything else is absent without asking."""


def _version() -> VersionInfo:
    return VersionInfo(sha="", release=__version__)


_T = TypeVar("_T")


def _object(kind: type[_T], body: dict[str, Any]) -> _T:
    """A lightkube object from a builder's body (serialises back to exactly that body)."""
    return cast(_T, kind.from_dict(body))  # type: ignore[attr-defined]


def _is_function(body: dict[str, Any]) -> bool:
    return LABEL_FUNCTION in ((body.get("metadata") or {}).get("labels") or {})


def _public_status(status: FunctionStatus) -> FunctionStatus:
    # faas_function and the rollout token are how we run the function, not what the user deployed.
    labels = {k: v for k, v in (status.labels or {}).items() if k not in (LABEL_FUNCTION, LABEL_ROLLOUT)}
    return status.model_copy(update={"labels": labels})


class KubernetesProvider:
    """The Provider protocol over the Kubernetes API with lightkube's async client."""

    def __init__(
        self, config: KubernetesProviderConfig, *, transport: httpx2.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self.default_namespace = config.default_namespace
        self._workload = config.workload
        self._transport = transport
        self._client: AsyncClient | None = None
        self._listeners = ReplicaListeners()
        self._keys = ReplicaKeys()
        self._cache = EndpointCache(self._listeners.notify, self._keys)
        self._watchers: dict[str, SliceWatcher] = {}
        self._key_watchers: dict[str, KeyWatcher] = {}
        self._function_namespaces: set[str] = {config.default_namespace}
        self._deleted: set[tuple[str, str]] = set()
        """Functions this provider deleted whose slices the watch has not yet seen go: never routed to."""
        self.write_retries = 0
        """Conditional writes repeated after losing a race (409); for tests and diagnostics."""

    @classmethod
    def for_api_server(cls, url: str, **options: Any) -> KubernetesProvider:
        """A provider talking to a plain-HTTP API at ``url`` (tests, ``kubectl proxy``)."""
        return cls(KubernetesProviderConfig(api_server=url, **options))

    # lifecycle -------------------------------------------------------------------------------------
    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            raise ProviderError("the Kubernetes provider is not started")
        return self._client

    async def start(self) -> None:
        if self._client is not None:
            return
        self._client = AsyncClient(
            kube_config(self.config),
            namespace=self.default_namespace,
            timeout=httpx2.Timeout(self.config.request_timeout),
            field_manager=self.config.field_manager,
            trust_env=False,
            transport=self._transport,
        )
        try:
            namespaces = await self.list_namespaces()
            for namespace in namespaces:
                self._watch(namespace)
            await self._synced(namespaces)
        except BaseException:
            await self.close()  # a later start() begins from scratch
            raise

    async def close(self) -> None:
        watchers, self._watchers = list(self._watchers.values()), {}
        key_watchers, self._key_watchers = list(self._key_watchers.values()), {}
        for watcher in [*watchers, *key_watchers]:
            await watcher.stop()
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def info(self) -> ProviderInfo:
        return ProviderInfo(provider=PROVIDER_NAME, orchestration=ORCHESTRATION, version=_version())

    async def health(self) -> None:
        # Listing the default namespace's Deployments is what every install may do (and what list needs).
        selector: LabelSelector = {LABEL_FUNCTION: operators.exists()}
        with api_errors("health check", not_found=NamespaceNotFound):
            listing = self.client.list(
                Deployment, namespace=self.default_namespace, labels=selector, chunk_size=1
            )
            async for _ in listing:
                break

    # listeners and the ready set -------------------------------------------------------------------
    def subscribe(self, listener: ReplicaListener) -> None:
        self._listeners.subscribe(listener)

    def _watch(self, namespace: str) -> SliceWatcher:
        watcher = self._watchers.get(namespace)
        if watcher is None:
            options = {
                "server_timeout": self.config.watch_server_timeout,
                "retry_max": self.config.watch_retry_max,
            }
            keys = KeyWatcher(self.client, self._keys, namespace, **options)
            self._key_watchers[namespace] = keys
            keys.start()
            # Slices are listed once the keys are: a replica takes its function's key when first seen.
            watcher = SliceWatcher(self.client, self._cache, namespace, after=keys.synced, **options)
            self._watchers[namespace] = watcher
            watcher.start()
        return watcher

    async def _synced(self, namespaces: list[str]) -> None:
        waits = [self._watch(ns).synced.wait() for ns in namespaces]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout=self.config.request_timeout)
        except TimeoutError as exc:
            raise ProviderError(f"EndpointSlices of {namespaces} not listed in time") from exc

    async def ready_replicas(self, name: str, namespace: str) -> list[Replica]:
        namespace = namespace or self.default_namespace
        watcher = self._watchers.get(namespace)
        if watcher is None or not watcher.synced.is_set():
            if not await self._is_function_namespace(namespace):
                raise FunctionNotFound(
                    f"function {name!r} not found in namespace {namespace!r}", field="name"
                )
            await self._synced([namespace])
        refused = self._watchers[namespace].forbidden
        if refused is not None:
            raise Forbidden(
                f"cannot route to functions in namespace {namespace!r}: {refused}", field="namespace"
            )
        if (namespace, name) in self._deleted:
            if self._cache.known(name, namespace):
                raise FunctionNotFound(f"function {name!r} is being deleted", field="name")
            self._deleted.discard((namespace, name))
        if replicas := self._cache.ready(name, namespace):
            return replicas
        if not self._cache.known(name, namespace):
            # Cold path (a function deployed a moment ago, or none): FunctionNotFound when absent or going.
            body = await self._read_function(name, namespace)
            if body["metadata"].get("deletionTimestamp"):
                raise FunctionNotFound(f"function {name!r} is being deleted", field="name")
        return []

    # namespaces ------------------------------------------------------------------------------------
    async def _is_function_namespace(self, namespace: str) -> bool:
        if namespace in self._function_namespaces:
            return True
        if len(namespace) > 63 or not DNS1123_LABEL.match(namespace):
            return False  # never put an arbitrary string into an API path
        try:
            with api_errors(f"reading namespace {namespace}", not_found=NamespaceNotFound):
                body = (await self.client.get(Namespace, namespace)).to_dict()
        except (NamespaceNotFound, Forbidden):  # absent, or not ours to read: not ours to serve
            return False
        meta = body.get("metadata") or {}
        labels = meta.get("labels") or {}
        if meta.get("deletionTimestamp"):
            return False  # being deleted: as good as gone
        if labels.get(LABEL_FUNCTION_NAMESPACE) == FUNCTION_NAMESPACE_VALUE:
            self._function_namespaces.add(namespace)
            return True
        return False

    async def _admit(self, namespace: str | None) -> str:
        namespace = namespace or self.default_namespace
        validate_namespace(namespace, "namespace")
        if not await self._is_function_namespace(namespace):
            raise ValidationFailed(
                f"namespace {namespace!r} does not exist or is not a function namespace "
                f"(label {LABEL_FUNCTION_NAMESPACE}={FUNCTION_NAMESPACE_VALUE})",
                field="namespace",
            )
        return namespace

    async def list_namespaces(self) -> list[str]:
        selector: LabelSelector = {LABEL_FUNCTION_NAMESPACE: FUNCTION_NAMESPACE_VALUE}
        try:
            with api_errors("listing namespaces"):
                found = {
                    item.metadata.name
                    async for item in self.client.list(Namespace, labels=selector)
                    if item.metadata is not None
                    and item.metadata.name
                    and item.metadata.deletionTimestamp is None
                }
        except Forbidden as exc:
            # Namespaces are cluster-scoped: a Role-only install (faas-netes clusterRole=false) may not list
            # them. Then the functions live in the default namespace only.
            log.warning("cannot list namespaces (%s); serving the default namespace only", exc.message)
            return [self.default_namespace]
        self._function_namespaces = {self.default_namespace, *found}
        # A namespace whose EndpointSlices the API refused is not served: listed, it would fail every caller.
        refused = {ns for ns, watcher in self._watchers.items() if watcher.forbidden is not None}
        return sorted(self._function_namespaces - refused)

    async def get_namespace(self, name: str) -> FunctionNamespace:
        body = await self._read_namespace(name)
        meta = body.get("metadata") or {}
        labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in SYSTEM_NAMESPACE_LABELS}
        return FunctionNamespace(
            name=name, labels=labels or None, annotations=meta.get("annotations") or None
        )

    async def _read_namespace(self, name: str) -> dict[str, Any]:
        missing = f"namespace {name!r} not found"
        if not await self._is_function_namespace(name):
            raise NamespaceNotFound(missing, field="name")
        with api_errors(f"reading namespace {name}", not_found=NamespaceNotFound, field="name"):
            body = (await self.client.get(Namespace, name)).to_dict()
        if (body.get("metadata") or {}).get("deletionTimestamp"):
            self._function_namespaces.discard(name)
            raise NamespaceNotFound(f"{missing} (it is being deleted)", field="name")
        return body

    async def create_namespace(self, namespace: FunctionNamespace) -> None:
        validate_namespace(namespace.name, "name")
        with api_errors(f"creating namespace {namespace.name}", conflict=Conflict, field="name"):
            await self.client.create(_object(Namespace, function_namespace(namespace)))
        self._function_namespaces.add(namespace.name)
        self._watch(namespace.name)

    async def update_namespace(self, namespace: FunctionNamespace) -> None:
        current = await self._read_namespace(namespace.name)
        body = function_namespace(namespace)
        body["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
        with api_errors(f"updating namespace {namespace.name}", not_found=NamespaceNotFound, field="name"):
            await self.client.replace(_object(Namespace, body))

    async def delete_namespace(self, name: str) -> None:
        if name == self.default_namespace:
            raise ValidationFailed("the default namespace cannot be deleted", field="name")
        await self._read_namespace(name)
        if await self._holds_functions(name):
            raise Conflict(f"namespace {name!r} still has functions; delete them first", field="name")
        with api_errors(f"deleting namespace {name}", not_found=NamespaceNotFound, field="name"):
            await self.client.delete(Namespace, name, cascade=CascadeType.FOREGROUND)
        self._function_namespaces.discard(name)
        watcher = self._watchers.pop(name, None)
        if watcher is not None:
            await watcher.stop()
        self._cache.forget_namespace(name)

    # functions -------------------------------------------------------------------------------------
    async def _holds_functions(self, namespace: str) -> bool:
        """Whether a function not being deleted lives in ``namespace`` (its Deployments, here)."""
        return any(not b["metadata"].get("deletionTimestamp") for b in await self._deployments(namespace))

    async def _deployments(self, namespace: str) -> list[dict[str, Any]]:
        selector: LabelSelector = {LABEL_FUNCTION: operators.exists()}
        with api_errors(f"listing functions in {namespace}"):
            return [
                item.to_dict()
                async for item in self.client.list(Deployment, namespace=namespace, labels=selector)
            ]

    async def _read_function(self, name: str, namespace: str) -> dict[str, Any]:
        missing = f"function {name!r} not found in namespace {namespace!r}"
        if len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
            raise FunctionNotFound(missing, field="name")
        with api_errors(f"reading function {name}.{namespace}", not_found=FunctionNotFound, field="name"):
            body = (await self.client.get(Deployment, name, namespace=namespace)).to_dict()
        if not _is_function(body):
            raise FunctionNotFound(f"{missing} (Deployment {name!r} is not a function)", field="name")
        return body

    async def list_functions(self, namespace: str) -> list[FunctionStatus]:
        namespace = namespace or self.default_namespace
        if not await self._is_function_namespace(namespace):
            return []
        bodies = [
            b
            for b in await self._deployments(namespace)
            if not (b.get("metadata") or {}).get("deletionTimestamp")
        ]
        return sorted((_public_status(function_status(b)) for b in bodies), key=lambda s: s.name)

    async def get_function(self, name: str, namespace: str) -> FunctionStatus:
        namespace = namespace or self.default_namespace
        if not await self._is_function_namespace(namespace):
            raise FunctionNotFound(f"function {name!r} not found in namespace {namespace!r}", field="name")
        body = await self._read_function(name, namespace)
        if (body.get("metadata") or {}).get("deletionTimestamp"):
            raise FunctionNotFound(f"function {name!r} is being deleted", field="name")
        status = _public_status(function_status(body))
        if status.availableReplicas < status.replicas:  # something is not ready: say why, if we can tell
            status.replicaFailure = replica_failure(body, await self._pods(name, namespace))
        return status

    async def _pods(self, name: str, namespace: str) -> list[dict[str, Any]]:
        selector: LabelSelector = {LABEL_FUNCTION: name}
        with api_errors(f"listing the pods of {name}.{namespace}"):
            return [
                item.to_dict() async for item in self.client.list(Pod, namespace=namespace, labels=selector)
            ]

    async def _registry_secrets(self, spec: FunctionDeployment, namespace: str) -> list[str]:
        """Check every named secret exists; return those holding registry credentials (imagePullSecrets)."""
        registry: list[str] = []
        for name in spec.secrets or []:
            if name.endswith(replica_key_secret_name("")):  # another function's key: its pods' door
                raise ValidationFailed(f"secret {name!r} is a replica key, not for mounting", field="secrets")
            try:
                with api_errors(f"reading secret {name}", not_found=SecretNotFound):
                    body = (await self.client.get(SecretObject, name, namespace=namespace)).to_dict()
            except SecretNotFound as exc:
                raise ValidationFailed(f"unable to find secret: {name}", field="secrets") from exc
            if body.get("type") in REGISTRY_SECRET_TYPES:
                registry.append(name)
        return registry

    async def deploy(self, spec: FunctionDeployment) -> None:
        validate_kubernetes_function_name(spec.service, "service")
        validate_image(spec.image, "image")
        namespace = await self._admit(spec.namespace)
        registry = await self._registry_secrets(spec, namespace)
        await self._ensure_replica_key(spec.service, namespace)
        deployment = function_deployment(
            spec, namespace=namespace, options=self._workload, image_pull_secrets=registry, replica_key=True
        )
        created = await self._create_deployment(spec.service, namespace, deployment)
        self._deleted.discard((namespace, spec.service))
        service = function_service(spec, namespace=namespace, options=self._workload)
        try:
            field_manager = self.config.field_manager
            await adopt_created(self.client, Deployment, spec.service, namespace, created, field_manager)
            await self._put_service(spec.service, namespace, service)
        except BaseException:
            await self._undo_create(spec.service, namespace)
            raise
        self._watch(namespace)

    async def _ensure_replica_key(self, name: str, namespace: str) -> None:
        """Create the function's key Secret unless it exists (``pyfaas.core.replica_key``); a key once made is
        kept by updates, scaling and rollouts (every pod of the function shares it). Rotating is deleting the
        Secret and updating the function (docs/kubernetes-provider.md)."""
        secret = replica_key_secret_name(name)
        body = replica_key_secret(name, namespace=namespace, key=new_replica_key())
        try:
            with api_errors(f"creating the replica key of {name}.{namespace}", conflict=ObjectConflict):
                await self.client.create(_object(SecretObject, body))
            return
        except ObjectConflict:
            pass  # it exists: check it is the function's key Secret, not someone else's of that name
        with api_errors(f"reading the replica key of {name}.{namespace}"):
            existing = (await self.client.get(SecretObject, secret, namespace=namespace)).to_dict()
        labels = (existing.get("metadata") or {}).get("labels") or {}
        if labels.get(REPLICA_KEY_LABEL) != name:
            raise ValidationFailed(
                f"secret {secret!r} exists and is not the replica key of {name!r}; remove or rename it",
                field="service",
            )

    async def _undo_create(self, name: str, namespace: str) -> None:
        """Remove the Deployment a failed deploy created: never leave half a function behind."""
        what = f"removing the half-deployed function {name}.{namespace}"
        try:
            await delete_if_present(
                self.client, Deployment, name, namespace, what=what, cascade=CascadeType.BACKGROUND
            )
        except ProviderError as exc:
            log.error("could not remove the Deployment of failed deploy %s.%s: %s", name, namespace, exc)

    async def _create_deployment(self, name: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + self.config.terminating_wait
        while True:
            try:
                with api_errors(
                    f"creating function {name}.{namespace}",
                    conflict=FunctionExists,
                    not_found=NamespaceNotFound,
                    field="service",
                ):
                    created = await self.client.create(_object(Deployment, body))
                return cast(dict[str, Any], created.to_dict())
            except FunctionExists:
                # A function deleted a moment ago may still be terminating (foreground): wait for it to go.
                try:
                    with api_errors(f"reading function {name}.{namespace}", not_found=ObjectMissing):
                        existing = (await self.client.get(Deployment, name, namespace=namespace)).to_dict()
                except ObjectMissing:
                    existing = None  # gone meanwhile: create again
                terminating = existing is None or existing["metadata"].get("deletionTimestamp")
                if not terminating or time.monotonic() > deadline:
                    raise
                if existing is not None:
                    await asyncio.sleep(0.1)

    async def _apply(
        self,
        kind: type[Deployment] | type[Service] | type[SecretObject],
        body: dict[str, Any],
        what: str,
        *,
        not_found: type[NotFound] = ObjectMissing,
        field: str | None = None,
    ) -> None:
        """Server-side apply as the provider's field manager, forcing (see :mod:`.ownership`).

        ``ObjectConflict`` only when ``body`` carries a ``resourceVersion`` precondition that no longer holds.
        """
        with api_errors(what, conflict=ObjectConflict, not_found=not_found, field=field):
            await self.client.apply(_object(kind, body), field_manager=self.config.field_manager, force=True)

    async def _retrying(self, write: Callable[[], Awaitable[None]]) -> None:
        """Run ``write`` (read, then write conditionally on that read) again while it loses races (409).

        Jittered doubling backoff, capped; gives up with the conflict after ``conflict_retry_for`` seconds.
        """
        deadline = time.monotonic() + self.config.conflict_retry_for
        attempt = 0
        while True:
            try:
                await write()
                return
            except ObjectConflict:
                if time.monotonic() > deadline:
                    raise
            self.write_retries += 1
            await asyncio.sleep(random.uniform(0, min(0.01 * 2**attempt, 0.1)))
            attempt += 1

    async def _put_service(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        """Create or update the Service (apply: no read, no race)."""
        await self._apply(Service, body, f"writing the Service of {name}.{namespace}")

    async def update(self, spec: FunctionDeployment) -> None:
        validate_kubernetes_function_name(spec.service, "service")
        validate_image(spec.image, "image")
        namespace = await self._admit(spec.namespace)
        registry = await self._registry_secrets(spec, namespace)
        await self._ensure_replica_key(spec.service, namespace)  # functions deployed before keys get one here
        policy = scaling_policy(spec.labels)

        async def write() -> None:
            current = await self._read_function(spec.service, namespace)
            if current["metadata"].get("deletionTimestamp"):
                raise FunctionNotFound(f"function {spec.service!r} is being deleted", field="service")
            replicas = int((current.get("spec") or {}).get("replicas") or 0)
            if replicas < policy.min_replicas and not (replicas == 0 and policy.zero):
                replicas = policy.min_replicas
            body = function_deployment(
                spec,
                namespace=namespace,
                options=self._workload,
                replicas=replicas,
                image_pull_secrets=registry,
                rollout_token=str(time.time_ns()),
                replica_key=True,
            )
            # The replica count was read above: apply only if nobody scaled (or updated) meanwhile.
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            what = f"updating function {spec.service}.{namespace}"
            await self._apply(Deployment, body, what, not_found=FunctionNotFound, field="service")

        await self._retrying(write)
        await self._put_service(
            spec.service, namespace, function_service(spec, namespace=namespace, options=self._workload)
        )

    async def delete(self, name: str, namespace: str) -> None:
        namespace = namespace or self.default_namespace
        if not await self._is_function_namespace(namespace):
            raise FunctionNotFound(f"function {name!r} not found in namespace {namespace!r}", field="name")
        body = await self._read_function(name, namespace)
        if body["metadata"].get("deletionTimestamp"):
            raise FunctionNotFound(f"function {name!r} is already being deleted", field="name")
        with api_errors(f"deleting function {name}.{namespace}", not_found=FunctionNotFound, field="name"):
            await self.client.delete(Deployment, name, namespace=namespace, cascade=CascadeType.FOREGROUND)
        self._deleted.add((namespace, name))
        self._cache.forget(name, namespace)  # stop routing now; listeners hear an empty ready set
        what = f"deleting the Service of {name}.{namespace}"
        await delete_if_present(self.client, Service, name, namespace, what=what)
        what = f"deleting the replica key of {name}.{namespace}"
        await delete_if_present(
            self.client, SecretObject, replica_key_secret_name(name), namespace, what=what
        )

    async def scale(self, name: str, namespace: str, replicas: int) -> None:
        if replicas < 0:
            raise ValidationFailed("replicas must not be negative", field="replicas")
        namespace = namespace or self.default_namespace
        missing = f"function {name!r} not found in namespace {namespace!r}"
        if not DNS1123_SUBDOMAIN.match(name) or not await self._is_function_namespace(namespace):
            raise FunctionNotFound(missing, field="serviceName")
        scale = Deployment.Scale(
            metadata=ObjectMeta(name=name, namespace=namespace), spec=ScaleSpec(replicas=replicas)
        )
        with api_errors(
            f"scaling function {name}.{namespace}", not_found=FunctionNotFound, field="serviceName"
        ):
            await self.client.replace(scale, name, namespace=namespace)

    # secrets ---------------------------------------------------------------------------------------
    async def list_secrets(self, namespace: str) -> list[Secret]:
        namespace = namespace or self.default_namespace
        if not await self._is_function_namespace(namespace):
            return []
        selector: LabelSelector = {LABEL_MANAGED_BY: operators.in_(list(MANAGED_SECRET_VALUES))}
        with api_errors(f"listing secrets in {namespace}"):
            names = [
                item.metadata.name
                async for item in self.client.list(SecretObject, namespace=namespace, labels=selector)
                if item.metadata is not None and item.metadata.name
            ]
        return [Secret(name=n, namespace=namespace) for n in sorted(names)]

    async def _secret_namespace(self, secret: Secret) -> str:
        validate_secret_name(secret.name, "name")
        if secret.name.endswith(replica_key_secret_name("")):
            raise ValidationFailed(
                f"secret names ending {replica_key_secret_name('')!r} are reserved for replica keys",
                field="name",
            )
        return await self._admit(secret.namespace)

    async def create_secret(self, secret: Secret) -> None:
        namespace = await self._secret_namespace(secret)
        body = function_secret(secret, namespace=namespace)
        what = f"creating secret {secret.name}"
        with api_errors(what, conflict=SecretExists, not_found=NamespaceNotFound, field="name"):
            created = await self.client.create(_object(SecretObject, body))
        await adopt_created(
            self.client, SecretObject, secret.name, namespace, created.to_dict(), self.config.field_manager
        )

    async def update_secret(self, secret: Secret) -> None:
        namespace = await self._secret_namespace(secret)

        async def write() -> None:
            current = await self._managed_secret(secret.name, namespace)
            body = function_secret(secret, namespace=namespace)
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            what = f"updating secret {secret.name}"
            await self._apply(SecretObject, body, what, not_found=SecretNotFound, field="name")

        await self._retrying(write)

    async def delete_secret(self, name: str, namespace: str) -> None:
        namespace = namespace or self.default_namespace
        validate_secret_name(name, "name")
        if not await self._is_function_namespace(namespace):
            raise SecretNotFound(f"secret {name!r} not found", field="name")
        await self._managed_secret(name, namespace)
        with api_errors(f"deleting secret {name}", not_found=SecretNotFound, field="name"):
            await self.client.delete(SecretObject, name, namespace=namespace)

    async def _managed_secret(self, name: str, namespace: str) -> dict[str, Any]:
        """The Secret, if it is one of ours (or faas-netes's); ``SecretNotFound`` otherwise."""
        with api_errors(f"reading secret {name}", not_found=SecretNotFound, field="name"):
            body = (await self.client.get(SecretObject, name, namespace=namespace)).to_dict()
        labels = (body.get("metadata") or {}).get("labels") or {}
        if labels.get(LABEL_MANAGED_BY) not in MANAGED_SECRET_VALUES:
            raise SecretNotFound(f"secret {name!r} is not managed by {MANAGED_BY_VALUE}", field="name")
        return body

    # logs ------------------------------------------------------------------------------------------
    async def logs(self, request: LogRequest) -> AsyncIterator[LogMessage]:
        namespace = request.namespace or self.default_namespace
        request = replace(request, namespace=namespace)
        await self.get_function(request.name, namespace)
        with api_errors(f"reading logs of {request.name}.{namespace}", not_found=FunctionNotFound):
            async for message in stream_logs(self.client, request):
                yield message
