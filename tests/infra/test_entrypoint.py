"""``pulumi-program/`` (what ``pulumi up`` runs) reads the stack config the way Pulumi passes it."""

from __future__ import annotations

import pytest

from pyfaas.core.errors import ConfigError
from tests.support.infra import run_entrypoint


def test_entrypoint_deploys_the_platform_from_stack_config() -> None:
    resources = run_entrypoint({"pyfaas:gateway": '{"replicas": 3}', "pyfaas:adminUser": "root-admin"})
    deployments = {
        r.inputs["metadata"]["name"]: r.inputs for r in resources if r.typ == "kubernetes:apps/v1:Deployment"
    }
    assert deployments["gateway"]["spec"]["replicas"] == 3
    (secret,) = [r for r in resources if r.typ == "kubernetes:core/v1:Secret"]
    assert secret.inputs["stringData"]["value"]["basic-auth-user"] == "root-admin"


def test_entrypoint_rejects_bad_config_before_registering() -> None:
    with pytest.raises(ConfigError, match=r"^stack config pyfaas:nats\.replicas: "):
        run_entrypoint({"pyfaas:nats": '{"replicas": 0}'})
