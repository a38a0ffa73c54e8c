"""KubernetesProvider behaviour that only the schema-checking fake API server can show.

What the real cluster can show runs there (``test_provider_live.py``). Kept here: faults a real API server
does not produce on demand (410 Gone on a watch, a server-ended watch observed request by request, an
unreachable API) and properties seen only by counting the requests the provider
sends (ready replicas served from memory, names that can never be objects sent nowhere).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pyfaas.core.errors import (
    FunctionNotFound,
    KubernetesAPIError,
)
from pyfaas.core.models import FunctionDeployment
from pyfaas.provider.base import Replica
from pyfaas.provider.kubernetes import KubernetesProvider, KubernetesProviderConfig
from tests.support.kube_provider import KubeStack, kube_stack
from tests.support.polling import eventually

pytestmark = pytest.mark.timeout(90)

NS = "openfaas-fn"
T = TypeVar("T")


async def ready(provider: KubernetesProvider, name: str, count: int, namespace: str = NS) -> list[Replica]:
    return await eventually(
        lambda: provider.ready_replicas(name, namespace), lambda r: len(r) == count, within=20, interval=0.02
    )


def fn(name: str = "fn", **fields: Any) -> FunctionDeployment:
    return FunctionDeployment(service=name, image=f"example/{name}:1", envProcess="cat", **fields)


@pytest.fixture
async def virtual(tmp_path: Path) -> Any:
    """Pods without processes (ready at once): fast tests of bookkeeping that never invoke."""
    async with kube_stack(tmp_path, run_pods=False) as running:
        yield running
        running.assert_every_body_valid()


async def test_ready_replicas_are_served_from_memory(virtual: KubeStack) -> None:
    provider, server = virtual.provider, virtual.server
    await provider.deploy(fn())
    await ready(provider, "fn", 1)
    before = len(server.received)
    for _ in range(200):
        assert len(await provider.ready_replicas("fn", NS)) == 1
    assert len(server.received) == before


async def test_the_watch_recovers_from_410_gone(virtual: KubeStack) -> None:
    provider, server = virtual.provider, virtual.server
    await provider.deploy(fn())
    await ready(provider, "fn", 1)
    watcher = provider._watchers[NS]
    lists_before = watcher.relists
    server.expire_watches()
    await provider.scale("fn", NS, 2)
    await ready(provider, "fn", 2)
    assert watcher.relists > lists_before


async def test_an_unreachable_api_is_a_kubernetes_api_error(tmp_path: Path) -> None:
    async with kube_stack(tmp_path, run_pods=False) as stack:
        url = stack.server.url
    provider = KubernetesProvider(KubernetesProviderConfig(api_server=url, request_timeout=2))
    with pytest.raises(KubernetesAPIError):
        await provider.start()
    await provider.close()


async def test_names_that_cannot_be_objects_never_reach_the_api(virtual: KubeStack) -> None:
    provider, server = virtual.provider, virtual.server
    before = len(server.received)
    for name, namespace in (("../../namespaces", NS), ("fn", "../x"), ("Fn_Upper", NS), ("fn", "a/b")):
        with pytest.raises(FunctionNotFound):
            await provider.ready_replicas(name, namespace)
        with pytest.raises(FunctionNotFound):
            await provider.get_function(name, namespace)
        with pytest.raises(FunctionNotFound):
            await provider.scale(name, namespace, 1)
        with pytest.raises(FunctionNotFound):
            await provider.delete(name, namespace)
    assert len(server.received) == before


async def test_a_watch_the_server_ends_resumes_from_its_last_version(tmp_path: Path) -> None:
    async with kube_stack(tmp_path, run_pods=False, watch_server_timeout=1) as stack:
        provider, server = stack.provider, stack.server
        await provider.deploy(fn())
        await ready(provider, "fn", 1)

        def watches() -> list[str]:
            return [path for _, path, _ in server.received if "endpointslices?watch" in path]

        before = len(watches())
        await asyncio.sleep(2.5)  # the server ends each watch after timeoutSeconds=1
        await provider.scale("fn", NS, 2)
        await ready(provider, "fn", 2)
        resumed = watches()[before:]
        assert len(resumed) >= 2
        assert all(not path.endswith("resourceVersion=") for path in resumed), "resumed from a version"
        assert provider._watchers[NS].relists == 1, "no re-list was needed"
        stack.assert_every_body_valid()
