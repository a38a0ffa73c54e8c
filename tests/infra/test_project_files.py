"""Pulumi.yaml, the example stack file, the platform Dockerfile and the CI workflow agree with the program."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import yaml
from pydantic import BaseModel

from pyfaas.infra.config import DEFAULT_IMAGES, PROJECT, PlatformConfig, load_config
from tests.support.infra import ROOT, Rendered


def _field_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Dotted config keys of a model; a ``resources`` block counts as one setting."""
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        key = info.alias or name
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and key != "resources":
            paths |= _field_paths(annotation, f"{prefix}{key}.")
        else:
            paths.add(f"{prefix}{key}")
    return paths


def _yaml_paths(value: Any, prefix: str) -> set[str]:
    if isinstance(value, dict) and value and not prefix.endswith(".resources"):
        return {path for key, item in value.items() for path in _yaml_paths(item, f"{prefix}.{key}")}
    return {prefix}


def _example() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "Pulumi.example.yaml").read_text())
    config: dict[str, Any] = loaded["config"]
    return config


def test_pulumi_project_file() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == PROJECT
    assert project["main"] == "pulumi-program/"
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    assert (ROOT / "pulumi-program" / "__main__.py").is_file()


def test_example_stack_documents_every_setting_with_its_default() -> None:
    example = _example()
    documented = {
        p for key, value in example.items() for p in _yaml_paths(value, key.removeprefix(f"{PROJECT}:"))
    }
    assert documented == _field_paths(PlatformConfig)
    # "Values below are the defaults": loading the example changes nothing.
    assert load_config(example) == PlatformConfig()
    text = (ROOT / "Pulumi.example.yaml").read_text()
    for line_number, line in enumerate(text.splitlines()):
        if re.match(r"^  pyfaas:\w+:", line):
            previous = text.splitlines()[line_number - 1].strip()
            assert previous.startswith("#") or previous == "", f"undocumented: {line.strip()}"


def test_dockerfile_runs_the_services_as_non_root(default_stack: Rendered) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER 10001", dockerfile, re.M)
    assert ":latest" not in dockerfile
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim", dockerfile, re.M), "pinned base image"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    platform_image = DEFAULT_IMAGES["platform"]
    commands = {
        container["command"][0]
        for body in default_stack.objects()
        if body["kind"] == "Deployment"
        for container in body["spec"]["template"]["spec"]["containers"]
        if container["image"] == platform_image
    }
    assert commands == {"pyfaas-gateway", "pyfaas-worker", "pyfaas-idler"}
    assert commands <= set(scripts), "every command the program runs is a console script of the image"


def test_workflow_previews_pull_requests_and_updates_main() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pulumi.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key "on" as a boolean
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]

    def pulumi_commands(job: dict[str, Any]) -> list[str]:
        return [
            step["with"]["command"]
            for step in job["steps"]
            if str(step.get("uses", "")).startswith("pulumi/actions")
        ]

    assert pulumi_commands(jobs["preview"]) == ["preview"]
    assert "pull_request" in jobs["preview"]["if"]
    assert pulumi_commands(jobs["up"]) == ["up"]
    assert "refs/heads/main" in jobs["up"]["if"]
    assert "test" in jobs["up"]["needs"] and jobs["preview"]["needs"] == "test"
    assert any("scripts/test.sh" in str(step.get("run", "")) for step in jobs["test"]["steps"])


def test_the_program_folder_holds_only_the_entry_point() -> None:
    """Pulumi runs ``main`` as a script folder, first on ``sys.path``: anything else in it would shadow
    installed modules (the components live in the package ``pyfaas.infra``, never on that path)."""
    folder = ROOT / "pulumi-program"
    assert sorted(p.name for p in folder.iterdir() if p.name != "__pycache__") == ["__main__.py"]
    assert "import sys" not in (folder / "__main__.py").read_text()  # nothing rewrites sys.path
