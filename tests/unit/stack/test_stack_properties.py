"""Robustness: whatever the input, the parser returns a Stack or raises StackError, never anything else."""

from __future__ import annotations

import re
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from pyfaas.core.names import DNS1123_LABEL
from pyfaas.core.stack import Stack, StackError, parse_stack

_POSITION = re.compile(r"^stack\.yml(:\d+:\d+)?: ")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
function_keys = st.sampled_from(
    [
        "lang", "handler", "image", "fprocess", "environment", "environment_file", "secrets", "skip_build",
        "constraints", "labels", "annotations", "limits", "requests", "readonly_root_filesystem", "namespace",
        "build_args", "unknown",
    ]
)  # fmt: skip
functions = st.dictionaries(
    st.text(max_size=10), st.dictionaries(function_keys, values, max_size=6), max_size=3
)
documents = st.fixed_dictionaries(
    {"functions": functions},
    optional={"version": values, "provider": st.dictionaries(st.sampled_from(["name", "gateway"]), values)},
)


def _check(text: str, env: dict[str, str] | None = None) -> Stack | None:
    try:
        return parse_stack(text, env=env or {}, env_files=lambda path: "environment:\n  a: b\n")
    except StackError as exc:
        assert _POSITION.match(str(exc)), str(exc)
        assert exc.problem
        return None


@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes(text: str) -> None:
    _check(text)


@given(st.text(alphabet="{}[]:,-&*!|>'\"#\n ab${}", max_size=120))
def test_yaml_punctuation_never_crashes(text: str) -> None:
    _check(text, env={"a": "x", "b": "{"})


@given(documents)
def test_structured_documents_never_crash(document: dict[str, Any]) -> None:
    stack = _check(yaml.safe_dump(document))
    if stack is None:
        return
    for definition in stack.functions:
        assert DNS1123_LABEL.match(definition.name)
        assert definition.deployment.image
        for mapping in (definition.deployment.envVars, definition.deployment.labels):
            assert all(isinstance(v, str) for v in (mapping or {}).values())


@given(
    st.from_regex(DNS1123_LABEL, fullmatch=True).filter(lambda s: len(s) <= 63),
    st.dictionaries(st.from_regex(r"\A[a-z][a-z0-9_]{0,10}\Z"), st.text(max_size=20), max_size=4),
)
def test_valid_functions_keep_their_values(name: str, environment: dict[str, str]) -> None:
    document = {
        "provider": {"name": "openfaas"},
        "functions": {name: {"image": "a/b:1", "environment": environment}},
    }
    stack = parse_stack(yaml.safe_dump(document), env=None)
    assert stack.names() == [name]
    assert (stack.functions[0].deployment.envVars or {}) == environment
