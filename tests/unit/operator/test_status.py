"""The operator's pure parts: status conditions from a Deployment and its pods, drift detection, replicas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pyfaas.core.models import FunctionDeployment
from pyfaas.operator.reconcile import desired_replicas, difference, owner_of
from pyfaas.operator.status import Problem, function_status, pod_failure, status_unchanged

FUNCTION = {"metadata": {"name": "fn", "generation": 3}, "spec": {"name": "fn", "image": "x:1"}}
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def deployment(
    desired: int, available: int, *, updated: int | None = None, observed: int = 2
) -> dict[str, Any]:
    return {
        "metadata": {"generation": 2},
        "spec": {"replicas": desired},
        "status": {
            "observedGeneration": observed,
            "replicas": desired,
            "updatedReplicas": desired if updated is None else updated,
            "availableReplicas": available,
            "readyReplicas": available,
        },
    }


def waiting_pod(reason: str, message: str = "") -> dict[str, Any]:
    state = {"waiting": {"reason": reason, "message": message}}
    return {"metadata": {}, "status": {"containerStatuses": [{"name": "fn", "image": "x:1", "state": state}]}}


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_rolled_out_is_ready() -> None:
    status = function_status(FUNCTION, desired=2, deployment=deployment(2, 2), now=NOW)
    assert conditions(status) == {
        "Ready": ("True", "Available"),
        "Progressing": ("False", "Complete"),
        "Failed": ("False", "NoFailure"),
    }
    assert status["observedGeneration"] == 3
    assert status["readyReplicas"] == 2
    assert status["selector"] == "faas_function=fn"


def test_scaled_to_zero_is_ready() -> None:
    status = function_status(FUNCTION, desired=0, deployment=deployment(0, 0), now=NOW)
    assert conditions(status)["Ready"] == ("True", "ScaledToZero")


@pytest.mark.parametrize(
    "current",
    [deployment(2, 1), deployment(2, 2, updated=1), deployment(2, 2, observed=1), deployment(1, 1)],
)
def test_not_yet_rolled_out_is_progressing(current: dict[str, Any]) -> None:
    status = function_status(FUNCTION, desired=2, deployment=current, now=NOW)
    assert conditions(status)["Ready"] == ("False", "RollingOut")
    assert conditions(status)["Progressing"] == ("True", "RollingOut")


def test_no_deployment_yet() -> None:
    status = function_status(FUNCTION, desired=1, deployment=None, now=NOW)
    assert conditions(status)["Progressing"] == ("True", "Creating")


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("ErrImagePull", "ImagePullFailed"),
        ("ImagePullBackOff", "ImagePullFailed"),
        ("CrashLoopBackOff", "CrashLoop"),
        ("CreateContainerConfigError", "ContainerConfigError"),
    ],
)
def test_pod_failures_are_named(reason: str, expected: str) -> None:
    status = function_status(
        FUNCTION, desired=1, deployment=deployment(1, 0), pods=[waiting_pod(reason)], now=NOW
    )
    assert conditions(status)["Failed"] == ("True", expected)
    assert conditions(status)["Ready"] == ("False", expected)


def test_terminating_pods_and_plain_waiting_are_no_failure() -> None:
    terminating = waiting_pod("CrashLoopBackOff")
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert pod_failure([terminating, waiting_pod("ContainerCreating")]) is None


def test_problem_wins_and_names_the_field() -> None:
    problem = Problem("InvalidSpec", "spec.image: String should match pattern")
    status = function_status(FUNCTION, desired=0, deployment=None, problem=problem, now=NOW)
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert (failed["status"], failed["reason"]) == ("True", "InvalidSpec")
    assert "spec.image" in failed["message"]


def test_transition_time_kept_while_the_status_holds() -> None:
    first = function_status(FUNCTION, desired=1, deployment=deployment(1, 1), now=NOW)
    later = datetime(2026, 1, 2, 4, 0, 0, tzinfo=UTC)
    again = function_status({**FUNCTION, "status": first}, desired=1, deployment=deployment(1, 1), now=later)
    assert again == first
    assert status_unchanged({**first, "kopf": {"progress": {}}}, again)
    flipped = function_status(
        {**FUNCTION, "status": first}, desired=1, deployment=deployment(1, 0), now=later
    )
    ready = next(c for c in flipped["conditions"] if c["type"] == "Ready")
    assert ready["lastTransitionTime"] == "2026-01-02T04:00:00Z"
    assert not status_unchanged(first, flipped)


def test_difference_ignores_defaults_and_omitted_empty_values() -> None:
    desired = {
        "spec": {"replicas": 1, "env": [], "probe": {"initialDelaySeconds": 0}, "ports": [{"port": 80}]}
    }
    actual = {
        "spec": {"replicas": 1, "probe": {"periodSeconds": 10}, "ports": [{"port": 80, "protocol": "TCP"}]}
    }
    assert difference(actual, desired) is None
    assert difference({"spec": {**actual["spec"], "replicas": 3}}, desired) == ".spec.replicas"
    assert difference({"spec": {**actual["spec"], "ports": []}}, desired) == ".spec.ports"


def test_replicas_from_spec_capped_by_the_max_label_else_initial() -> None:
    labels = {"com.openfaas.scale.min": "2", "com.openfaas.scale.max": "4"}
    spec = FunctionDeployment(service="fn", image="x:1", labels=labels)
    assert desired_replicas(spec, None) == 2
    assert desired_replicas(spec, 3) == 3
    assert desired_replicas(spec, 9) == 4
    assert desired_replicas(spec, 0) == 0


def test_owner_is_the_controlling_function() -> None:
    ref = {"apiVersion": "openfaas.com/v1", "kind": "Function", "name": "fn", "controller": True}
    assert owner_of({"metadata": {"ownerReferences": [ref]}}) == "fn"
    assert owner_of({"metadata": {"ownerReferences": [{**ref, "kind": "ReplicaSet"}]}}) is None
    assert owner_of({"metadata": {}}) is None
