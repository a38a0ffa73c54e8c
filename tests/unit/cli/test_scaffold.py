"""``new`` and ``template list``: handler folders from templates, stack entries appended in place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyfaas.cli.scaffold import add_to_stack
from pyfaas.core.stack import parse_stack
from tests.support.cli import cli_env, run_cli

EXISTING = """\
# my functions
version: 1.0
provider:
  name: openfaas
  gateway: http://gw.example:8080
functions:
  first:
    image: first:1  # pinned
  # the second one
  second:
    image: second:1

configuration:
  templates:
    - name: python3-http
"""


def test_new_creates_handler_and_stack(tmp_path: Path) -> None:
    result = run_cli(
        ["new", "hello", "--lang", "python3-http", "-p", "ghcr.io/me"], env=cli_env(tmp_path), cwd=tmp_path
    )
    assert result.code == 0, result.stderr
    assert "def handle(event, context)" in (tmp_path / "hello" / "handler.py").read_text()
    stack = parse_stack((tmp_path / "stack.yml").read_text())
    assert stack.gateway == "http://127.0.0.1:8080"
    [definition] = stack.functions
    assert (definition.name, definition.lang, definition.handler) == ("hello", "python3-http", "./hello")
    assert definition.deployment.image == "ghcr.io/me/hello:latest"


def test_new_appends_and_keeps_comments(tmp_path: Path) -> None:
    (tmp_path / "stack.yml").write_text(EXISTING)
    env = cli_env(tmp_path, OPENFAAS_PREFIX="registry.example/team")
    result = run_cli(["new", "third", "--lang", "python3"], env=env, cwd=tmp_path)
    assert result.code == 0, result.stderr
    text = (tmp_path / "stack.yml").read_text()
    assert text.startswith(EXISTING.split("\nconfiguration:")[0].rstrip("\n"))
    assert "# the second one" in text and "# pinned" in text and "templates:" in text
    stack = parse_stack(text)
    assert stack.names() == ["first", "second", "third"]
    assert stack.functions[2].deployment.image == "registry.example/team/third:latest"
    assert "def handle(req)" in (tmp_path / "third" / "handler.py").read_text()


@pytest.mark.parametrize(
    "text",
    [
        "provider:\n  name: openfaas\nfunctions:\n",
        "provider:\n  name: openfaas\nfunctions: {}\n",
        "provider:\n  name: openfaas\n",
    ],
)
def test_append_to_empty_functions(text: str) -> None:
    updated = add_to_stack(text, "stack.yml", "fn", "python3-http", "fn:latest")
    assert parse_stack(updated).names() == ["fn"]


def test_new_error_paths(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    run_cli(["new", "Bad_Name", "--lang", "python3-http"], env=env, cwd=tmp_path).assert_one_error("DNS-1123")
    run_cli(["new", "ok", "--lang", "cobol"], env=env, cwd=tmp_path).assert_one_error(
        "unknown template", "python3-http"
    )
    run_cli(["new", "ok"], env=env, cwd=tmp_path).assert_one_error("--lang")
    (tmp_path / "taken").mkdir()
    run_cli(["new", "taken", "--lang", "python3"], env=env, cwd=tmp_path).assert_one_error("already exists")
    (tmp_path / "stack.yml").write_text(EXISTING)
    run_cli(["new", "first", "--lang", "python3"], env=env, cwd=tmp_path).assert_one_error(
        "already has a function"
    )
    assert not (tmp_path / "first").exists()


def test_template_list_includes_pulled_templates(tmp_path: Path) -> None:
    (tmp_path / "template" / "go-http" / "function").mkdir(parents=True)
    (tmp_path / "template" / "go-http" / "template.yml").write_text("language: go\nfprocess: ./handler\n")
    (tmp_path / "template" / "python3" / "function").mkdir(parents=True)  # hides the built-in python3
    (tmp_path / "template" / "python3" / "template.yml").write_text(
        "language: python3\nfprocess: python3 x.py\n"
    )
    result = run_cli(["template", "list", "--json"], env=cli_env(tmp_path), cwd=tmp_path)
    assert result.code == 0
    listed = {t["name"]: (t["origin"], t["mode"]) for t in json.loads(result.stdout)}
    assert listed == {
        "go-http": ("./template", "fork"),
        "python3": ("./template", "fork"),
        "bash-streaming": ("built in", "streaming"),
        "dockerfile": ("built in", "image"),
        "golang-http": ("built in", "http"),
        "node20": ("built in", "http"),
        "python3-http": ("built in", "python"),
    }
    table = run_cli(["template", "list"], env=cli_env(tmp_path), cwd=tmp_path)
    assert [line.split()[0] for line in table.stdout.splitlines()[1:]][:2] == ["go-http", "python3"]
    (tmp_path / "template" / "go-http" / "function" / "handler.go").write_text("package function\n")
    created = run_cli(["new", "gofn", "--lang", "go-http"], env=cli_env(tmp_path), cwd=tmp_path)
    assert created.code == 0, created.stderr
    assert (tmp_path / "gofn" / "handler.go").is_file()
