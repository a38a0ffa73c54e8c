"""``AlertManager``: routes the scaling alerts to the gateway's ``/system/alert`` (contract §7).

The ConfigMap ``alertmanager-config`` carries ``alertmanager.yml`` rendered from ``alerts/``. The webhook
authenticates with the gateway's basic-auth Secret, mounted at ``/var/secrets`` (the config names
``password_file: /var/secrets/basic-auth-password``, as OpenFaaS's chart does).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from pyfaas.infra import kube
from pyfaas.infra.config import AlertManagerConfig

__all__ = ["SECRETS_PATH", "AlertManager", "AlertManagerArgs"]

PORT = 9093
RUN_AS = 65534
CONFIG_DIR = "/etc/alertmanager"
SECRETS_PATH = "/var/secrets"


@dataclass(frozen=True)
class AlertManagerArgs:
    config: AlertManagerConfig
    namespace: str
    files: dict[str, str]
    """File name → content; must contain ``alertmanager.yml``."""
    credentials_secret: str
    depends_on: list[pulumi.Resource]


class AlertManager(pulumi.ComponentResource):
    url: str

    def __init__(self, name: str, args: AlertManagerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pyfaas:index:AlertManager", name, None, opts)
        if "alertmanager.yml" not in args.files:
            raise ValueError("AlertManager needs an alertmanager.yml in its files")
        config, ns = args.config, args.namespace
        child = pulumi.ResourceOptions(parent=self, depends_on=args.depends_on)
        app_labels = kube.labels("alertmanager", "monitoring")
        config_map = kube.resource(
            k8s.core.v1.ConfigMap,
            f"{name}-config",
            metadata={"name": "alertmanager-config", "namespace": ns, "labels": app_labels},
            data=dict(sorted(args.files.items())),
            opts=child,
        )
        container = kube.container(
            "alertmanager",
            config.image,
            args=[
                f"--config.file={CONFIG_DIR}/alertmanager.yml",
                "--storage.path=/alertmanager",
                "--cluster.listen-address=",
            ],
            resources=config.resources,
            ports={"web": PORT},
            readiness=kube.http_probe("/-/ready", "web", period=5),
            liveness=kube.http_probe("/-/healthy", "web", initial=5, period=15, failures=4),
            run_as_user=RUN_AS,
            mounts=[
                {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                {"name": "auth", "mountPath": SECRETS_PATH, "readOnly": True},
                {"name": "data", "mountPath": "/alertmanager"},
            ],
        )
        pod = kube.pod_spec(
            [container],
            volumes=[
                {"name": "config", "configMap": {"name": "alertmanager-config"}},
                {"name": "auth", "secret": {"secretName": args.credentials_secret}},
                {"name": "data", "emptyDir": {"sizeLimit": "256Mi"}},
            ],
            fs_group=RUN_AS,
        )
        kube.resource(
            k8s.apps.v1.Deployment,
            f"{name}-deployment",
            metadata={"name": "alertmanager", "namespace": ns, "labels": app_labels},
            spec={
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": kube.selector("alertmanager")},
                "template": {
                    "metadata": {
                        "labels": app_labels,
                        "annotations": {kube.CONFIG_HASH: kube.config_digest(args.files)},
                    },
                    "spec": pod,
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config_map, *args.depends_on]),
        )
        kube.resource(
            k8s.core.v1.Service,
            f"{name}-service",
            metadata={"name": "alertmanager", "namespace": ns, "labels": app_labels},
            spec=kube.service_body("alertmanager", {"web": PORT}),
            opts=child,
        )
        self.url = f"http://alertmanager.{ns}.svc:{PORT}"
        self.register_outputs({"url": self.url})
