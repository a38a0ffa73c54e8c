"""A resolver for Service names on the test cluster, which has no cluster DNS (no CoreDNS: nothing may
leave the machine, and one more pod is one more thing to build).

:class:`ServiceDns` answers what CoreDNS's ``kubernetes`` plugin answers for the names the platform uses,
read from the API server: ``SVC.NS.svc.cluster.local`` → the Service's ClusterIP (a headless Service: its
ready endpoints), ``HOST.SVC.NS.svc.cluster.local`` → a headless Service's pod with that hostname (a
StatefulSet's pods). Anything else is NXDOMAIN, nothing is forwarded. The wire format is dnslib's (UDP and
TCP on the pod bridge's gateway address, port 53: where the kubelet's ``clusterDNS`` or a pod's
``dnsConfig`` points). Answers are cached for a second: a Service created a moment ago is found at the
next lookup that misses.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from dnslib import QTYPE, RCODE, RR, A, DNSRecord  # type: ignore[import-untyped]
from dnslib.server import (  # type: ignore[import-untyped]
    BaseResolver,
    DNSHandler,
    DNSLogger,
    DNSServer,
)
from lightkube import Client, KubeConfig
from lightkube.resources.core_v1 import Endpoints, Service

__all__ = ["CLUSTER_DOMAIN", "ServiceDns", "service_dns"]

CLUSTER_DOMAIN = "cluster.local"
TTL = 5


class _Records(BaseResolver):  # type: ignore[misc]
    """Name → IPv4 addresses, rebuilt from the API server when a lookup misses (at most once a second)."""

    def __init__(self, kubeconfig: Path) -> None:
        self._client = Client(KubeConfig.from_file(kubeconfig), trust_env=False)
        self._lock = threading.Lock()
        self._records: dict[str, list[str]] = {}
        self._loaded = 0.0
        self.queries = 0

    def _load(self) -> None:
        records: dict[str, list[str]] = {}
        headless: set[tuple[str, str]] = set()
        for service in self._client.list(Service, namespace="*"):
            meta, spec = service.metadata, service.spec
            if meta is None or spec is None or not meta.name or not meta.namespace:
                continue
            name = f"{meta.name}.{meta.namespace}.svc.{CLUSTER_DOMAIN}"
            if spec.clusterIP and spec.clusterIP != "None":
                records[name] = [spec.clusterIP]
            else:
                headless.add((meta.namespace, meta.name))
        for endpoints in self._client.list(Endpoints, namespace="*"):
            meta = endpoints.metadata
            if meta is None or (meta.namespace, meta.name) not in headless:
                continue
            service_name = f"{meta.name}.{meta.namespace}.svc.{CLUSTER_DOMAIN}"
            for subset in endpoints.subsets or []:
                for address in subset.addresses or []:
                    records.setdefault(service_name, []).append(address.ip)
                    if address.hostname:
                        records[f"{address.hostname}.{service_name}"] = [address.ip]
        self._records = records
        self._loaded = time.monotonic()

    def lookup(self, name: str) -> list[str] | None:
        with self._lock:
            self.queries += 1
            found = self._records.get(name)
            if found is None and time.monotonic() - self._loaded > 1:
                self._load()
                found = self._records.get(name)
            return found

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        addresses = self.lookup(name) if name.endswith(f".svc.{CLUSTER_DOMAIN}") else None
        if addresses is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype in (QTYPE.A, QTYPE.ANY):
            for address in addresses:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=TTL))
        # the name exists but has no record of the asked type (AAAA, ...): NOERROR without answers
        return reply

    def close(self) -> None:
        self._client._client.close()  # type: ignore[no-untyped-call]  # the sync Client has no public close


class ServiceDns:
    """The resolver, serving UDP and TCP on ``address:port`` in background threads."""

    def __init__(self, kubeconfig: Path, address: str, port: int = 53) -> None:
        self.address = address
        self.port = port
        self.records = _Records(kubeconfig)
        quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data")
        self._servers = [
            DNSServer(self.records, address=address, port=port, tcp=tcp, logger=quiet)
            for tcp in (False, True)
        ]

    def start(self) -> None:
        for server in self._servers:
            server.start_thread()

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()
        self.records.close()


@contextlib.contextmanager
def service_dns(kubeconfig: Path, address: str, port: int = 53) -> Iterator[ServiceDns]:
    dns = ServiceDns(kubeconfig, address, port)
    dns.start()
    try:
        yield dns
    finally:
        dns.stop()
