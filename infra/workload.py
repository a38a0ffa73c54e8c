"""One way to register a platform workload: its ConfigMap, its Deployment or StatefulSet, its Service.

Components describe a workload (:class:`Workload`: the pod, replicas, ports, configuration files) and
:func:`register_workload` registers the objects with the platform's conventions: labels and selector from
:mod:`pyfaas.infra.kube`, a configuration digest on the pod template when there are files (a change rolls
the pods), Prometheus scrape annotations for a metrics port, and children that wait for what their component
was told to wait for.

Dependencies travel the Pulumi way, in ``ResourceOptions.depends_on`` of the component. Pulumi does not pass
a component's ``depends_on`` on to the resources registered under it, so :func:`children` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from pyfaas.infra import kube

__all__ = ["Registered", "Workload", "children", "dependencies", "monitoring_workload", "register_workload"]


def dependencies(opts: pulumi.ResourceOptions | None) -> list[pulumi.Resource]:
    """The resources in ``opts.depends_on`` (one resource or a list), as a list."""
    found = opts.depends_on if opts is not None else None
    if isinstance(found, pulumi.Resource):
        return [found]
    if isinstance(found, list | tuple):
        return [item for item in found if isinstance(item, pulumi.Resource)]
    return []  # None (an Output or awaitable list is not used by this program)


def children(
    owner: pulumi.ComponentResource,
    opts: pulumi.ResourceOptions | None,
    *also: pulumi.Resource,
    **options: Any,
) -> pulumi.ResourceOptions:
    """Options for a resource of ``owner``: its child, waiting for ``owner``'s dependencies and ``also``."""
    return pulumi.ResourceOptions(parent=owner, depends_on=[*dependencies(opts), *also], **options)


@dataclass(frozen=True)
class Workload:
    app: str
    """``app.kubernetes.io/name``: the object names and the selector."""
    component: str
    namespace: str
    pod: dict[str, Any]
    replicas: int = 1
    strategy: dict[str, Any] | None = None
    config_files: dict[str, str] | None = None
    """File name → content: ConfigMap ``<app>-config``, and its digest on the pod template."""
    service_ports: dict[str, int] | None = None
    """Service ``<app>`` with these named ports (each targets the container port of the same name)."""
    metrics_port: int | None = None
    """Annotate the pods for Prometheus scraping on this port."""
    pod_annotations: dict[str, str] = field(default_factory=dict)
    stateful: dict[str, Any] | None = None
    """A StatefulSet instead of a Deployment, with these spec fields (``serviceName``, claims...)."""
    replace_on_changes: Sequence[str] = ()
    """Fields of the workload that cannot change in place: a change replaces it (deleting it first)."""

    @property
    def labels(self) -> dict[str, str]:
        return kube.labels(self.app, self.component)


def monitoring_workload(
    app: str, namespace: str, pod: dict[str, Any], files: dict[str, str], port: int
) -> Workload:
    """A Prometheus-family server (Prometheus, AlertManager): one replica, recreated rather than rolled (two
    pods must not share its on-disk state), configured by ``files``, its ``web`` port on Service ``app``."""
    return Workload(
        app=app,
        component="monitoring",
        namespace=namespace,
        pod=pod,
        strategy={"type": "Recreate"},
        config_files=files,
        service_ports={"web": port},
    )


@dataclass(frozen=True)
class Registered:
    workload: pulumi.CustomResource
    config_map: pulumi.CustomResource | None
    service: pulumi.CustomResource | None


def register_workload(
    owner: pulumi.ComponentResource,
    name: str,
    spec: Workload,
    opts: pulumi.ResourceOptions | None,
    *,
    depends_on: Sequence[pulumi.Resource] = (),
) -> Registered:
    """Register ``spec``'s objects under ``owner`` (named ``<name>-config``, ``-deployment`` or
    ``-statefulset``, ``-service``); the workload also waits for ``depends_on`` and its ConfigMap."""
    meta = {"namespace": spec.namespace, "labels": spec.labels}
    annotations = dict(spec.pod_annotations)
    if spec.metrics_port is not None:
        annotations.update({"prometheus.io/scrape": "true", "prometheus.io/port": str(spec.metrics_port)})
    config_map = None
    if spec.config_files is not None:
        config_map = kube.resource(
            k8s.core.v1.ConfigMap,
            f"{name}-config",
            metadata={"name": f"{spec.app}-config", **meta},
            data=dict(sorted(spec.config_files.items())),
            opts=children(owner, opts),
        )
        annotations[kube.CONFIG_HASH] = kube.config_digest(spec.config_files)
    template: dict[str, Any] = {"metadata": {"labels": spec.labels}, "spec": spec.pod}
    if annotations:
        template["metadata"]["annotations"] = annotations
    body: dict[str, Any] = {"replicas": spec.replicas}
    if spec.strategy is not None:
        body["strategy"] = spec.strategy
    body |= {"selector": {"matchLabels": kube.selector(spec.app)}, "template": template}
    waits = [*depends_on, *([config_map] if config_map is not None else [])]
    options: dict[str, Any] = {}
    if spec.replace_on_changes:
        options = {"replace_on_changes": list(spec.replace_on_changes), "delete_before_replace": True}
    if spec.stateful is None:
        kind: Any = k8s.apps.v1.Deployment
        suffix = "deployment"
    else:
        kind, suffix = k8s.apps.v1.StatefulSet, "statefulset"
        body = {**spec.stateful, **body}
    workload = kube.resource(
        kind,
        f"{name}-{suffix}",
        metadata={"name": spec.app, **meta},
        spec=body,
        opts=children(owner, opts, *waits, **options),
    )
    service = None
    if spec.service_ports:
        service = kube.resource(
            k8s.core.v1.Service,
            f"{name}-service",
            metadata={"name": spec.app, **meta},
            spec=kube.service_body(spec.app, spec.service_ports),
            opts=children(owner, opts),
        )
    return Registered(workload=workload, config_map=config_map, service=service)
