"""stack.yml → FunctionDefinition: every key of the schema (contract §8.1-8.2) against a golden result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pyfaas.core.stack import Stack, TemplateSource, filter_functions, parse_stack

DATA = Path(__file__).parent / "data"


def _render(stack: Stack) -> dict[str, Any]:
    return {
        "provider": stack.provider,
        "gateway": stack.gateway,
        "templates": [[t.name, t.source] for t in stack.templates],
        "copy": stack.copy,
        "warnings": stack.warnings,
        "functions": [
            {"origin": f.origin, "lang": f.lang, "handler": f.handler, "deployment": f.deployment.wire()}
            for f in stack.functions
        ],
    }


def _env_files(path: str) -> str:
    return (DATA / path).read_text()


def test_full_stack_matches_golden() -> None:
    stack = parse_stack(
        (DATA / "full.yml").read_text(),
        filename="full.yml",
        env={"REGISTRY": "ghcr.io/acme", "TAG": "1.2.3", "RO": "true", "HASH": "a#b: c"},
        env_files=_env_files,
        template_fprocess=lambda lang: "python3 index.py" if lang == "python3" else None,
    )
    expected = json.loads((DATA / "full.golden.json").read_text())
    assert _render(stack) == expected


def test_examples_stack_loads_every_function() -> None:
    root = Path(__file__).parents[3]
    stack = parse_stack((root / "examples" / "stack.yml").read_text(), env={})
    assert stack.functions, "the examples stack defines functions"
    assert stack.warnings == []
    for definition in stack.functions:
        assert definition.deployment.image
        assert definition.origin.startswith("stack.yml:")


def test_minimal_stack_without_provider_or_version() -> None:
    stack = parse_stack("functions:\n  hello:\n    image: acme/hello:1\n")
    assert stack.names() == ["hello"]
    assert stack.functions[0].deployment.wire() == {"service": "hello", "image": "acme/hello:1"}
    assert stack.gateway is None and stack.templates == [] and stack.copy == []


def test_empty_functions_map_is_allowed() -> None:
    assert parse_stack("provider: {name: openfaas}\nfunctions:\n").functions == []


def test_configuration_templates_and_copy() -> None:
    stack = parse_stack(
        "functions: {}\nconfiguration:\n  templates:\n    - name: python3-http\n      source: https://x/t.git\n"
        "  copy: [./common]\n"
    )
    assert stack.templates == [TemplateSource("python3-http", "https://x/t.git")]
    assert stack.copy == ["./common"]


def test_dockerfile_lang_is_normalised() -> None:
    stack = parse_stack("functions:\n  f:\n    lang: Dockerfile\n    image: a/b:1\n")
    assert stack.functions[0].lang == "dockerfile"


def test_function_fprocess_wins_over_template() -> None:
    stack = parse_stack(
        "functions:\n  f:\n    lang: python3\n    image: a/b:1\n    fprocess: cat\n",
        template_fprocess=lambda lang: "python3 index.py",
    )
    assert stack.functions[0].deployment.envProcess == "cat"


def test_environment_files_merge_in_order_later_wins() -> None:
    text = (
        "functions:\n  f:\n    image: a/b:1\n    environment: {a: stack, b: stack}\n"
        "    environment_file: [one.yml, two.yml]\n"
    )
    files = {"one.yml": "environment:\n  b: one\n  c: one\n", "two.yml": "environment:\n  c: two\n"}
    stack = parse_stack(text, env_files=files)
    assert stack.functions[0].deployment.envVars == {"a": "stack", "b": "one", "c": "two"}


@pytest.mark.parametrize(
    ("glob", "regex", "expected"),
    [
        (None, None, ["api-a", "api-b", "worker"]),
        ("api-*", None, ["api-a", "api-b"]),
        (None, "b$", ["api-b"]),
        ("api-*", "a$", ["api-a"]),
    ],
)
def test_filter_functions(glob: str | None, regex: str | None, expected: list[str]) -> None:
    stack = parse_stack(
        "functions:\n" + "".join(f"  {n}:\n    image: a/{n}:1\n" for n in ["api-a", "api-b", "worker"])
    )
    assert [f.name for f in filter_functions(stack.functions, glob=glob, regex=regex)] == expected


def test_resources_keep_known_quantities_and_warn_about_others() -> None:
    stack = parse_stack(
        "functions:\n  f:\n    image: a/b:1\n    limits: {memory: 1Gi, nvidia.com/gpu: 1, disk: 2}\n"
    )
    limits = stack.functions[0].deployment.limits
    assert limits is not None and limits.wire() == {"memory": "1Gi", "nvidia.com/gpu": "1"}
    assert stack.warnings == ["stack.yml:4:46: functions.f.limits.disk: unknown resource (ignored)"]
