"""Every CLI error path: exactly one line on stderr naming the cause (and a hint), and a non-zero exit.

Paths that need no gateway, or only an unreachable one (a closed loopback port). Errors a live gateway
answers (401, 404, 409 ...) are in tests/integration/cli/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import cli_env, run_cli, run_pyfaas
from tests.support.gateway import free_port

BAD_STACK = """\
provider:
  name: openfaas
functions:
  fine:
    image: x:1
  broken:
    image: y:1
    labels: [not, a, map]
"""


@pytest.fixture
def closed() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["list"], ["cannot reach gateway at", "is it running? (pyfaas up)"]),
        (["describe", "fn"], ["cannot reach gateway"]),
        (["deploy", "--name", "fn", "--image", "x:1"], ["cannot reach gateway"]),
        (["remove", "fn"], ["cannot reach gateway"]),
        (["invoke", "fn"], ["cannot reach gateway"]),
        (["logs", "fn", "--tail=false"], ["cannot reach gateway"]),
        (["scale", "fn", "--replicas", "2"], ["cannot reach gateway"]),
        (["secret", "list"], ["cannot reach gateway"]),
        (["secret", "create", "k", "--from-literal", "v"], ["cannot reach gateway"]),
        (["namespaces"], ["cannot reach gateway"]),
        (["store", "deploy", "echo"], ["cannot reach gateway"]),
        (["async", "status", "abc"], ["cannot reach gateway"]),
        (["async", "dead-letters"], ["cannot reach gateway"]),
        (["async", "redrive", "abc"], ["cannot reach gateway"]),
        (["login", "--password-stdin"], ["cannot reach gateway"]),
    ],
)
def test_unreachable_gateway(tmp_path: Path, closed: str, args: list[str], fragments: list[str]) -> None:
    result = run_cli([*args, "-g", closed], env=cli_env(tmp_path), cwd=tmp_path, stdin=b"pw\n")
    line = result.assert_one_error(*fragments)
    assert closed in line


def test_unreachable_gateway_from_openfaas_url(tmp_path: Path, closed: str) -> None:
    result = run_cli(["list"], env=cli_env(tmp_path, OPENFAAS_URL=closed), cwd=tmp_path)
    result.assert_one_error(f"cannot reach gateway at {closed}")


def test_version_without_gateway_still_prints_the_cli_version(tmp_path: Path, closed: str) -> None:
    result = run_cli(["version", "-g", closed], env=cli_env(tmp_path), cwd=tmp_path)
    assert result.code == 0 and "CLI version" in result.stdout and "cannot reach" in result.stderr


def test_bad_stack_names_file_line_and_field(tmp_path: Path, closed: str) -> None:
    (tmp_path / "stack.yml").write_text(BAD_STACK)
    result = run_cli(["deploy", "-g", closed], env=cli_env(tmp_path), cwd=tmp_path)
    result.assert_one_error("stack.yml:8:", "functions.broken.labels", "expected a map")


def test_bad_stack_yaml_syntax(tmp_path: Path) -> None:
    (tmp_path / "s.yml").write_text("functions:\n  a: [\n")
    run_cli(["deploy", "-f", "s.yml"], env=cli_env(tmp_path), cwd=tmp_path).assert_one_error(
        "s.yml:", "invalid YAML"
    )


def test_broken_default_stack_only_warns_for_other_commands(tmp_path: Path, closed: str) -> None:
    (tmp_path / "stack.yml").write_text(BAD_STACK)
    result = run_cli(["list", "-g", closed], env=cli_env(tmp_path), cwd=tmp_path)
    assert result.code == 1
    assert len(result.error_lines()) == 2 and result.error_lines()[0].startswith(
        "Warning: ignoring stack.yml"
    )


def test_functions_py_errors(tmp_path: Path) -> None:
    (tmp_path / "functions.py").write_text(
        "from pyfaas.core.definitions import function\nf = function('Bad', image='x')\n"
    )
    run_cli(["deploy", "-f", "functions.py"], env=cli_env(tmp_path), cwd=tmp_path).assert_one_error("Bad")
    (tmp_path / "syntax.py").write_text("def (:\n")
    run_cli(["deploy", "-f", "syntax.py"], env=cli_env(tmp_path), cwd=tmp_path).assert_one_error(
        "syntax.py:1"
    )


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["deploy"], ["no stack.yaml or stack.yml here", "pyfaas new"]),
        (["deploy", "-f", "missing.yml"], ["missing.yml not found"]),
        (["deploy", "--name", "x"], ["needs --name and --image"]),
        (["deploy", "-e", "novalue"], ["--env 'novalue'", "key=value"]),
        (["remove"], ["nothing to remove"]),
        (["bogus"], ["No such command", "pyfaas --help"]),
        (["scale", "fn"], ["--replicas", "pyfaas scale --help"]),
        (["scale", "fn", "--replicas", "-1"], ["--replicas"]),
        (["invoke", "fn", "--method", "BREW"], ["BREW", "not supported"]),
        (["invoke", "fn", "--async", "--method", "GET"], ["always POST"]),
        (["invoke", "fn", "-H", "nokey"], ["--header 'nokey'"]),
        (["invoke", "fn", "--sign", "X-Sig"], ["--sign and --key"]),
        (["invoke", "fn", "--callback-url", "http://x"], ["needs --async"]),
        (["logs", "fn", "--since", "yesterday"], ["--since 'yesterday'", "5m"]),
        (["logs", "fn", "--since", "5m", "--since-time", "2024-01-01T00:00:00Z"], ["exclude each other"]),
        (["logs", "fn", "--since-time", "noon"], ["not an RFC3339 time"]),
        (["secret", "create", "Bad Name", "--from-literal", "v"], ["secret name", "invalid"]),
        (["secret", "create", "k", "--from-literal", "v", "--from-file", "f"], ["exclude each other"]),
        (["secret", "create", "k", "--from-file", "nofile"], ["cannot read", "nofile"]),
        (["secret", "create", "k"], ["empty value"]),
        (["login", "--password", "a", "--password-stdin"], ["exclude each other"]),
        (["login"], ["no password given", "--password-stdin"]),
        (["login", "--password-stdin"], ["password is empty"]),
        # the stores searched are named (several may be configured), then what they do offer
        (["store", "deploy", "no-such-fn"], ["'no-such-fn' is in no store (pyfaas)", "available: echo"]),
        # the path the user gave and the cause; the word store is left out (with several stores the
        # line reads "store NAME is down: cannot read PATH: ...")
        (
            ["store", "list", "--url", "/nonexistent/store.json"],
            ["cannot read /nonexistent/store.json", "No such"],
        ),
    ],
)
def test_usage_errors(tmp_path: Path, closed: str, args: list[str], fragments: list[str]) -> None:
    result = run_cli(args, env=cli_env(tmp_path, OPENFAAS_URL=closed), cwd=tmp_path)
    result.assert_one_error(*fragments)


def test_bad_environment_variable_is_one_line(tmp_path: Path) -> None:
    result = run_pyfaas(["list"], env=cli_env(tmp_path, CI="maybe"), cwd=tmp_path)
    result.assert_one_error("CI", "maybe")


def test_connection_refused_as_a_real_process(tmp_path: Path, closed: str) -> None:
    result = run_pyfaas(["list", "-g", closed], env=cli_env(tmp_path), cwd=tmp_path)
    assert result.code == 1
    assert result.stderr == f"Error: cannot reach gateway at {closed}: is it running? (pyfaas up)\n"
