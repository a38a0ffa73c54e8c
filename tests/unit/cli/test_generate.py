"""``pyfaas generate``: Function objects for a stack file, in faas-cli generate's shape."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pyfaas.core.function_crd import deployment_of
from tests.support.cli import cli_env, run_cli

STACK = """
version: 1.0
provider:
  name: openfaas
functions:
  nodeinfo:
    image: ghcr.io/example/nodeinfo:${TAG}
    environment:
      write_debug: true
    environment_file:
      - env.yml
    labels:
      com.openfaas.scale.min: 2
    annotations:
      topic: cron
    limits:
      memory: 128Mi
      cpu: 100m
    requests:
      memory: 64Mi
    constraints:
      - disk=ssd
    secrets:
      - api-key
    readonly_root_filesystem: true
  echo:
    image: localhost/echo:1
    fprocess: cat
    namespace: team-a
"""


@pytest.fixture
def stack_dir(tmp_path: Path) -> Path:
    (tmp_path / "stack.yml").write_text(STACK)
    (tmp_path / "env.yml").write_text("environment:\n  FROM_FILE: yes-it-is\n")
    return tmp_path


def test_generate_prints_one_function_object_per_stack_function(stack_dir: Path) -> None:
    result = run_cli(["generate"], env=cli_env(stack_dir, TAG="0.2"), cwd=stack_dir)
    assert result.code == 0, result.stderr
    objects = list(yaml.safe_load_all(result.stdout))
    assert [o["metadata"] for o in objects] == [
        {"name": "echo", "namespace": "team-a"},
        {"name": "nodeinfo", "namespace": "openfaas-fn"},
    ]
    nodeinfo = objects[1]
    assert nodeinfo["apiVersion"] == "openfaas.com/v1" and nodeinfo["kind"] == "Function"
    assert nodeinfo["spec"] == {
        "name": "nodeinfo",
        "image": "ghcr.io/example/nodeinfo:0.2",
        "environment": {"write_debug": "true", "FROM_FILE": "yes-it-is"},
        "labels": {"com.openfaas.scale.min": "2"},
        "annotations": {"topic": "cron"},
        "limits": {"memory": "128Mi", "cpu": "100m"},
        "requests": {"memory": "64Mi"},
        "constraints": ["disk=ssd"],
        "secrets": ["api-key"],
        "readOnlyRootFilesystem": True,
    }
    assert objects[0]["spec"] == {"name": "echo", "image": "localhost/echo:1", "handler": "cat"}
    for body in objects:  # what the operator reads back is what the stack says
        spec, replicas = deployment_of(body)
        assert spec.service == body["metadata"]["name"] and replicas is None


def test_namespace_flag_and_filter(stack_dir: Path) -> None:
    result = run_cli(
        ["generate", "-n", "prod", "--filter", "node*"], env=cli_env(stack_dir, TAG="1"), cwd=stack_dir
    )
    assert result.code == 0, result.stderr
    (only,) = yaml.safe_load_all(result.stdout)
    assert only["metadata"] == {"name": "nodeinfo", "namespace": "prod"}


def test_other_api_versions_are_refused(stack_dir: Path) -> None:
    result = run_cli(["generate", "--api", "openfaas.com/v1alpha2"], env=cli_env(stack_dir), cwd=stack_dir)
    assert result.code != 0
    assert "unsupported --api" in result.stderr and "openfaas.com/v1 " in result.stderr
