"""Who owns a function's replica count, read from its ``com.openfaas.scale.*`` labels. Pure: no I/O.

The gateway answers every scale request with it (so ``pyfaas scale`` can say whether a manual count will
stay), and docs/autoscaling.md explains the same table. The autoscalers are:

* ``target-tracking``: ``com.openfaas.scale.type`` ``rps``/``capacity``: the scaling controller sets the count
  from the load on every round; a manual count lasts until then.
* ``scale-to-zero``: ``com.openfaas.scale.zero=true``: the scaling controller scales an idle function to 0.
* ``load``: functions without a type whose ``com.openfaas.scale.factor`` is not 0: firing alerts (with
  Prometheus) or the controller's fallback tracking (without) add replicas while the load is high. Without
  load nobody touches the count; when an alert resolves, OpenFaaS's rule sets ``com.openfaas.scale.min``.

No owner (``manual``): the count stays as set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from pyfaas.core.durations import format_go_duration
from pyfaas.core.labels import (
    LABEL_SCALE_FACTOR,
    LABEL_SCALE_MIN,
    LABEL_SCALE_TYPE,
    LABEL_SCALE_ZERO,
    ScalingPolicy,
)

__all__ = [
    "MANUAL",
    "REPLICA_OWNER_HEADER",
    "Owner",
    "ReplicaOwnership",
    "ScaleResult",
    "replica_ownership",
]

REPLICA_OWNER_HEADER = "X-Pyfaas-Replicas-Owner"
"""Response header of ``POST /system/scale-function``: comma-separated owners, or ``manual``."""
MANUAL = "manual"

Owner = Literal["target-tracking", "scale-to-zero", "load"]


@dataclass(frozen=True, slots=True)
class ReplicaOwnership:
    owners: tuple[Owner, ...]
    """Autoscalers that may change the count; empty: a manual count stays."""
    notes: tuple[str, ...]
    """One sentence per owner, for people."""

    @property
    def sticks(self) -> bool:
        """True when a manual count stays until someone changes it by hand; False when an autoscaler
        replaces it at once (target tracking)."""
        return "target-tracking" not in self.owners

    @property
    def header(self) -> str:
        return ",".join(self.owners) or MANUAL


class ScaleResult(BaseModel):
    """Body of pyfaas's 202 answer to ``POST /system/scale-function/{name}`` (OpenFaaS answers with an empty
    body, which faas-cli does not read): the count applied and who else may change it."""

    name: str
    namespace: str
    replicas: int
    """The count applied (after clamping to ``com.openfaas.scale.max``)."""
    owners: list[Owner]
    """Autoscalers that may change the count; empty: it stays as set."""
    sticks: bool
    """False when an autoscaler replaces a manual count at once (target tracking)."""
    notes: list[str]

    @classmethod
    def of(cls, name: str, namespace: str, replicas: int, ownership: ReplicaOwnership) -> ScaleResult:
        return cls(
            name=name,
            namespace=namespace,
            replicas=replicas,
            owners=list(ownership.owners),
            sticks=ownership.sticks,
            notes=list(ownership.notes),
        )


def replica_ownership(policy: ScalingPolicy) -> ReplicaOwnership:
    owners: list[Owner] = []
    notes: list[str] = []
    if policy.scale_type in ("rps", "capacity"):
        owners.append("target-tracking")
        notes.append(
            f"{LABEL_SCALE_TYPE}={policy.scale_type}: the scaling controller sets the count from the load "
            f"on its next round (within {policy.min_replicas}..{policy.max_replicas}); a manual count does "
            "not stay"
        )
    elif policy.scale_type is None and policy.factor > 0:
        owners.append("load")
        notes.append(
            "under load, alerts (with Prometheus) or the scaling controller's fallback add replicas up to "
            f"{policy.max_replicas}; without load the count stays as set (a resolved alert sets "
            f"{LABEL_SCALE_MIN}={policy.min_replicas}; {LABEL_SCALE_FACTOR}=0 turns this off)"
        )
    elif policy.scale_type == "cpu":
        notes.append(f"{LABEL_SCALE_TYPE}=cpu is not implemented by pyfaas: nothing scales this function")
    if policy.zero:
        owners.append("scale-to-zero")
        after = (
            format_go_duration(policy.zero_duration)
            if policy.zero_duration is not None
            else "the controller's inactivity_duration"
        )
        notes.append(
            f"{LABEL_SCALE_ZERO}=true: the scaling controller scales it to 0 after {after} without calls"
        )
    return ReplicaOwnership(tuple(owners), tuple(notes))
