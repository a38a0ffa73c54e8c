"""Every bad stack file fails with one StackError naming the file, line, column and field."""

from __future__ import annotations

import pytest

from pyfaas.core.stack import StackError, parse_stack

OK = "functions:\n  f:\n    image: a/b:1\n"


@pytest.mark.parametrize(
    ("text", "where", "path", "problem"),
    [
        ("", "stack.yml:1:1", "", "the file is empty"),
        ("version: 1.0\n", "stack.yml:1:1", "functions", "required"),
        ("functions: [a]\n", "stack.yml:1:12", "functions", "expected a map, got a list"),
        ("version: 2.0\n" + OK, "stack.yml:1:10", "version", "only 1.0 is valid"),
        ("provider:\n  name: faas\n" + OK, "stack.yml:2:3", "provider.name", "must be 'openfaas'"),
        ("functions:\n  Bad_Name:\n    image: x\n", "stack.yml:2:3", "functions.Bad_Name", "DNS-1123"),
        ("functions:\n  f:\n", "stack.yml:2:5", "functions.f", "got null"),
        ("functions:\n  f:\n    lang: python3\n", "stack.yml:3:5", "functions.f.image", "required"),
        ("functions:\n  f:\n    image: ''\n", "stack.yml:3:12", "functions.f.image", "required"),
        (
            "functions:\n  f:\n    image: [x]\n",
            "stack.yml:3:12",
            "functions.f.image",
            "expected a single value",
        ),
        (
            "functions:\n  f:\n    image: x\n    labels: [a]\n",
            "stack.yml:4:13",
            "functions.f.labels",
            "a map",
        ),
        (
            "functions:\n  f:\n    image: x\n    environment:\n      a: {b: c}\n",
            "stack.yml:5:10",
            "functions.f.environment.a",
            "expected a single value, got a map",
        ),
        (
            "functions:\n  f:\n    image: x\n    secrets: a\n",
            "stack.yml:4:14",
            "functions.f.secrets",
            "a list",
        ),
        (
            "functions:\n  f:\n    image: x\n    secrets: [Bad/Name]\n",
            "stack.yml:4:14",
            "functions.f.secrets[0]",
            "secret name",
        ),
        (
            "functions:\n  f:\n    image: x\n    readonly_root_filesystem: maybe\n",
            "stack.yml:4:31",
            "functions.f.readonly_root_filesystem",
            "expected true or false",
        ),
        (
            "functions:\n  f:\n    image: x\n    namespace: Team_A\n",
            "stack.yml:4:16",
            "functions.f.namespace",
            "namespace 'Team_A' is invalid",
        ),
        (
            "functions:\n  f:\n    image: x\n  f:\n    image: y\n",
            "stack.yml:4:3",
            "functions.f",
            "duplicate key",
        ),
        (
            "functions:\n  f:\n    image: x\n    image: y\n",
            "stack.yml:4:5",
            "functions.f.image",
            "duplicate key",
        ),
        ("functions:\n  f: {image: x\n", "stack.yml:3:1", "", "invalid YAML"),
        ("functions:\n\tf:\n", "stack.yml:2:1", "", "invalid YAML"),
        ("a: 1\n---\nb: 2\n", "stack.yml:2:1", "", "another document"),
        ("base: &b {image: x}\nfunctions:\n  f:\n    <<: *b\n", "stack.yml:4:5", "functions.f", "merge keys"),
        (
            "functions:\n  f:\n    image: x\n    limits: {memory: [1]}\n",
            "stack.yml:4:22",
            "functions.f.limits.memory",
            "expected a single value",
        ),
        (
            "functions:\n  f:\n    image: x\n    environment_file: [missing.yml]\n",
            "stack.yml:4:23",
            "functions.f.environment_file[0]",
            "cannot read 'missing.yml'",
        ),
    ],
)
def test_error_names_file_line_and_field(text: str, where: str, path: str, problem: str) -> None:
    with pytest.raises(StackError) as info:
        parse_stack(text, env={}, env_files={})
    error = info.value
    assert str(error).startswith(where), str(error)
    assert error.path == path, str(error)
    assert problem in error.problem, str(error)
    assert error.status == 400
    assert error.to_json()["error"] == str(error)


def test_error_in_environment_file_names_that_file() -> None:
    text = "functions:\n  f:\n    image: x\n    environment_file: [env.yml]\n"
    with pytest.raises(StackError) as info:
        parse_stack(text, env_files={"env.yml": "environment:\n  ok: 1\n  bad: [1, 2]\n"})
    assert str(info.value).startswith("env.yml:3:8: environment.bad: expected a single value")


def test_unreadable_environment_file_reports_the_os_error() -> None:
    def reader(path: str) -> str:
        raise FileNotFoundError(2, "No such file or directory", path)

    text = "functions:\n  f:\n    image: x\n    environment_file: [gone.yml]\n"
    with pytest.raises(StackError, match=r"cannot read 'gone\.yml': No such file or directory"):
        parse_stack(text, env_files=reader)


def test_filename_is_used_in_messages() -> None:
    with pytest.raises(StackError, match=r"^deploy/prod\.yml:1:12: functions: expected a map"):
        parse_stack("functions: 3\n", filename="deploy/prod.yml")


def test_alias_bomb_is_bounded() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    # Aliases are never expanded: an unknown key holding 10^9 leaves is cheap, a misplaced one fails fast.
    stack = parse_stack("\n".join(lines) + "\nfunctions:\n  f:\n    image: x\n")
    assert len(stack.warnings) == 9
    with pytest.raises(StackError, match=r"constraints\[0\]: expected a single value, got a list"):
        parse_stack("\n".join(lines) + "\nfunctions:\n  f:\n    image: x\n    constraints: *a8\n")


def test_deep_nesting_is_a_clear_error() -> None:
    text = "functions:\n  f:\n    image: x\n    labels: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(StackError):
        parse_stack(text)
