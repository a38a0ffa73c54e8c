"""The provider contract suite in operator mode (kind ``operator-live``) on the session's real cluster.

``contract_operator`` runs one ``pyfaas-operator`` process for the session, watching the contract namespaces
(``openfaas-fn`` and ``dev``, :data:`tests.support.kube_live.CONTRACT_NAMESPACES`); ``live_operator_provider``
is an :class:`~pyfaas.provider.kubernetes.operator_mode.OperatorProvider` on the same cluster. Before and
after each test the Function objects go first (else the operator would restore the Deployments that
``reset_contract_namespaces`` deletes), then the namespaces are reset as for ``kubernetes-live``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError, AsyncClient
from lightkube.types import CascadeType

from pyfaas.provider.kubernetes.operator_mode import OperatorProvider
from tests.support.kube_cluster import KubeCluster
from tests.support.kube_live import CONTRACT_NAMESPACES, admin_client, live_contract_provider
from tests.support.operator_cluster import FunctionResource, install_crd
from tests.support.operator_process import OperatorProcess, running_operator

__all__ = ["contract_operator", "live_operator_provider"]


@pytest.fixture(scope="session")
def contract_operator(
    kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    logs = tmp_path_factory.mktemp("contract-operator")
    with running_operator(
        kube_cluster.kubeconfig,
        ",".join(CONTRACT_NAMESPACES),
        logs,
        identity="contract",
        lease_namespace="default",
    ) as operator:
        yield operator


async def delete_functions(client: AsyncClient) -> None:
    for namespace in CONTRACT_NAMESPACES:
        try:
            names = [
                item.metadata.name
                async for item in client.list(FunctionResource, namespace=namespace)
                if item.metadata is not None and item.metadata.name
            ]
        except ApiError as exc:
            if exc.status.code == 404:
                continue
            raise
        for name in names:
            with contextlib.suppress(ApiError):
                await client.delete(
                    FunctionResource, name, namespace=namespace, cascade=CascadeType.BACKGROUND
                )


@contextlib.asynccontextmanager
async def live_operator_provider(
    cluster: KubeCluster, operator: OperatorProcess, **config: Any
) -> AsyncIterator[OperatorProvider]:
    assert operator.process.poll() is None, operator.log_text()[-2000:]
    async with admin_client(Path(cluster.kubeconfig)) as client:
        await install_crd(client)
    async with live_contract_provider(
        cluster, OperatorProvider, clear=delete_functions, **config
    ) as provider:
        yield provider
