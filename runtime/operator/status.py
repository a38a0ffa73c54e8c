"""A Function's ``status`` from its Deployment and pods: pure, so every branch is tested without a cluster.

Conditions (Kubernetes conventions: ``type``/``status``/``reason``/``message``/``lastTransitionTime``):

* ``Ready``: the Deployment has rolled out the current spec and every desired replica is available.
* ``Progressing``: a rollout or scale is under way and nothing has failed.
* ``Failed``: something needs a person: an invalid spec (the message names the field), a missing secret, an
  image that cannot be pulled, a container in a crash loop, or a write the API refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pyfaas.core.labels import LABEL_FUNCTION

__all__ = [
    "Problem",
    "function_status",
    "pod_failure",
    "status_unchanged",
]

READY = "Ready"
PROGRESSING = "Progressing"
FAILED = "Failed"
IMAGE_PULL_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"}
)
CONFIG_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError"})


@dataclass(frozen=True, slots=True)
class Problem:
    """Why the operator could not (yet) write the function's objects."""

    reason: str
    """``InvalidSpec``, ``SecretNotFound`` or ``ApplyFailed``."""
    message: str


def pod_failure(pods: Sequence[Mapping[str, Any]]) -> Problem | None:
    """The first container failure among live pods: image pull, crash loop or container config."""
    for pod in pods:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (container.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason") or ""
            detail = waiting.get("message") or reason
            if reason in IMAGE_PULL_REASONS:
                return Problem("ImagePullFailed", f"image {container.get('image')!r}: {detail}")
            if reason == "CrashLoopBackOff":
                restarts = container.get("restartCount", 0)
                return Problem("CrashLoop", f"container {container.get('name')!r} restarted {restarts} times")
            if reason in CONFIG_REASONS:
                return Problem("ContainerConfigError", detail)
    return None


def _condition(kind: str, status: bool, reason: str, message: str, generation: int) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
    }


def _rolled_out(deployment: Mapping[str, Any], desired: int) -> bool:
    meta = deployment.get("metadata") or {}
    status = deployment.get("status") or {}
    observed = int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0)
    return (
        observed
        and int((deployment.get("spec") or {}).get("replicas") or 0) == desired
        and int(status.get("updatedReplicas") or 0) >= desired
        and int(status.get("availableReplicas") or 0) >= desired
        and int(status.get("replicas") or 0) == desired
    )


def function_status(
    function: Mapping[str, Any],
    *,
    desired: int,
    deployment: Mapping[str, Any] | None,
    pods: Sequence[Mapping[str, Any]] = (),
    problem: Problem | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The ``status`` to write on ``function`` (without kopf's own ``status.kopf``)."""
    meta = function.get("metadata") or {}
    generation = int(meta.get("generation") or 0)
    name = meta.get("name", "")
    counts = (deployment or {}).get("status") or {}
    failure = problem or pod_failure(pods)
    if failure is not None:
        ready = _condition(READY, False, failure.reason, failure.message, generation)
        progressing = _condition(PROGRESSING, False, failure.reason, failure.message, generation)
        failed = _condition(FAILED, True, failure.reason, failure.message, generation)
    elif deployment is None:
        message = "the Deployment is being created"
        ready = _condition(READY, False, "DeploymentMissing", message, generation)
        progressing = _condition(PROGRESSING, True, "Creating", message, generation)
        failed = _condition(FAILED, False, "NoFailure", "", generation)
    elif _rolled_out(deployment, desired):
        reason = "ScaledToZero" if desired == 0 else "Available"
        message = f"{desired} of {desired} replicas available"
        ready = _condition(READY, True, reason, message, generation)
        progressing = _condition(PROGRESSING, False, "Complete", message, generation)
        failed = _condition(FAILED, False, "NoFailure", "", generation)
    else:
        available = int(counts.get("availableReplicas") or 0)
        message = f"{available} of {desired} replicas available"
        ready = _condition(READY, False, "RollingOut", message, generation)
        progressing = _condition(PROGRESSING, True, "RollingOut", message, generation)
        failed = _condition(FAILED, False, "NoFailure", "", generation)
    previous = {c.get("type"): c for c in ((function.get("status") or {}).get("conditions") or [])}
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    conditions = []
    for condition in (ready, progressing, failed):
        before = previous.get(condition["type"]) or {}
        unchanged = before.get("status") == condition["status"] and before.get("lastTransitionTime")
        condition["lastTransitionTime"] = before["lastTransitionTime"] if unchanged else stamp
        conditions.append(condition)
    spec = function.get("spec") or {}
    return {
        "observedGeneration": generation,
        "replicas": int(counts.get("replicas") or 0),
        "availableReplicas": int(counts.get("availableReplicas") or 0),
        "readyReplicas": int(counts.get("readyReplicas") or 0),
        "selector": f"{LABEL_FUNCTION}={name}",
        "image": str(spec.get("image", "")),
        "conditions": conditions,
    }


def status_unchanged(current: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    """Whether writing ``wanted`` would change ``current`` (kopf's own ``status.kopf`` aside)."""
    current = {k: v for k, v in (current or {}).items() if k != "kopf"}
    return current == dict(wanted)
