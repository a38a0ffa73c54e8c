"""``replica_failure``: the reason read from a Deployment and its pods (API-shaped dicts, no server)."""

from __future__ import annotations

from typing import Any

from pyfaas.provider.kubernetes.failures import replica_failure

TEMPLATE_LABELS = {"faas_function": "api", "uid": "2"}


def deployment(**status: Any) -> dict[str, Any]:
    return {
        "spec": {
            "template": {
                "metadata": {"labels": TEMPLATE_LABELS},
                "spec": {"containers": [{"name": "api", "image": "img:2"}]},
            }
        },
        "status": status,
    }


def pod(labels: dict[str, str], image: str, waiting: str | None, ready: bool = False) -> dict[str, Any]:
    state = {"waiting": {"reason": waiting, "message": "back-off"}} if waiting else {"running": {}}
    return {
        "metadata": {
            "labels": {**labels, "pod-template-hash": "abc"},
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"containers": [{"name": "api", "image": image}]},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [
                {
                    "name": "api",
                    "restartCount": 3,
                    "state": state,
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": "Boom\n"}},
                }
            ],
        },
    }


def test_a_crash_of_the_current_template_is_reported_with_its_output() -> None:
    failure = replica_failure(deployment(), [pod(TEMPLATE_LABELS, "img:2", "CrashLoopBackOff")])
    assert failure is not None and failure.reason == "CrashLoopBackOff" and failure.beforeReady
    assert failure.message == "exit code 1 (Error)\nBoom" and failure.restarts == 3
    assert failure.summary() == "CrashLoopBackOff: Boom"


def test_old_pods_do_not_count_and_a_ready_pod_clears_before_ready() -> None:
    old = pod({"faas_function": "api", "uid": "1"}, "img:1", "CrashLoopBackOff")
    assert replica_failure(deployment(), [old]) is None
    ready = pod(TEMPLATE_LABELS, "img:2", None, ready=True)
    failure = replica_failure(deployment(), [pod(TEMPLATE_LABELS, "img:2", "ImagePullBackOff"), ready])
    assert failure is not None and failure.reason == "ImagePullBackOff" and not failure.beforeReady


def test_refused_pods_come_from_the_deployment_condition() -> None:
    condition = {
        "type": "ReplicaFailure",
        "status": "True",
        "reason": "FailedCreate",
        "message": "exceeded quota",
    }
    failure = replica_failure(deployment(conditions=[condition]), [])
    assert failure is not None and (failure.reason, failure.message) == ("FailedCreate", "exceeded quota")
    assert replica_failure(deployment(), []) is None
