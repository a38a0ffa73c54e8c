"""The operator's documented RBAC is enough: it runs with a service account token bound to exactly
``infra.operator.operator_rules()`` and the Lease Role, and reconciles, reports status and corrects drift."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import ApiError, AsyncClient
from lightkube.resources.core_v1 import Secret, Service, ServiceAccount
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding, Role, RoleBinding

from pyfaas.infra.operator import LEASE_RULES, operator_rules
from tests.integration.operator.test_operator_live import get_or_none, manifest, wait_condition
from tests.support.operator_cluster import wait_for
from tests.support.operator_process import kubectl, running_operator

pytestmark = pytest.mark.timeout(240)


def token_kubeconfig(admin: Path, token: str, out: Path) -> Path:
    config = yaml.safe_load(admin.read_text())
    cluster = config["clusters"][0]
    out.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": "operator", "user": {"token": token}}],
                "contexts": [
                    {"name": "operator", "context": {"cluster": cluster["name"], "user": "operator"}}
                ],
                "current-context": "operator",
            }
        )
    )
    return out


async def test_the_operator_works_with_exactly_its_documented_rbac(
    client: AsyncClient, namespace: str, kubeconfig: Path, http_image: str, tmp_path: Path
) -> None:
    name = f"op-rbac-{uuid.uuid4().hex[:6]}"
    subjects = [{"kind": "ServiceAccount", "name": "operator", "namespace": namespace}]
    objects: list[Any] = [
        ServiceAccount.from_dict({"metadata": {"name": "operator", "namespace": namespace}}),
        ClusterRole.from_dict({"metadata": {"name": name}, "rules": operator_rules()}),
        ClusterRoleBinding.from_dict(
            {
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                "subjects": subjects,
            }
        ),
        Role.from_dict({"metadata": {"name": "lease", "namespace": namespace}, "rules": LEASE_RULES}),
        RoleBinding.from_dict(
            {
                "metadata": {"name": "lease", "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "lease"},
                "subjects": subjects,
            }
        ),
    ]
    try:
        for item in objects:
            await client.create(item)
        token = kubectl(kubeconfig, "create", "token", "operator", "-n", namespace).strip()
        limited = token_kubeconfig(kubeconfig, token, tmp_path / "operator-kubeconfig")
        assert "no" in kubectl(
            limited, "auth", "can-i", "delete", "deployments", "-n", namespace, check=False
        )

        secret = {"metadata": {"name": "api-key", "namespace": namespace}, "stringData": {"api-key": "x"}}
        await client.create(Secret.from_dict(secret))
        with running_operator(limited, namespace, tmp_path, identity="limited") as operator:
            body = manifest("rbac", namespace, http_image, secrets=["api-key"])
            kubectl(kubeconfig, "apply", "-f", "-", input=body)
            await wait_condition(client, namespace, "rbac", "Ready")
            kubectl(kubeconfig, "delete", "service/rbac", "-n", namespace)
            await wait_for(lambda: get_or_none(client, Service, namespace, "rbac"), what="the Service back")
            log = operator.log_text()
            assert "Forbidden" not in log and "403" not in log, log[-3000:]
    finally:
        for item in (objects[1], objects[2]):  # cluster-scoped: the namespace's deletion does not take them
            with contextlib.suppress(ApiError):
                await client.delete(type(item), item.metadata.name)


async def test_the_gateway_in_operator_mode_works_with_its_documented_rbac(
    client: AsyncClient, namespace: str, kubeconfig: Path, http_image: str, tmp_path: Path
) -> None:
    from pyfaas.infra.gateway_rbac import PROVIDER_RULES, cluster_rules
    from pyfaas.infra.operator import GATEWAY_FUNCTION_RULES
    from tests.integration.operator.test_gateway_operator_live import available, call, operator_gateway

    name = f"op-gw-rbac-{uuid.uuid4().hex[:6]}"
    subjects = [{"kind": "ServiceAccount", "name": "gateway", "namespace": namespace}]
    role_ref = {"apiGroup": "rbac.authorization.k8s.io"}
    objects: list[Any] = [
        ServiceAccount.from_dict({"metadata": {"name": "gateway", "namespace": namespace}}),
        ClusterRole.from_dict({"metadata": {"name": name}, "rules": cluster_rules(False)}),
        ClusterRoleBinding.from_dict(
            {
                "metadata": {"name": name},
                "roleRef": {**role_ref, "kind": "ClusterRole", "name": name},
                "subjects": subjects,
            }
        ),
        Role.from_dict(
            {
                "metadata": {"name": "gateway", "namespace": namespace},
                "rules": PROVIDER_RULES + GATEWAY_FUNCTION_RULES,
            }
        ),
        RoleBinding.from_dict(
            {
                "metadata": {"name": "gateway", "namespace": namespace},
                "roleRef": {**role_ref, "kind": "Role", "name": "gateway"},
                "subjects": subjects,
            }
        ),
    ]
    try:
        for item in objects:
            await client.create(item)
        token = kubectl(kubeconfig, "create", "token", "gateway", "-n", namespace).strip()
        limited = token_kubeconfig(kubeconfig, token, tmp_path / "gateway-kubeconfig")
        with running_operator(kubeconfig, namespace, tmp_path):
            async with operator_gateway(limited, namespace) as http:
                async with http.post("/system/secrets", json={"name": "api-key", "value": "x"}) as response:
                    assert response.status in (200, 201, 202), await response.text()
                spec = {"service": "gw", "image": http_image, "secrets": ["api-key"]}
                async with http.post("/system/functions", json=spec) as response:
                    assert response.status == 202, await response.text()
                code, text = await call(http, "gw", "one")
                assert code == 200 and text.endswith(":one"), text
                async with http.post(
                    "/system/scale-function/gw", json={"serviceName": "gw", "replicas": 2}
                ) as r:
                    assert r.status in (200, 202), await r.text()
                await available(http, "gw", 2)
                async with http.put("/system/functions", json={**spec, "labels": {"v": "2"}}) as response:
                    assert response.status == 202, await response.text()
                async with http.get(
                    "/system/logs", params={"name": "gw", "tail": "5", "follow": "false"}
                ) as r:
                    assert r.status == 200, await r.text()
                async with http.delete("/system/functions", json={"functionName": "gw"}) as response:
                    assert response.status == 202, await response.text()
    finally:
        for item in (objects[1], objects[2]):
            with contextlib.suppress(ApiError):
                await client.delete(type(item), item.metadata.name)
