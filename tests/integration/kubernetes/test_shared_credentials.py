"""Private functions' credentials shared by two gateway replicas through one Secret of the gateway's
namespace (docs/decisions/0142), on the schema-validating API double: keys made on one replica work on the
other, both sign with one ring, concurrent writes both land (409s re-applied), a revocation reaches the other
replica, and the Secret holds only hashes of API keys."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from lightkube.resources.core_v1 import Secret as SecretObject

from pyfaas.gateway.invocation.credentials import (
    CREDENTIALS_SECRET,
    CredentialStore,
    SharedBackend,
    Verdict,
    backend_for,
    function_audience,
)
from pyfaas.provider.kubernetes import KubernetesProvider, KubernetesProviderConfig
from tests.support.kube_api import KubeAPIServer, kube_api_server
from tests.support.polling import eventually

CONTROL, NS = "openfaas", "openfaas-fn"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[KubeAPIServer]:
    namespaces = ("default", "kube-system", NS, CONTROL)
    async with kube_api_server(tmp_path / "api", run_pods=False, namespaces=namespaces) as server:
        yield server


async def _replica(
    stack: AsyncExitStack, api: KubeAPIServer, state: Path
) -> tuple[KubernetesProvider, CredentialStore]:
    """One gateway replica's provider and credential store, as ``create_app`` makes them."""
    provider = KubernetesProvider(
        KubernetesProviderConfig(api_server=api.url, gateway_namespace=CONTROL, watch_retry_max=0.5)
    )
    await provider.start()
    stack.push_async_callback(provider.close)
    store = CredentialStore(backend_for(state, provider))
    assert isinstance(store.backend, SharedBackend)
    await store.start()
    stack.push_async_callback(store.close)
    return provider, store


async def _seen(store: CredentialStore, key: str, function: str = "fn") -> Verdict:
    """What ``store`` answers for ``key`` after re-reading the Secret if it was not known (as the middleware
    does on a miss)."""
    verdict = store.verify(key, function, NS)
    if verdict is Verdict.INVALID and await store.refreshed():
        verdict = store.verify(key, function, NS)
    return verdict


async def test_two_gateway_replicas_share_keys_and_signing_keys(tmp_path: Path, api: KubeAPIServer) -> None:
    async with AsyncExitStack() as stack:
        _, a = await _replica(stack, api, tmp_path / "a")
        _, b = await _replica(stack, api, tmp_path / "b")
        assert [k.kid for k in a.ring] == [k.kid for k in b.ring]  # the first replica's ring, adopted

        # a token minted by one replica (e.g. on a queued async call) is good on the other at once
        token, _ = await a.mint(function_audience("fn", NS), 60, {"async": True})
        assert b.verify(token, "fn", NS) is Verdict.VALID

        # a key made on one replica works on the other once it re-reads after the miss
        record, key = await a.create_key("fn", NS, "ci")
        await eventually(lambda: _seen(b, key), lambda verdict: verdict is Verdict.VALID, 10)
        assert (
            b.verify(key, "fn", NS) is Verdict.VALID and b.verify(key, "other", NS) is Verdict.OTHER_FUNCTION
        )

        # both replicas write at the same moment: each change is re-applied on a conflict, none is lost
        (one, key_one), (two, key_two) = await asyncio.gather(
            a.create_key("fn", NS, "one"), b.create_key("fn", NS, "two")
        )
        kube, fresh = await _replica(stack, api, tmp_path / "c")  # a third replica, or a restarted one
        assert {r.id for r in fresh.keys_of("fn", NS)} == {record.id, one.id, two.id}
        assert fresh.verify(key_one, "fn", NS) is fresh.verify(key_two, "fn", NS) is Verdict.VALID

        # rotation without downtime: a token of the new key verifies everywhere, so does the old one
        new = await b.rotate()
        fresh_token, _ = await b.mint(function_audience("fn", NS), 60)
        await eventually(lambda: _seen(a, fresh_token), lambda verdict: verdict is Verdict.VALID, 10)
        assert a.ring[-1].kid == new.kid and a.verify(token, "fn", NS) is Verdict.VALID

        # a revocation on one replica reaches the other within its re-read interval
        assert await a.revoke("fn", NS, record.id)
        assert a.verify(key, "fn", NS) is Verdict.INVALID
        await eventually(lambda: _seen(b, key), lambda verdict: verdict is Verdict.INVALID, 10)

        # the Secret holds hashes of the API keys, never a key
        secret = await kube.client.get(SecretObject, CREDENTIALS_SECRET, namespace=CONTROL)
        stored = b"".join(base64.b64decode(v) for v in (secret.data or {}).values())
        for plain in (key, key_one, key_two):
            assert plain.split(".")[2].encode() not in stored
    assert api.rejected == [], api.rejected


async def test_without_the_gateway_namespace_each_gateway_keeps_its_own_state(
    tmp_path: Path, api: KubeAPIServer
) -> None:
    provider = KubernetesProvider(KubernetesProviderConfig(api_server=api.url))
    store = CredentialStore(backend_for(tmp_path / "state", provider))
    assert not store.backend.shared and store.backend.where == str(tmp_path / "state")
