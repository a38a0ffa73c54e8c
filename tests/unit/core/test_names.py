"""Property tests for names: DNS-1123 labels for new functions, ``name.namespace`` split at the last dot."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyfaas.core.errors import ValidationFailed
from pyfaas.core.names import (
    DNS1123_RULE,
    qualified_name,
    split_name,
    validate_function_name,
    validate_namespace,
    validate_secret_name,
)

LABELS = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
NAMESPACES = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?\Z")
# Independent statement of the rule, so the test does not just replay the implementation's regex.
_ALLOWED = set("abcdefghijklmnopqrstuvwxyz0123456789-")


def _is_dns1123_label(text: str) -> bool:
    return (
        0 < len(text) <= 63 and set(text) <= _ALLOWED and not text.startswith("-") and not text.endswith("-")
    )


@given(LABELS)
def test_dns1123_labels_are_accepted(name: str) -> None:
    assert validate_function_name(name) == name
    assert validate_namespace(name) == name


@given(st.text(max_size=70))
def test_validation_agrees_with_the_rule_and_names_the_field(text: str) -> None:
    if _is_dns1123_label(text):
        assert validate_function_name(text, field="service") == text
        return
    with pytest.raises(ValidationFailed) as caught:
        validate_function_name(text, field="service")
    assert caught.value.field == "service"
    assert caught.value.status == 400
    assert DNS1123_RULE in caught.value.message
    assert caught.value.to_json()["field"] == "service"


@pytest.mark.parametrize(
    "name",
    ["", "Echo", "echo_fn", "echo.fn", "-echo", "echo-", "a" * 64, "écho", "echo\n", " echo", "echo fn"],
)
def test_invalid_names_are_rejected(name: str) -> None:
    with pytest.raises(ValidationFailed):
        validate_function_name(name)


def test_longest_label_is_63_characters() -> None:
    assert validate_function_name("a" * 63) == "a" * 63


@given(st.text(alphabet="abc.-", min_size=1, max_size=30))
def test_secret_names_never_contain_path_separators_or_empty_parts(name: str) -> None:
    try:
        validate_secret_name(name)
    except ValidationFailed as exc:
        assert exc.field == "name"
        return
    assert "/" not in name and ".." not in name
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name)


@given(name=st.text(min_size=1, max_size=20), namespace=NAMESPACES)
def test_split_is_at_the_last_dot(name: str, namespace: str) -> None:
    qualified = f"{name}.{namespace}"
    got_name, got_namespace = split_name(qualified, "default-ns")
    assert got_namespace == namespace
    assert got_name == name
    assert split_name(qualified_name(name, namespace), "x") == (name, namespace)


@given(st.text(alphabet=st.characters(exclude_characters="."), max_size=20))
def test_no_dot_means_the_default_namespace(name: str) -> None:
    assert split_name(name, "openfaas-fn") == (name, "openfaas-fn")


def test_split_examples() -> None:
    assert split_name("figlet.openfaas-fn", "d") == ("figlet", "openfaas-fn")
    assert split_name("a.b.c", "d") == ("a.b", "c")
    assert split_name("figlet.", "d") == ("figlet", "d")
    assert split_name("figlet", "d") == ("figlet", "d")
    assert qualified_name("figlet", "") == "figlet"
