"""Helpers for tests against the session's real Kubernetes API server (``kube_cluster``, v1.24).

Everything a test creates lives in a fresh namespace ``k2-<random>`` (labelled ``openfaas=1``) that is
deleted afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml
from lightkube import AsyncClient, codecs
from lightkube.core.exceptions import ApiError
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, ServiceAccount

from pyfaas.core.k8s import FunctionWorkloadOptions
from pyfaas.core.models import FunctionDeployment
from pyfaas.provider.kubernetes import KubernetesProvider, KubernetesProviderConfig
from tests.support.kube_live import admin_client
from tests.support.polling import eventually

__all__ = [
    "admin_client",  # the suite's (tests.support.kube_live), re-exported for these tests
    "eventually",  # likewise (tests.support.polling)
    "fn",
    "live_provider",
    "pulumi_apply",
    "scratch_namespace",
    "service_account_kubeconfig",
]

IMAGE = "localhost/python:3.11-bookworm"
"""Imported into the kit's containerd (no registry); its command exits at once, so its pods crash-loop."""
T = TypeVar("T")


@asynccontextmanager
async def scratch_namespace(
    client: AsyncClient, *, function_namespace: bool = True, prefix: str = "k2-"
) -> AsyncIterator[str]:
    """A fresh namespace, deleted (without waiting) on exit."""
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    labels = {"openfaas": "1"} if function_namespace else {}
    await client.create(Namespace.from_dict({"metadata": {"name": name, "labels": labels}}))
    try:
        yield name
    finally:
        try:
            await client.delete(Namespace, name)
        except ApiError as exc:
            if exc.status.code != 404:
                raise


@asynccontextmanager
async def live_provider(kubeconfig: Path, namespace: str, **config: Any) -> AsyncIterator[KubernetesProvider]:
    config.setdefault("workload", FunctionWorkloadOptions(image_pull_policy="IfNotPresent"))
    config.setdefault("watch_retry_max", 0.5)
    provider = KubernetesProvider(
        KubernetesProviderConfig(kubeconfig=kubeconfig, default_namespace=namespace, **config)
    )
    await provider.start()
    try:
        yield provider
    finally:
        await provider.close()


async def service_account_kubeconfig(
    admin: AsyncClient, kubeconfig: Path, namespace: str, account: str, out: Path, *, create: bool = True
) -> Path:
    """A kubeconfig acting as ServiceAccount ``namespace/account`` with a real token (TokenRequest, 1 h);
    the account is created first unless ``create`` is false."""
    if create:
        await admin.create(ServiceAccount.from_dict({"metadata": {"name": account}}), namespace=namespace)
    request = ServiceAccount.Token(
        metadata=ObjectMeta(name=account, namespace=namespace),
        spec=TokenRequestSpec(audiences=[], expirationSeconds=3600),
    )
    issued = await admin.create(request, account, namespace=namespace)
    assert issued.status is not None
    return _token_kubeconfig(kubeconfig, account, issued.status.token, out)


def _token_kubeconfig(kubeconfig: Path, user: str, token: str, out: Path) -> Path:
    """``kubeconfig``'s current cluster, with ``token`` as the only credential."""
    admin_config = yaml.safe_load(kubeconfig.read_text())
    context = next(c for c in admin_config["contexts"] if c["name"] == admin_config["current-context"])
    cluster = next(c for c in admin_config["clusters"] if c["name"] == context["context"]["cluster"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": cluster["name"], "user": user}}],
        "current-context": user,
    }
    out.write_text(yaml.safe_dump(config))
    return out


PULUMI_DEFAULT_MANAGER = "pulumi-kubernetes-5b1c2e7d"
"""What pulumi-kubernetes (SSA mode) names itself without the annotation: ``pulumi-kubernetes-<random>``."""


async def pulumi_apply(client: AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    """Apply ``body`` as pulumi-kubernetes v4 does in server-side apply mode.

    Its ``fieldManagerName``: the ``pulumi.com/patchFieldManager`` annotation, else the name kept in the
    stack's state, first ``pulumi-kubernetes-<random>``. Its ``patchForce``: force only with the
    ``pulumi.com/patchForce: "true"`` annotation (or ``PULUMI_K8S_ENABLE_PATCH_FORCE``, unset here).
    """
    annotations = body["metadata"].get("annotations") or {}
    manager = annotations.get("pulumi.com/patchFieldManager") or PULUMI_DEFAULT_MANAGER
    force = annotations.get("pulumi.com/patchForce") == "true"
    applied = await client.apply(codecs.from_dict(body), field_manager=manager, force=force)
    return cast(dict[str, Any], applied.to_dict())


def fn(name: str = "fn", image: str = IMAGE, **fields: Any) -> FunctionDeployment:
    return FunctionDeployment(service=name, image=image, **fields)
