"""A community template repository in OpenFaaS's layout (``template/<name>/``), made as a local git repository
in the test (no network): ``pyfaas template pull`` from it (a tag, then a plain folder with --overwrite),
``template list``, ``new --lang`` from the pulled template, deploy, calls, logs; and the pull errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.templates.conftest import Project
from tests.support.polling import wait_value

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

# An http-mode template written the way OpenFaaS's are: its own server (Python's standard library here),
# the watchdog settings in the Dockerfile, the port from http_port.
SERVER = """\
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from function import handler


class Serve(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer = handler.handle(body.decode()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format, *args):
        print("served", format % args, flush=True)


ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("http_port", "5000"))), Serve).serve_forever()
"""

DOCKERFILE = """\
FROM python:3.12-slim AS base
ENV mode="streaming"

FROM base
WORKDIR /home/app
COPY . .
ENV fprocess="python3 server.py" \\
    mode="http" \\
    upstream_url="http://127.0.0.1:5000"
CMD ["fwatchdog"]
"""


def _template_repository(root: Path, welcome: str) -> None:
    template = root / "template" / "py-mini"
    (template / "function").mkdir(parents=True, exist_ok=True)
    (template / "template.yml").write_text(
        f"language: py-mini\nfprocess: python3 server.py\nwelcome_message: {welcome}\n"
    )
    (template / "Dockerfile").write_text(DOCKERFILE)
    (template / "server.py").write_text(SERVER)
    (template / "function" / "__init__.py").write_text("")
    (template / "function" / "handler.py").write_text("def handle(req):\n    return 'mini: ' + req\n")
    (root / "template" / "no-spec").mkdir(exist_ok=True)  # not a template: skipped with a warning
    (root / "template" / "no-spec" / "README").write_text("nothing here\n")


def _git(repository: Path, *args: str) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(repository.parent),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    git = shutil.which("git") or "git"
    subprocess.run([git, *args], cwd=repository, env=env, check=True, capture_output=True, timeout=60)


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A git repository: tag v1 says 'first', the branch head says 'second'."""
    root = tmp_path / "community-templates"
    root.mkdir()
    _git(root, "init", "--quiet", "--initial-branch", "main")
    _template_repository(root, "first")
    _git(root, "add", "-A")
    _git(root, "commit", "--quiet", "-m", "first")
    _git(root, "tag", "v1")
    _template_repository(root, "second")
    _git(root, "commit", "--quiet", "-am", "second")
    return root


def test_pull_a_community_template_and_deploy_it(project: Project, repository: Path) -> None:
    pulled = project.ok("template", "pull", f"file://{repository}#v1")
    assert "Fetched 1 template(s): py-mini" in pulled.stdout
    assert "skipped no-spec" in pulled.stderr
    spec = project.folder / "template" / "py-mini" / "template.yml"
    assert "welcome_message: first" in spec.read_text()

    again = project.ok("template", "pull", str(repository))  # a plain folder: its working tree
    assert "Kept py-mini" in again.stderr and "welcome_message: first" in spec.read_text()
    project.ok("template", "pull", str(repository), "--overwrite")
    assert "welcome_message: second" in spec.read_text()

    listed = {t["name"]: t for t in json.loads(project.ok("template", "list", "--json").stdout)}
    assert listed["py-mini"]["origin"] == "./template" and listed["py-mini"]["mode"] == "http"
    assert listed["node20"]["origin"] == "built in"

    created = project.ok("new", "mini", "--lang", "py-mini")
    assert "second" in created.stdout  # the template's welcome message
    (project.folder / "mini" / "handler.py").write_text("def handle(req):\n    return 'pulled: ' + req\n")
    project.ok("deploy")
    try:
        [described] = [f for f in json.loads(project.ok("list", "--json").stdout) if f["name"] == "mini"]
        assert described["envVars"]["mode"] == "http"
        assert described["envVars"]["upstream_url"] == "http://127.0.0.1:0"  # a port per replica
        assert project.call("mini", b"hello").text == "pulled: hello"
        project.ok("scale", "mini", "--replicas", "2")  # two servers on one host: no port clash
        wait_value(
            lambda: json.loads(project.ok("describe", "mini", "--json").stdout).get("availableReplicas"),
            lambda available: available == 2,
            30,
            what="the second replica to become ready",
        )
        assert all(project.call("mini", b"x").text == "pulled: x" for _ in range(4))
        record = project.async_call("mini", b"later")
        assert record["state"] == "succeeded", record
        project.logs_until("mini", "served")
    finally:
        project.run("remove", "mini")


def test_pull_errors(project: Project, tmp_path: Path) -> None:
    empty = tmp_path / "not-templates"
    empty.mkdir()
    project.run("template", "pull", str(empty)).assert_one_error("no template/ folder")
    missing = f"file://{tmp_path / 'nowhere'}"
    project.run("template", "pull", missing).assert_one_error("cannot clone", "nowhere")
    (empty / "template" / "bad").mkdir(parents=True)
    (empty / "template" / "bad" / "template.yml").write_text("build_options: 7\n")
    failed = project.run("template", "pull", str(empty))
    assert failed.code != 0 and "bad" in failed.stderr and "build_options" in failed.stderr
    built_in = project.ok("template", "store", "pull", "node20")
    assert "built in" in built_in.stdout and not (project.folder / "template").exists()


def test_pull_stack_fetches_the_templates_the_stack_lists(project: Project, repository: Path) -> None:
    """faas-cli's ``template pull stack``: configuration.templates, each from its source or the index."""
    (project.folder / "stack.yml").write_text(
        "version: 1.0\nprovider:\n  name: openfaas\nfunctions: {}\nconfiguration:\n  templates:\n"
        f"    - name: py-mini\n      source: file://{repository}#v1\n"
        "    - name: node20\n"
    )
    pulled = project.ok("template", "pull", "stack")
    assert "Fetched 1 template(s): py-mini" in pulled.stdout
    assert "Built in, nothing to pull: node20" in pulled.stderr
    assert "welcome_message: first" in (project.folder / "template" / "py-mini" / "template.yml").read_text()
    assert sorted(p.name for p in (project.folder / "template").iterdir()) == ["py-mini"]  # not no-spec
    (project.folder / "stack.yml").write_text(
        "provider:\n  name: openfaas\nfunctions: {}\nconfiguration:\n  templates:\n    - name: cobol\n"
    )
    project.run("template", "pull", "stack").assert_one_error("cobol", "no source")
