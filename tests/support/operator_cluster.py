"""The real test cluster for operator-mode tests: a client, a throwaway ``op-`` namespace, the Function CRD.

The cluster is the session's ``kube_cluster`` (``tests.support.kube_live``). Every test namespace is
``op-<random>`` and is deleted afterwards, so engineers sharing the cluster never see each other's objects.
The CRD is installed by server-side apply (idempotent) and left in place: it is cluster-scoped and other
sessions may hold Functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import Namespace

from pyfaas.core.function_crd import CRD_NAME, GROUP, KIND, PLURAL, VERSION, function_crd

__all__ = [
    "FunctionResource",
    "cluster_client",
    "install_crd",
    "op_namespace",
    "wait_for",
]

FIELD_MANAGER = "pyfaas-tests"
FunctionResource = create_namespaced_resource(GROUP, VERSION, KIND, PLURAL)
_T = TypeVar("_T")


@contextlib.asynccontextmanager
async def cluster_client(kubeconfig: Path) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(KubeConfig.from_file(kubeconfig), field_manager=FIELD_MANAGER, trust_env=False)
    try:
        yield client
    finally:
        await client.close()


async def install_crd(client: AsyncClient) -> None:
    """Apply the Function CRD and wait until the API serves it."""
    crd = CustomResourceDefinition.from_dict(function_crd())
    await client.apply(crd, force=True)

    async def established() -> bool:
        body = (await client.get(CustomResourceDefinition, CRD_NAME)).to_dict()
        conditions = (body.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    await wait_for(established, what="the Function CRD to be established", within=30)


@contextlib.asynccontextmanager
async def op_namespace(client: AsyncClient, *, labels: dict[str, str] | None = None) -> AsyncIterator[str]:
    """A fresh ``op-<random>`` namespace, deleted on exit.

    Not labelled ``openfaas=1``: the ``kubernetes-live`` contract kind removes such namespaces it does not
    know, and these tests run the gateway with the namespace as its default one (a function namespace
    without the label)."""
    name = f"op-{secrets.token_hex(4)}"
    body = {"metadata": {"name": name, "labels": dict(labels or {})}}
    await client.create(Namespace.from_dict(body))
    try:
        yield name
    finally:
        with contextlib.suppress(ApiError):
            await client.delete(Namespace, name)


async def wait_for(
    check: Callable[[], Awaitable[_T]], *, what: str, within: float = 60.0, interval: float = 0.2
) -> _T:
    """Poll ``check`` until it returns a truthy value; fail naming ``what`` after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: Any = None
    while True:
        try:
            last = await check()
        except ApiError as exc:
            last = exc
        else:
            if last:
                return last  # type: ignore[no-any-return]
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)
