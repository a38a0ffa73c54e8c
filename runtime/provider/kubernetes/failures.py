"""Why a function's pods do not become ready, read from its Deployment and pods (pure; no I/O).

Kubernetes keeps trying (image pulls back off, crashing containers restart), so nothing fails by itself; the
provider reports the first reason it finds as ``FunctionStatus.replicaFailure``:

* the Deployment's ``ReplicaFailure`` condition: its ReplicaSet cannot create pods at all (the API server or a
  quota refuses them);
* a container of a current pod waiting for a reason that will not pass by waiting (image pull failures, a
  crash loop, a bad container config). A crashed container's last output comes from its termination message:
  function containers use ``terminationMessagePolicy: FallbackToLogsOnError`` (``pyfaas.core.k8s``), so the
  kubelet keeps the end of its log there;
* a pod the scheduler cannot place (informational: it may pass once capacity frees up).

``beforeReady`` (the gateway then fails waiting calls at once) is set when no pod of the function is ready.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pyfaas.core.models import ReplicaFailure

__all__ = ["STUCK_REASONS", "current_pods", "replica_failure"]

STUCK_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "CrashLoopBackOff",
    }
)
"""Container waiting reasons that mean the pod will not become ready by itself."""
_POD_TEMPLATE_HASH = "pod-template-hash"


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def current_pods(deployment: Mapping[str, Any], pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pods of the Deployment's current template (its labels and image), not being deleted, newest first."""
    template = (deployment.get("spec") or {}).get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    images = [c.get("image") for c in (template.get("spec") or {}).get("containers") or []]
    found = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        pod_labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != _POD_TEMPLATE_HASH}
        pod_images = [c.get("image") for c in (pod.get("spec") or {}).get("containers") or []]
        if pod_labels == labels and pod_images == images and not meta.get("deletionTimestamp"):
            found.append(pod)
    return sorted(
        found, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""), reverse=True
    )


def _ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _crash_message(status: Mapping[str, Any], waiting: Mapping[str, Any]) -> tuple[str, datetime | None]:
    last = (status.get("lastState") or {}).get("terminated")
    if not last:
        return str(waiting.get("message") or ""), None
    head = f"exit code {last.get('exitCode')}" + (f" ({last['reason']})" if last.get("reason") else "")
    output = str(last.get("message") or "").rstrip()
    return (f"{head}\n{output}" if output else head), _time(last.get("finishedAt"))


def replica_failure(deployment: Mapping[str, Any], pods: list[dict[str, Any]]) -> ReplicaFailure | None:
    """The reason the function's current pods are not ready, or None (nothing wrong, or not known yet)."""
    mine = current_pods(deployment, pods)
    none_ready = not any(_ready(pod) for pod in mine)
    for condition in (deployment.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            return ReplicaFailure(
                reason=str(condition.get("reason") or "FailedCreate"),
                message=str(condition.get("message") or ""),
                beforeReady=none_ready,
                at=_time(condition.get("lastTransitionTime")),
            )
    for pod in mine:
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        restarts = sum(int(s.get("restartCount") or 0) for s in statuses)
        for status in statuses:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in STUCK_REASONS:
                message, at = _crash_message(status, waiting)
                return ReplicaFailure(
                    reason=str(waiting["reason"]),
                    message=message,
                    beforeReady=none_ready,
                    restarts=restarts,
                    at=at,
                )
    for pod in mine:
        for condition in (pod.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
                return ReplicaFailure(
                    reason="Unschedulable",
                    message=str(condition.get("message") or ""),
                    at=_time(condition.get("lastTransitionTime")),
                )
    return None
