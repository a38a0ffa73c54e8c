"""EndpointSlices reduced to persistent ready replicas (pure: no server)."""

from __future__ import annotations

from typing import Any

from pyfaas.core.k8s import replica_key_secret
from pyfaas.provider.base import Replica
from pyfaas.provider.kubernetes.endpoints import EndpointCache, ReplicaKeys, ready_addresses
from tests.support.kube_schema import SCHEMA_VERSIONS, schema_errors


def endpoint(
    ip: str, *, ready: bool | None = True, terminating: bool = False, pod: str = ""
) -> dict[str, Any]:
    conditions: dict[str, Any] = {"terminating": terminating}
    if ready is not None:
        conditions["ready"] = ready
    body: dict[str, Any] = {"addresses": [ip], "conditions": conditions}
    if pod:
        body["targetRef"] = {"kind": "Pod", "name": pod, "namespace": "ns"}
    return body


def slice_(
    name: str, service: str, endpoints: list[dict[str, Any]], port: int = 8080, **extra: Any
) -> dict[str, Any]:
    body = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": "ns", "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        **extra,
    }
    for version in SCHEMA_VERSIONS:
        assert schema_errors(body, version) == []
    return body


def test_ready_addresses_follow_the_endpointslice_conditions() -> None:
    body = slice_(
        "fn-a",
        "fn",
        [
            endpoint("10.0.0.1", pod="fn-1"),
            endpoint("10.0.0.2", ready=None),  # unknown readiness is read as ready
            endpoint("10.0.0.3", ready=False),
            endpoint("10.0.0.4", ready=False, terminating=True),
        ],
    )
    assert ready_addresses(body) == {"http://10.0.0.1:8080": "fn-1", "http://10.0.0.2:8080": "10.0.0.2"}


def test_ipv6_fqdn_and_port_selection() -> None:
    v6 = slice_("a", "fn", [endpoint("fd00::1")], addressType="IPv6")
    assert list(ready_addresses(v6)) == ["http://[fd00::1]:8080"]
    fqdn = slice_("b", "fn", [endpoint("host.example")], addressType="FQDN")
    assert ready_addresses(fqdn) == {}
    two_ports = slice_("c", "fn", [endpoint("10.0.0.1")])
    two_ports["ports"] = [{"name": "metrics", "port": 8081}, {"name": "http", "port": 8080}]
    assert list(ready_addresses(two_ports)) == ["http://10.0.0.1:8080"]
    unnamed_ambiguous = slice_("d", "fn", [endpoint("10.0.0.1")])
    unnamed_ambiguous["ports"] = [{"port": 1}, {"port": 2}]
    assert ready_addresses(unnamed_ambiguous) == {}
    placeholder = slice_("e", "fn", [])
    placeholder["ports"] = []
    assert ready_addresses(placeholder) == {}


def test_replicas_persist_while_their_address_lives_and_changes_are_announced_once() -> None:
    heard: list[tuple[str, str, list[Replica]]] = []
    cache = EndpointCache(lambda name, ns, replicas: heard.append((name, ns, replicas)))
    cache.upsert(slice_("fn-a", "fn", [endpoint("10.0.0.1")]))
    [first] = cache.ready("fn", "ns")
    first.in_flight = 3
    cache.upsert(slice_("fn-a", "fn", [endpoint("10.0.0.1"), endpoint("10.0.0.2")]))
    cache.upsert(slice_("fn-b", "fn", [endpoint("10.0.0.3")], port=9000))
    replicas = cache.ready("fn", "ns")
    assert [r.url for r in replicas] == [
        "http://10.0.0.1:8080",
        "http://10.0.0.2:8080",
        "http://10.0.0.3:9000",
    ]
    assert replicas[0] is first and first.in_flight == 3
    assert len(heard) == 3
    cache.upsert(slice_("fn-a", "fn", [endpoint("10.0.0.1"), endpoint("10.0.0.2", ready=False)]))
    assert len(heard) == 4 and [r.url for r in heard[-1][2]] == [
        "http://10.0.0.1:8080",
        "http://10.0.0.3:9000",
    ]
    cache.upsert(slice_("fn-a", "fn", [endpoint("10.0.0.1"), endpoint("10.0.0.2", ready=False)]))
    assert len(heard) == 4, "an update that changes nothing is not announced"
    cache.remove(slice_("fn-b", "fn", []))
    assert cache.ready("fn", "ns") == [first]


