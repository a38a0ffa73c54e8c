"""Stateless services of the one platform image, chosen by command: ``QueueWorker`` and ``Idler``."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from pyfaas.infra import kube
from pyfaas.infra.config import ComponentResources, IdlerConfig, QueueWorkerConfig
from pyfaas.infra.workload import Workload, register_workload

__all__ = ["Idler", "IdlerArgs", "QueueWorker", "QueueWorkerArgs"]

RUN_AS = 10001
WORKER_METRICS_PORT = 8081
IDLER_METRICS_PORT = 8083
IDLER_SECRETS_PATH = "/var/secrets"


def _workload(
    app: str,
    namespace: str,
    replicas: int,
    container: dict[str, object],
    metrics_port: int,
    volumes: list[dict[str, object]],
) -> Workload:
    return Workload(
        app=app,
        component=app,
        namespace=namespace,
        pod=kube.pod_spec([container], volumes=volumes, termination_grace_seconds=45),
        replicas=replicas,
        metrics_port=metrics_port,
    )


def _service_container(
    app: str,
    image: str,
    pull_policy: str,
    command: str,
    env: dict[str, str],
    resources: ComponentResources,
    port: int,
    mounts: list[dict[str, object]],
) -> dict[str, object]:
    return kube.container(
        app,
        image,
        image_pull_policy=pull_policy,
        command=[command],
        env=env,
        resources=resources,
        ports={"metrics": port},
        readiness=kube.http_probe("/healthz", "metrics", period=5),
        liveness=kube.http_probe("/healthz", "metrics", initial=5, period=15, failures=4),
        run_as_user=RUN_AS,
        mounts=[{"name": "tmp", "mountPath": "/tmp"}, *mounts],
    )


@dataclass(frozen=True)
class QueueWorkerArgs:
    config: QueueWorkerConfig
    image: str
    image_pull_policy: str
    namespace: str
    nats_url: str
    """From the ``Nats`` component (``Nats.url``)."""
    gateway_url: str


class QueueWorker(pulumi.ComponentResource):
    """``pyfaas-worker``: consumes async calls from JetStream and invokes functions through the gateway."""

    def __init__(self, name: str, args: QueueWorkerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pyfaas:index:QueueWorker", name, None, opts)
        config = args.config
        env = {
            "nats_url": args.nats_url,
            "gateway_url": args.gateway_url,
            "max_inflight": str(config.max_inflight),
            "max_retry_attempts": str(config.max_retry_attempts),
            "upstream_timeout": config.upstream_timeout,
            "metrics_port": str(WORKER_METRICS_PORT),
        }
        if config.ack_wait is not None:  # explicit: every function's, as OpenFaaS's ack_wait
            env["ack_wait"] = config.ack_wait
        container = _service_container(
            "queue-worker",
            args.image,
            args.image_pull_policy,
            "pyfaas-worker",
            env,
            config.resources,
            WORKER_METRICS_PORT,
            [],
        )
        workload = _workload(
            "queue-worker",
            args.namespace,
            config.replicas,
            container,
            WORKER_METRICS_PORT,
            [{"name": "tmp", "emptyDir": {}}],
        )
        register_workload(self, name, workload, opts)
        self.register_outputs({})


@dataclass(frozen=True)
class IdlerArgs:
    config: IdlerConfig
    image: str
    image_pull_policy: str
    namespace: str
    gateway_url: str
    prometheus_host: str
    """From the ``Prometheus`` component (``Prometheus.host``/``port``); empty without Prometheus."""
    prometheus_port: int
    function_namespace: str
    credentials_secret: str


class Idler(pulumi.ComponentResource):
    """``pyfaas-idler``: scales functions labelled ``com.openfaas.scale.zero=true`` to zero when idle."""

    def __init__(self, name: str, args: IdlerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pyfaas:index:Idler", name, None, opts)
        config = args.config
        env = {
            "gateway_url": args.gateway_url,
            "prometheus_host": args.prometheus_host,
            "prometheus_port": str(args.prometheus_port),
            "inactivity_duration": config.inactivity_duration,
            "function_namespace": args.function_namespace,
            "secret_mount_path": IDLER_SECRETS_PATH,
            "dry_run": str(config.dry_run).lower(),
            "metrics_port": str(IDLER_METRICS_PORT),
        }
        if config.reconcile_interval:
            env["reconcile_interval"] = config.reconcile_interval
        mounts: list[dict[str, object]] = [
            {"name": "auth", "mountPath": IDLER_SECRETS_PATH, "readOnly": True}
        ]
        container = _service_container(
            "idler",
            args.image,
            args.image_pull_policy,
            "pyfaas-idler",
            env,
            config.resources,
            IDLER_METRICS_PORT,
            mounts,
        )
        volumes: list[dict[str, object]] = [
            {"name": "tmp", "emptyDir": {}},
            {"name": "auth", "secret": {"secretName": args.credentials_secret}},
        ]
        workload = _workload("idler", args.namespace, 1, container, IDLER_METRICS_PORT, volumes)
        register_workload(self, name, workload, opts)
        self.register_outputs({})
