"""``Gateway``: the pyfaas gateway with its in-process Kubernetes provider (faas-netes's role, contract §5).

Objects: ServiceAccount ``gateway`` with its RBAC (:mod:`pyfaas.infra.gateway_rbac`); the ``basic-auth``
Secret (user + generated password); Deployment, Service ``gateway`` (8080 API, 8082 metrics), optional
``gateway-external``, and a PodDisruptionBudget.

The provider and the gateway read one environment with two distinct settings: ``secret_mount_path`` is the
folder of the gateway's own basic-auth files (the ``basic-auth`` Secret, mounted at ``/var/secrets``);
``function_secrets_mount_path`` is where function pods get their secrets (``/var/openfaas/secrets``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from pyfaas.infra import kube
from pyfaas.infra.config import PlatformConfig
from pyfaas.infra.gateway_rbac import gateway_rbac
from pyfaas.infra.workload import Workload, children, register_workload

__all__ = ["Gateway", "GatewayArgs", "provider_environment"]

API_PORT = 8080
METRICS_PORT = 8082
AUTH_PATH = "/var/secrets"
"""The gateway's ``secret_mount_path``: its ``basic-auth-user`` / ``basic-auth-password`` files."""
FUNCTION_SECRETS_PATH = "/var/openfaas/secrets"
"""``function_secrets_mount_path``: where function pods see their secrets (OpenFaaS's path)."""
RUN_AS = 10001


@dataclass(frozen=True)
class GatewayArgs:
    config: PlatformConfig
    nats_url: str
    """From the ``Nats`` component (``Nats.url``)."""
    prometheus: tuple[str, int] | None = None
    """Host and port from the ``Prometheus`` component; None when it is not deployed."""
    admin_password: pulumi.Input[str] | None = None
    """A configured password (kept secret); None generates one with ``random.RandomPassword``."""


def provider_environment(config: PlatformConfig) -> dict[str, str]:
    """faas-netes's settings for the in-process provider: the same function shape ``pulumi up`` renders."""
    defaults = config.function_defaults
    return {
        "function_namespace": config.function_namespace,
        "http_probe": str(defaults.http_probe).lower(),
        "set_nonroot_user": str(defaults.set_non_root_user).lower(),
        "image_pull_policy": defaults.image_pull_policy,
        "function_secrets_mount_path": FUNCTION_SECRETS_PATH,
        "default_function_memory_limit": defaults.memory_limit,
        "default_function_memory_request": defaults.memory_request,
        "default_function_cpu_request": defaults.cpu_request,
        "operator": str(config.functions_as == "crd").lower(),  # Function objects, reconciled by the operator
    }


def gateway_environment(args: GatewayArgs) -> dict[str, str]:
    config = args.config
    gateway = config.gateway
    env = {
        "port": str(API_PORT),
        "metrics_port": str(METRICS_PORT),
        "provider": "kubernetes",
        "basic_auth": str(gateway.basic_auth).lower(),
        "secret_mount_path": AUTH_PATH,
        "scale_from_zero": str(gateway.scale_from_zero).lower(),
        "read_timeout": gateway.read_timeout,
        "write_timeout": gateway.write_timeout,
        "upstream_timeout": gateway.upstream_timeout,
        "shutdown_delay": gateway.shutdown_delay,
        "nats_url": args.nats_url,
        "LOG_LEVEL": gateway.log_level,
        # the replicas share private functions' keys in a Secret there (gateway_rbac.CREDENTIAL_RULES)
        "gateway_namespace": config.control_namespace,
        **provider_environment(config),
    }
    if args.prometheus is not None:
        host, port = args.prometheus
        env["faas_prometheus_host"] = host
        env["faas_prometheus_port"] = str(port)
    return env


