"""``Nats``: NATS with JetStream as a StatefulSet on a persistent volume; 1 node, or a 3-node cluster.

Clients use Service ``nats`` (4222). The headless Service ``nats-headless`` gives each pod a stable DNS name
for cluster routes. The JetStream store lives on the pod's PersistentVolumeClaim (``data-<size>``), so queued
calls survive a pod restart. Probes use the monitoring port's ``/healthz`` (``js-enabled-only`` for liveness:
a node still catching up on streams is alive but not yet ready).

Changing ``nats.storageSize`` on an existing stack: a StatefulSet's ``volumeClaimTemplates`` are immutable
(the API server refuses the update), so the StatefulSet is **replaced** (deleted, then created: the preview
shows ``replace`` for it). The claim template is named after the size, so the new pods get new volumes of the
new size; the old PVCs are kept (not deleted), and calls still queued on them are not carried over
(``docs/deploy-kubernetes.md``, "Changing the NATS volume size").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from pyfaas.infra import kube
from pyfaas.infra.config import NatsConfig
from pyfaas.infra.workload import Workload, children, register_workload

__all__ = ["Nats", "NatsArgs", "nats_conf"]

CLIENT_PORT = 4222
CLUSTER_PORT = 6222
MONITOR_PORT = 8222
STORE_DIR = "/data/jetstream"
RUN_AS = 1000


@dataclass(frozen=True)
class NatsArgs:
    config: NatsConfig
    namespace: str


def claim_name(storage_size: str) -> str:
    """The volume claim template's name for ``storage_size`` (a pod volume name: a DNS-1123 label)."""
    return "data-" + re.sub(r"[^a-z0-9]+", "-", storage_size.lower()).strip("-")


def nats_conf(config: NatsConfig, namespace: str) -> str:
    """The server configuration; ``$POD_NAME`` is expanded by nats-server from the environment."""
    lines = [
        f"port: {CLIENT_PORT}",
        f"http_port: {MONITOR_PORT}",
        "server_name: $POD_NAME",
        "lame_duck_duration: 30s",
        "jetstream {",
        f"  store_dir: {STORE_DIR}",
        f"  max_file_store: {config.max_file_store}",
        "  max_memory_store: 64M",
        "}",
    ]
    if config.replicas > 1:
        routes = ", ".join(
            f"nats://nats-{i}.nats-headless.{namespace}.svc.cluster.local:{CLUSTER_PORT}"
            for i in range(config.replicas)
        )
        lines += ["cluster {", "  name: pyfaas", f"  port: {CLUSTER_PORT}", f"  routes: [{routes}]", "}"]
    return "\n".join(lines) + "\n"


class Nats(pulumi.ComponentResource):
    url: str
    """The client URL of its Service, for the gateway's and the queue-worker's settings."""

    def __init__(self, name: str, args: NatsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pyfaas:index:Nats", name, None, opts)
        config, ns = args.config, args.namespace
        app_labels = kube.labels("nats", "queue")
        ports = {"client": CLIENT_PORT, "monitor": MONITOR_PORT}
        if config.replicas > 1:
            ports["cluster"] = CLUSTER_PORT
        claim = claim_name(config.storage_size)
        container = kube.container(
            "nats",
            config.image,
            command=["nats-server", "--config", "/etc/nats/nats.conf"],
            resources=config.resources,
            ports=ports,
            startup=kube.http_probe("/healthz", "monitor", initial=2, period=5, failures=60),
            readiness=kube.http_probe("/healthz", "monitor", period=5),
            liveness=kube.http_probe("/healthz?js-enabled-only=true", "monitor", period=10, failures=6),
            run_as_user=RUN_AS,
            mounts=[
                {"name": "config", "mountPath": "/etc/nats", "readOnly": True},
                {"name": claim, "mountPath": "/data"},
            ],
        )
        # POD_NAME comes from the downward API (the plain env helper writes literal values only).
        container["env"] = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
        pod = kube.pod_spec(
            [container],
            volumes=[{"name": "config", "configMap": {"name": "nats-config"}}],
            fs_group=RUN_AS,
            termination_grace_seconds=60,
        )
        claim_spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": config.storage_size}},
        }
        if config.storage_class:
            claim_spec["storageClassName"] = config.storage_class
        headless = kube.resource(
            k8s.core.v1.Service,
            f"{name}-headless",
            metadata={"name": "nats-headless", "namespace": ns, "labels": app_labels},
            spec={**kube.service_body("nats", ports), "clusterIP": "None", "publishNotReadyAddresses": True},
            opts=children(self, opts),
        )
        workload = Workload(
            app="nats",
            component="queue",
            namespace=ns,
            pod=pod,
            replicas=config.replicas,
            config_files={"nats.conf": nats_conf(config, ns)},
            service_ports={"client": CLIENT_PORT},
            pod_annotations={"prometheus.io/scrape": "false"},
            stateful={
                "serviceName": "nats-headless",
                "podManagementPolicy": "Parallel",
                "volumeClaimTemplates": [
                    {"metadata": {"name": claim, "labels": app_labels}, "spec": claim_spec}
                ],
            },
            # The claim templates cannot change in place: a new size replaces the StatefulSet.
            replace_on_changes=["spec.volumeClaimTemplates"],
        )
        register_workload(self, name, workload, opts, depends_on=[headless])
        if config.replicas > 1:
            kube.resource(
                k8s.policy.v1.PodDisruptionBudget,
                f"{name}-pdb",
                metadata={"name": "nats", "namespace": ns, "labels": app_labels},
                spec={"maxUnavailable": 1, "selector": {"matchLabels": kube.selector("nats")}},
                opts=children(self, opts),
            )
        self.url = f"nats://nats.{ns}.svc:{CLIENT_PORT}"
        self.register_outputs({"url": self.url})
