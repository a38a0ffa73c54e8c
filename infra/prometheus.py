"""``Prometheus``: scrapes the platform's pods, evaluates the rules from ``alerts/``, notifies AlertManager.

The ConfigMap ``prometheus-config`` carries ``prometheus.yml`` and the rule files rendered from ``alerts/``
(see :mod:`pyfaas.infra.alerts`). Pod discovery needs read access to pods in the control namespace (where the
gateway, queue-worker and idler run): one Role + RoleBinding, nothing cluster-wide.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from pyfaas.core.alerting import CLUSTER_TIMINGS, prom_duration
from pyfaas.infra import kube
from pyfaas.infra.config import PrometheusConfig

__all__ = ["DISCOVERY_RULES", "Prometheus", "PrometheusArgs"]

PORT = 9090
RUN_AS = 65534  # "nobody", as the upstream image runs
CONFIG_DIR = "/etc/prometheus"

DISCOVERY_RULES = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]


@dataclass(frozen=True)
class PrometheusArgs:
    config: PrometheusConfig
    namespace: str
    files: dict[str, str]
    """File name → content for the ConfigMap; must contain ``prometheus.yml``."""
    depends_on: list[pulumi.Resource]


class Prometheus(pulumi.ComponentResource):
    url: str

    def __init__(self, name: str, args: PrometheusArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pyfaas:index:Prometheus", name, None, opts)
        if "prometheus.yml" not in args.files:
            raise ValueError("Prometheus needs a prometheus.yml in its files")
        config, ns = args.config, args.namespace
        child = pulumi.ResourceOptions(parent=self, depends_on=args.depends_on)
        app_labels = kube.labels("prometheus", "monitoring")
        account = kube.resource(
            k8s.core.v1.ServiceAccount,
            f"{name}-sa",
            metadata={"name": "prometheus", "namespace": ns, "labels": app_labels},
            opts=child,
        )
        for target in [ns]:
            role = kube.resource(
                k8s.rbac.v1.Role,
                f"{name}-role-{target}",
                metadata={"name": "pyfaas-prometheus", "namespace": target, "labels": app_labels},
                rules=DISCOVERY_RULES,
                opts=child,
            )
            kube.resource(
                k8s.rbac.v1.RoleBinding,
                f"{name}-binding-{target}",
                metadata={"name": "pyfaas-prometheus", "namespace": target, "labels": app_labels},
                role_ref={
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "pyfaas-prometheus",
                },
                subjects=[{"kind": "ServiceAccount", "name": "prometheus", "namespace": ns}],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[role, account, *args.depends_on]),
            )
        config_map = kube.resource(
            k8s.core.v1.ConfigMap,
            f"{name}-config",
            metadata={"name": "prometheus-config", "namespace": ns, "labels": app_labels},
            data=dict(sorted(args.files.items())),
            opts=child,
        )
        container = kube.container(
            "prometheus",
            config.image,
            args=[
                f"--config.file={CONFIG_DIR}/prometheus.yml",
                "--storage.tsdb.path=/prometheus",
                f"--storage.tsdb.retention.time={config.retention}",
                f"--rules.alert.resend-delay={prom_duration(CLUSTER_TIMINGS.alert_resend_delay)}",
            ],
            resources=config.resources,
            ports={"web": PORT},
            readiness=kube.http_probe("/-/ready", "web", period=5),
            liveness=kube.http_probe("/-/healthy", "web", initial=10, period=15, failures=4),
            run_as_user=RUN_AS,
            mounts=[
                {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                {"name": "data", "mountPath": "/prometheus"},
            ],
        )
        pod = kube.pod_spec(
            [container],
            service_account="prometheus",
            volumes=[
                {"name": "config", "configMap": {"name": "prometheus-config"}},
                {"name": "data", "emptyDir": {"sizeLimit": "2Gi"}},
            ],
            fs_group=RUN_AS,
        )
        kube.resource(
            k8s.apps.v1.Deployment,
            f"{name}-deployment",
            metadata={"name": "prometheus", "namespace": ns, "labels": app_labels},
            spec={
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": kube.selector("prometheus")},
                "template": {
                    # A config change rolls the pod: the checksum annotation changes with the ConfigMap.
                    "metadata": {
                        "labels": app_labels,
                        "annotations": {kube.CONFIG_HASH: kube.config_digest(args.files)},
                    },
                    "spec": pod,
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config_map, account, *args.depends_on]),
        )
        kube.resource(
            k8s.core.v1.Service,
            f"{name}-service",
            metadata={"name": "prometheus", "namespace": ns, "labels": app_labels},
            spec=kube.service_body("prometheus", {"web": PORT}),
            opts=child,
        )
        self.url = f"http://prometheus.{ns}.svc:{PORT}"
        self.register_outputs({"url": self.url})