def test_known_without_ready_addresses_and_reset_forgets_missed_deletions() -> None:
    cache = EndpointCache(lambda *_: None)
    cache.upsert(slice_("fn-a", "fn", []))
    cache.upsert(slice_("other-a", "other", [endpoint("10.0.0.9")]))
    assert cache.known("fn", "ns") and cache.ready("fn", "ns") == []
    [gone] = cache.ready("other", "ns")
    cache.reset("ns", [slice_("fn-a", "fn", [endpoint("10.0.0.1")])])
    assert not cache.known("other", "ns") and cache.ready("other", "ns") == []
    assert gone.ready is False
    assert [r.url for r in cache.ready("fn", "ns")] == ["http://10.0.0.1:8080"]
    cache.forget("fn", "ns")
    assert not cache.known("fn", "ns") and cache.ready("fn", "ns") == []


def test_slices_without_a_service_label_are_ignored() -> None:
    cache = EndpointCache(lambda *_: None)
    body = slice_("x", "fn", [endpoint("10.0.0.1")])
    del body["metadata"]["labels"]
    cache.upsert(body)
    assert not cache.known("fn", "ns")


def test_a_failing_listener_does_not_break_the_cache() -> None:
    def explode(*_: object) -> None:
        raise RuntimeError("listener bug")

    cache = EndpointCache(explode)
    cache.upsert(slice_("fn-a", "fn", [endpoint("10.0.0.1")]))
    assert len(cache.ready("fn", "ns")) == 1


def test_each_replica_keeps_the_key_its_function_had_when_it_became_ready() -> None:
    keys = ReplicaKeys()
    cache = EndpointCache(lambda name, namespace, replicas: None, keys)
    keys.reset("ns", [replica_key_secret("fn", namespace="ns", key="old")])
    cache.upsert(slice_("fn-a", "fn", [endpoint("10.0.0.1")]))
    (first,) = cache.ready("fn", "ns")
    assert first.key == "old"
    # Rotated: the running pod still holds the old key; a pod that becomes ready now holds the new one.
    keys.upsert(replica_key_secret("fn", namespace="ns", key="new"))
    cache.upsert(slice_("fn-a", "fn", [endpoint("10.0.0.1"), endpoint("10.0.0.2")]))
    assert {r.url: r.key for r in cache.ready("fn", "ns")} == {
        "http://10.0.0.1:8080": "old",
        "http://10.0.0.2:8080": "new",
    }
    # A restarted container (unready, then ready again) reads the Secret again: so does the gateway.
    cache.upsert(slice_("fn-a", "fn", [endpoint("10.0.0.1", ready=False), endpoint("10.0.0.2")]))
    cache.upsert(slice_("fn-a", "fn", [endpoint("10.0.0.1"), endpoint("10.0.0.2")]))
    assert {r.key for r in cache.ready("fn", "ns")} == {"new"}
    # No Secret (a function deployed before keys, or another function): no key is sent.
    keys.remove(replica_key_secret("fn", namespace="ns", key="new"))
    cache.upsert(slice_("other-a", "other", [endpoint("10.0.0.9")]))
    cache.upsert(slice_("fn-b", "fn", [endpoint("10.0.0.3")]))
    assert cache.ready("other", "ns")[0].key is None
    assert {r.url: r.key for r in cache.ready("fn", "ns")}["http://10.0.0.3:8080"] is None


def test_replica_keys_ignore_secrets_that_are_not_keys() -> None:
    keys = ReplicaKeys()
    unlabelled = {"metadata": {"name": "x", "namespace": "ns"}, "data": {"key": "a2V5"}}
    garbled = replica_key_secret("fn", namespace="ns", key="k")
    garbled["data"]["key"] = "not base64!"
    keys.reset("ns", [unlabelled, garbled])
    assert keys.get("x", "ns") is None and keys.get("fn", "ns") is None
