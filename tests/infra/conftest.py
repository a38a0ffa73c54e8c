"""Rendered stacks shared by the infra tests (each render runs the whole program under Pulumi mocks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.infra import Rendered, render

FUNCTIONS_PY = """\
from pyfaas.core.definitions import function

api = function(
    "api",
    image="ghcr.io/acme/api:1.4.0",
    handler="./api",
    lang="python3-http",
    environment={"write_timeout": "20s"},
    secrets=["api-key"],
    labels={"com.openfaas.scale.min": "2", "com.openfaas.scale.max": "8"},
    limits={"memory": "128Mi", "cpu": "250m"},
    requests={"memory": "32Mi", "cpu": "20m"},
    read_only_root_filesystem=True,
)
reports = function("reports", image="ghcr.io/acme/reports:2.0.1", namespace="team-a", fprocess="python3 r.py")
"""

STACK_YML = """\
version: 1.0
provider:
  name: openfaas
functions:
  nightly:
    lang: python3
    handler: ./nightly
    image: ghcr.io/acme/nightly:${TAG}
    environment_file: [env/common.yml]
    labels:
      com.openfaas.scale.zero: true
      com.openfaas.scale.min: 0
"""

THREE_FUNCTIONS_CONFIG = {
    "pyfaas:functionsFile": "functions.py",
    "pyfaas:stackFile": "stack.yml",
    "pyfaas:extraFunctionNamespaces": ["team-a"],
    "pyfaas:functionSecrets": {"api-key": "s3cr3t-value", "team-a/reports-token": "t0ken"},
}


def write_project(root: Path) -> Path:
    (root / "functions.py").write_text(FUNCTIONS_PY)
    (root / "stack.yml").write_text(STACK_YML)
    (root / "env").mkdir(exist_ok=True)
    (root / "env" / "common.yml").write_text("environment:\n  region: eu-west\n")
    return root


@pytest.fixture(scope="session")
def default_stack() -> Rendered:
    return render()


@pytest.fixture(scope="session")
def three_functions(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    root = write_project(tmp_path_factory.mktemp("project"))
    return render(THREE_FUNCTIONS_CONFIG, root=root, env={"TAG": "3.1.0"})


@pytest.fixture(scope="session")
def full_options() -> Rendered:
    """Every optional object: 3 NATS nodes, 2 gateway replicas, an external LoadBalancer, a storage class,
    the worker's ack_wait set."""
    return render(
        {
            "pyfaas:gateway": {"replicas": 2, "serviceType": "NodePort", "nodePort": 31112},
            "pyfaas:nats": {"replicas": 3, "storageClass": "fast", "storageSize": "5Gi"},
            "pyfaas:extraFunctionNamespaces": ["team-a", "team-b"],
            "pyfaas:queueWorker": {"ackWait": "90s"},
        },
        admin_password="configured-secret",
    )


@pytest.fixture(scope="session")
def all_stacks(
    default_stack: Rendered, three_functions: Rendered, full_options: Rendered
) -> dict[str, Rendered]:
    return {"default": default_stack, "three-functions": three_functions, "full-options": full_options}