class Gateway(pulumi.ComponentResource):
    url: pulumi.Output[str]
    """In-cluster URL of the gateway (an output, for stack outputs)."""
    internal_url: str
    """The same URL as plain text, for other components' settings."""
    admin_user: str
    admin_password: pulumi.Output[str]
    """Secret output."""
    credentials_secret: str
    """Secret with ``basic-auth-user`` and ``basic-auth-password`` (AlertManager and the idler mount it)."""

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pyfaas:index:Gateway", name, None, opts)
        config = args.config
        ns = config.control_namespace
        app_labels = kube.labels("gateway", "gateway")

        account = kube.resource(
            k8s.core.v1.ServiceAccount,
            f"{name}-sa",
            metadata={"name": "gateway", "namespace": ns, "labels": app_labels},
            opts=children(self, opts),
        )
        gateway_rbac(self, name, config, account=account, opts=opts)

        admin_password = args.admin_password
        if admin_password is None:
            generated = random.RandomPassword(
                f"{name}-admin-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
            )
            admin_password = generated.result
        self.admin_user = config.admin_user
        self.admin_password = pulumi.Output.secret(admin_password)
        self.credentials_secret = "basic-auth"
        secret = kube.resource(
            k8s.core.v1.Secret,
            f"{name}-basic-auth",
            metadata={"name": self.credentials_secret, "namespace": ns, "labels": app_labels},
            type="Opaque",
            string_data={"basic-auth-user": config.admin_user, "basic-auth-password": self.admin_password},
            opts=children(self, opts),
        )

        container = kube.container(
            "gateway",
            config.image,
            image_pull_policy=config.image_pull_policy,
            command=["pyfaas-gateway"],
            env=gateway_environment(args),
            resources=config.gateway.resources,
            ports={"http": API_PORT, "metrics": METRICS_PORT},
            readiness=kube.http_probe("/healthz", "http", period=5),
            liveness=kube.http_probe("/healthz", "metrics", initial=5, period=10, failures=6),
            run_as_user=RUN_AS,
            mounts=[
                {"name": "auth", "mountPath": AUTH_PATH, "readOnly": True},
                {"name": "tmp", "mountPath": "/tmp"},
            ],
        )
        pod = kube.pod_spec(
            [container],
            service_account="gateway",
            volumes=[
                {"name": "auth", "secret": {"secretName": self.credentials_secret}},
                {"name": "tmp", "emptyDir": {}},
            ],
            termination_grace_seconds=75,
        )
        workload = Workload(
            app="gateway",
            component="gateway",
            namespace=ns,
            pod=pod,
            replicas=config.gateway.replicas,
            strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            service_ports={"http": API_PORT, "metrics": METRICS_PORT},
            metrics_port=METRICS_PORT,
        )
        register_workload(self, name, workload, opts, depends_on=[secret, account])
        if config.gateway.service_type != "ClusterIP":
            external = kube.service_body(
                "gateway", {"http": API_PORT}, service_type=config.gateway.service_type
            )
            if config.gateway.node_port is not None:
                external["ports"][0]["nodePort"] = config.gateway.node_port
            kube.resource(
                k8s.core.v1.Service,
                f"{name}-external",
                metadata={"name": "gateway-external", "namespace": ns, "labels": app_labels},
                spec=external,
                opts=children(self, opts),
            )
        budget: dict[str, Any] = {"selector": {"matchLabels": kube.selector("gateway")}}
        if config.gateway.replicas > 1:
            budget["minAvailable"] = 1
        else:
            budget["maxUnavailable"] = 1  # one replica: never block a node drain
        kube.resource(
            k8s.policy.v1.PodDisruptionBudget,
            f"{name}-pdb",
            metadata={"name": "gateway", "namespace": ns, "labels": app_labels},
            spec=budget,
            opts=children(self, opts),
        )
        self.internal_url = f"http://gateway.{ns}.svc:{API_PORT}"
        self.url = pulumi.Output.from_input(self.internal_url)
        self.register_outputs(
            {"url": self.url, "adminUser": self.admin_user, "adminPassword": self.admin_password}
        )
