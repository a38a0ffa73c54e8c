"""Policy: every container has requests, limits and both probes, runs as non-root, cannot escalate, and has
a read-only root filesystem wherever the service allows (every platform service; functions that ask)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.infra import Rendered

WORKLOADS = {"Deployment", "StatefulSet"}
STACKS = ["default", "three-functions", "full-options"]
API_USERS = {"gateway", "prometheus"}
"""The only pods that talk to the Kubernetes API (and so mount a service-account token)."""


def _workloads(rendered: Rendered) -> Iterator[dict[str, Any]]:
    return (body for body in rendered.objects() if body["kind"] in WORKLOADS)


def violations(body: dict[str, Any]) -> list[str]:
    """Every policy breach of one workload."""
    found: list[str] = []
    name = body["metadata"]["name"]
    is_function = "faas_function" in body["metadata"].get("labels", {})
    pod = body["spec"]["template"]["spec"]
    if pod.get("automountServiceAccountToken") is not (name in API_USERS and not is_function):
        found.append(f"{name}: service-account token mounted without need")
    for container in pod["containers"]:
        where = f"{name}/{container['name']}"
        resources = container.get("resources", {})
        for section in ("requests", "limits"):
            if not resources.get(section, {}).get("memory"):
                found.append(f"{where}: no memory {section}")
        for probe in ("readinessProbe", "livenessProbe"):
            if not container.get(probe):
                found.append(f"{where}: no {probe}")
        security = container.get("securityContext", {})
        if security.get("runAsNonRoot", pod.get("securityContext", {}).get("runAsNonRoot")) is not True:
            found.append(f"{where}: may run as root")
        if security.get("runAsUser") == 0 or security.get("privileged"):
            found.append(f"{where}: root or privileged")
        if security.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}: privilege escalation allowed")
        # Platform services write only to mounted volumes; a function's setting is its author's choice.
        if not is_function and security.get("readOnlyRootFilesystem") is not True:
            found.append(f"{where}: writable root filesystem")
        if not is_function and security.get("capabilities") != {"drop": ["ALL"]}:
            found.append(f"{where}: capabilities not dropped")
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_workload_meets_the_policy(all_stacks: dict[str, Rendered], stack: str) -> None:
    workloads = list(_workloads(all_stacks[stack]))
    assert {w["metadata"]["name"] for w in workloads} >= {
        "gateway", "nats", "queue-worker", "idler", "prometheus", "alertmanager",
    }  # fmt: skip
    assert [problem for body in workloads for problem in violations(body)] == []


def test_functions_follow_their_own_read_only_setting(three_functions: Rendered) -> None:
    flags = {
        c["name"]: c["securityContext"]["readOnlyRootFilesystem"]
        for body in _workloads(three_functions)
        if "faas_function" in body["metadata"]["labels"]
        for c in body["spec"]["template"]["spec"]["containers"]
    }
    assert flags == {"api": True, "reports": False, "nightly": False}


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda c, p: c.pop("livenessProbe"), "no livenessProbe"),
        (lambda c, p: c["resources"].pop("limits"), "no memory limits"),
        (lambda c, p: c["securityContext"].update(runAsNonRoot=False), "may run as root"),
        (lambda c, p: c["securityContext"].update(allowPrivilegeEscalation=True), "privilege escalation"),
        (lambda c, p: c["securityContext"].update(readOnlyRootFilesystem=False), "writable root"),
        (lambda c, p: p.update(automountServiceAccountToken=False), None),
    ],
)
def test_the_policy_catches_breaches(default_stack: Rendered, mutate: Any, problem: str | None) -> None:
    body = copy.deepcopy(default_stack.object("Deployment", "queue-worker"))
    pod = body["spec"]["template"]["spec"]
    mutate(pod["containers"][0], pod)
    found = violations(body)
    if problem is None:
        assert found == []
    else:
        assert any(problem in item for item in found), found
    token = copy.deepcopy(default_stack.object("Deployment", "idler"))
    token["spec"]["template"]["spec"]["automountServiceAccountToken"] = True
    assert violations(token) == ["idler: service-account token mounted without need"]
