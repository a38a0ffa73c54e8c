"""``${VAR}`` substitution: applied per scalar, after parsing, with shell-style defaults."""

from __future__ import annotations

import pytest

from pyfaas.core.stack import parse_stack, substitute_env


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("${A}", {}, ""),
        ("x-${A}-y", {"A": "mid"}, "x-mid-y"),
        ("${A:-d}", {}, "d"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A:-d}", {"A": "v"}, "v"),
        ("${A-d}", {}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("$A ${", {"A": "1"}, "$A ${"),
        ("${1A}", {}, "${1A}"),
        ("${A}${B}", {"A": "a", "B": "b"}, "ab"),
    ],
)
def test_substitute_env(text: str, env: dict[str, str], expected: str) -> None:
    assert substitute_env(text, env) == expected


def test_values_cannot_change_the_yaml_structure() -> None:
    text = "functions:\n  f:\n    image: ${IMAGE}\n    environment:\n      v: ${V}\n"
    stack = parse_stack(text, env={"IMAGE": "a/b:1 # not a comment", "V": "x: y\nz: [1"})
    deployment = stack.functions[0].deployment
    assert deployment.image == "a/b:1 # not a comment"
    assert deployment.envVars == {"v": "x: y\nz: [1"}


def test_substitution_in_keys_and_typed_fields() -> None:
    text = (
        "functions:\n  ${NAME}:\n    image: a/b:1\n    readonly_root_filesystem: ${RO}\n"
        "    labels:\n      ${K}: ${V}\n"
    )
    stack = parse_stack(text, env={"NAME": "svc", "RO": "true", "K": "team", "V": "7"})
    definition = stack.functions[0]
    assert definition.name == "svc"
    assert definition.deployment.readOnlyRootFilesystem is True
    assert definition.deployment.labels == {"team": "7"}


def test_substitution_disabled_keeps_text() -> None:
    stack = parse_stack("functions:\n  f:\n    image: a/b:${TAG}\n", env=None)
    assert stack.functions[0].deployment.image == "a/b:${TAG}"


def test_empty_substitution_of_required_image_is_an_error() -> None:
    with pytest.raises(Exception, match=r"stack\.yml:3:12: functions\.f\.image: required"):
        parse_stack("functions:\n  f:\n    image: ${IMAGE}\n", env={})
