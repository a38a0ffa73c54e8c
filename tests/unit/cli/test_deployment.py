"""Stack definitions → deployments: local mode (handler folders, fork mode) and command-line overrides."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pyfaas.cli.deployment import Overrides, prepare
from pyfaas.cli.errors import CliError
from pyfaas.core.definitions import FunctionDefinition
from pyfaas.core.stack import parse_stack

STACK = """\
provider: {name: openfaas}
functions:
  web:
    lang: python3-http
    handler: ./web
    image: ex/web:1
    fprocess: python index.py
    environment: {a: "1"}
    secrets: [s1]
  classic:
    lang: python3
    handler: ./classic
    image: ex/classic:1
  cmd:
    lang: dockerfile
    image: ex/cmd:1
    fprocess: wc -l
  custom-mode:
    image: ex/custom:1
    fprocess: ./server
    environment: {mode: http}
  image-only:
    image: nginx:1
"""


@pytest.fixture
def functions(tmp_path: Path) -> dict[str, FunctionDefinition]:
    for folder in ("web", "classic"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "handler.py").write_text("def handle(req):\n    return req\n")
    return {f.name: f for f in parse_stack(STACK).functions}


def test_local_mode_runs_handlers_and_commands(
    tmp_path: Path, functions: dict[str, FunctionDefinition]
) -> None:
    defs = functions
    web = prepare(defs["web"], tmp_path, local=True)
    assert web.envVars == {"a": "1", "mode": "python", "handler": str((tmp_path / "web").resolve())}
    assert web.envProcess is None and web.image == "ex/web:1" and web.secrets == ["s1"]
    # the classic python3 template: built (copied) into the cache and run per request in fork mode
    environ = {"PATH": os.environ["PATH"], "XDG_CACHE_HOME": str(tmp_path / "cache")}
    classic = prepare(defs["classic"], tmp_path, local=True, environ=environ)
    # mode and timeouts as the template's image sets them
    assert classic.envVars == {
        "mode": "fork",
        "combine_output": "false",
        "exec_timeout": "30s",
        "write_timeout": "35s",
    }
    assert classic.envProcess is not None
    env_c, chdir, folder, python, script = classic.envProcess.split(" ")
    assert (env_c, chdir, python, script) == ("env", "-C", sys.executable, "index.py")
    assert Path(folder).parent.parent == tmp_path / "cache" / "pyfaas" / "builds"
    assert (Path(folder) / "function" / "handler.py").read_text() == "def handle(req):\n    return req\n"
    command = prepare(defs["cmd"], tmp_path, local=True)
    assert command.envVars == {"mode": "fork"} and command.envProcess == "wc -l"
    assert prepare(defs["custom-mode"], tmp_path, local=True).envVars == {"mode": "http"}
    with pytest.raises(
        CliError, match="local mode runs python3-http handlers, template functions or fprocess"
    ):
        prepare(defs["image-only"], tmp_path, local=True)


def test_image_mode_sends_the_stack_as_written(
    tmp_path: Path, functions: dict[str, FunctionDefinition]
) -> None:
    web = functions["web"]
    spec = prepare(web, tmp_path, local=False)
    assert spec == web.deployment
    assert spec.envProcess == "python index.py" and spec.envVars == {"a": "1"}


def test_missing_handler_folder_names_the_function(tmp_path: Path) -> None:
    [definition] = parse_stack(
        "provider: {name: openfaas}\nfunctions:\n  f:\n    lang: python3-http\n"
        "    handler: ./nowhere\n    image: x\n",
        filename="s.yml",
    ).functions
    with pytest.raises(CliError) as caught:
        prepare(definition, tmp_path, local=True)
    assert "function 'f' (s.yml:3)" in caught.value.message and "no handler.py" in caught.value.message


def test_overrides_merge_after_the_stack(tmp_path: Path, functions: dict[str, FunctionDefinition]) -> None:
    web = functions["web"]
    overrides = Overrides(
        env={"a": "2", "b": "3"},
        labels={"l": "v"},
        annotations={"x": "y"},
        secrets=["s1", "s2"],
        namespace="team",
    )
    spec = prepare(web, tmp_path, local=False, overrides=overrides)
    assert spec.envVars == {"a": "2", "b": "3"}
    assert spec.labels == {"l": "v"} and spec.annotations == {"x": "y"}
    assert spec.secrets == ["s1", "s2"] and spec.namespace == "team"


def test_template_functions_run_in_their_images_mode_and_the_stack_env_wins(tmp_path: Path) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "handler.js").write_text("module.exports = async () => 'hi'\n")
    stack = parse_stack(
        "provider: {name: openfaas}\nfunctions:\n"
        "  web:\n    lang: node20\n    handler: ./web\n    image: x\n"
        "  fixed:\n    lang: node20\n    handler: ./web\n    image: x\n"
        "    environment: {upstream_url: 'http://127.0.0.1:3000'}\n"
    )
    environ = {"PATH": os.environ["PATH"], "XDG_CACHE_HOME": str(tmp_path / "cache")}
    web, fixed = (prepare(f, tmp_path, local=True, environ=environ) for f in stack.functions)
    assert web.envVars is not None and web.envVars["mode"] == "http"
    assert web.envVars["upstream_url"] == "http://127.0.0.1:0"  # a free port per replica
    assert web.envProcess is not None and web.envProcess.endswith(" node index.js")
    assert fixed.envVars is not None and fixed.envVars["upstream_url"] == "http://127.0.0.1:3000"


def test_a_declared_timeout_replaces_the_templates_timeouts_but_not_the_stacks(
    tmp_path: Path, functions: dict[str, FunctionDefinition]
) -> None:
    stack = parse_stack(
        "provider: {name: openfaas}\nfunctions:\n"
        "  plain:\n    lang: python3\n    handler: ./classic\n    image: x\n"
        "  timed:\n    lang: python3\n    handler: ./classic\n    image: x\n"
        "    annotations: {com.openfaas.timeout: 2m}\n"
        "  explicit:\n    lang: python3\n    handler: ./classic\n    image: x\n"
        "    annotations: {com.openfaas.timeout: 2m}\n    environment: {write_timeout: 5m}\n"
    )
    environ = {"PATH": os.environ["PATH"], "XDG_CACHE_HOME": str(tmp_path / "cache")}
    plain, timed, explicit = (prepare(f, tmp_path, local=True, environ=environ) for f in stack.functions)
    assert plain.envVars is not None and plain.envVars["exec_timeout"] == "30s"  # the template's default
    assert timed.envVars is not None and "exec_timeout" not in timed.envVars  # derived by the provider
    assert explicit.envVars is not None and explicit.envVars["write_timeout"] == "5m"
    assert "exec_timeout" not in explicit.envVars
