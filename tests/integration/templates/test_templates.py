"""Every built-in template end to end on a real platform: ``pyfaas new`` → a handler that reads an
environment variable and a secret and logs a line → ``pyfaas deploy`` (local mode builds it with the machine's
toolchain) → sync call → async call → logs → remove. Plus the build cache, the missing-toolchain error and
the dockerfile template without an fprocess."""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.templates.conftest import Project
from tests.support.polling import wait_value

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SECRET = "tpl-secret"


@dataclass(frozen=True)
class Handler:
    files: dict[str, str]
    mode: str
    """The watchdog mode the deployed function runs in."""
    extra: str = ""
    """Added to the function's stack entry."""


HANDLERS: dict[str, Handler] = {
    "python3": Handler(
        {
            "handler.py": """\
import os
import sys


def handle(req):
    folder = os.environ.get("secret_mount_path", "/var/openfaas/secrets")
    with open(os.path.join(folder, "tpl-secret")) as secret:
        value = secret.read()
    print(f"handled {len(req)} bytes", file=sys.stderr)
    return f"python3|{os.environ['GREETING']}|{value}|{req}"
"""
        },
        "fork",
    ),
    "node20": Handler(
        {
            "handler.js": """\
'use strict'
const fs = require('node:fs')
const path = require('node:path')

module.exports = async (event, context) => {
  const folder = process.env.secret_mount_path || '/var/openfaas/secrets'
  const secret = fs.readFileSync(path.join(folder, 'tpl-secret'), 'utf8')
  console.log(`handled ${event.rawBody.length} bytes`)
  return context
    .status(200)
    .headers({ 'X-Lang': 'node20' })
    .succeed(`node20|${process.env.GREETING}|${secret}|${event.body}`)
}
"""
        },
        "http",
    ),
    "golang-http": Handler(
        {
            "handler.go": """\
package function

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
)

func Handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	folder := os.Getenv("secret_mount_path")
	if folder == "" {
		folder = "/var/openfaas/secrets"
	}
	secret, err := os.ReadFile(filepath.Join(folder, "tpl-secret"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	log.Printf("handled %d bytes", len(body))
	fmt.Fprintf(w, "golang-http|%s|%s|%s", os.Getenv("GREETING"), secret, body)
}
"""
        },
        "http",
    ),
    "bash-streaming": Handler(
        {
            "handler.sh": """\
#!/usr/bin/env bash
set -euo pipefail
body=$(cat)
secret=$(cat "${secret_mount_path:-/var/openfaas/secrets}/tpl-secret")
echo "handled ${#body} bytes" >&2
printf 'bash-streaming|%s|%s|%s' "$GREETING" "$secret" "$body"
"""
        },
        "streaming",
    ),
    "dockerfile": Handler(
        {
            "run.sh": """\
#!/bin/sh
body=$(cat)
secret=$(cat "${secret_mount_path:-/var/openfaas/secrets}/tpl-secret")
echo "handled ${#body} bytes" >&2
printf 'dockerfile|%s|%s|%s' "$GREETING" "$secret" "$body"
"""
        },
        "fork",
        # the image's command, run from the handler folder; stderr to the logs, not into the answer
        extra='    fprocess: sh run.sh\n    environment:\n      combine_output: "false"\n',
    ),
}


def _scaffold(project: Project, name: str, lang: str) -> Path:
    created = project.ok("new", name, "--lang", lang)
    assert f"Created {name}/ from template {lang}" in created.stdout
    folder = project.folder / name
    for filename, content in HANDLERS[lang].files.items():
        (folder / filename).write_text(content)
    stack = project.folder / "stack.yml"
    entry = f"    image: {name}:latest\n"
    extra = HANDLERS[lang].extra or "    environment:\n"
    settings = f"      GREETING: hi-{lang}\n    secrets:\n      - {SECRET}\n"
    stack.write_text(stack.read_text().replace(entry, entry + extra + settings))
    return folder


@pytest.mark.parametrize("lang", list(HANDLERS))
def test_template_scaffold_deploy_call_logs_secret_remove(project: Project, lang: str) -> None:
    name = f"tpl-{lang}"
    _scaffold(project, name, lang)
    project.ok("secret", "create", SECRET, "--from-literal", f"s3cret-{lang}")
    try:
        deployed = project.ok("deploy")
        assert name in deployed.stdout
        [described] = [f for f in json.loads(project.ok("list", "--json").stdout) if f["name"] == name]
        assert described["envVars"]["mode"] == HANDLERS[lang].mode

        answer = project.call(name, b"ping")
        assert answer.status_code == 200, answer.text
        assert answer.text == f"{lang}|hi-{lang}|s3cret-{lang}|ping"
        if lang == "node20":
            assert answer.headers["x-lang"] == "node20"

        record = project.async_call(name, b"later")
        assert record["state"] == "succeeded" and record["lastStatus"] == 200, record

        project.logs_until(name, "handled 5 bytes")  # the async call's line, from the function itself
    finally:
        project.run("remove", name)
        project.run("secret", "remove", SECRET)
    assert project.call(name, b"gone").status_code == 404


def test_builds_are_reused_until_a_source_changes(project: Project) -> None:
    """golang-http: the second deploy reuses the binary; editing handler.go builds again."""
    name = "tpl-cache"
    folder = project.folder / name
    project.ok("new", name, "--lang", "golang-http")
    first = project.ok("deploy")
    assert f"Building {name}: go build" in first.stderr
    try:
        assert project.call(name, b"one").text == "Hello from pyfaas, you said: one"
        again = project.ok("deploy")
        assert "Building" not in again.stderr
        source = (folder / "handler.go").read_text().replace("you said", "you wrote")
        (folder / "handler.go").write_text(source)
        changed = project.ok("deploy")
        assert f"Building {name}: go build" in changed.stderr
        # the rolling update: the old replica answers until the new one is ready
        old, new = "Hello from pyfaas, you said: two", "Hello from pyfaas, you wrote: two"

        def answer() -> str:
            text = project.call(name, b"two").text
            assert text in (old, new), text  # the old replica answers until the new one is ready
            return text

        wait_value(answer, lambda text: text == new, 30, interval=0.05)
    finally:
        project.run("remove", name)


def test_node_dependencies_are_installed_per_function_with_npm_ci(project: Project) -> None:
    """A package-lock.json: ``npm ci`` into the function's own build folder (a local tarball: no network)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed (Debian package npm)")
    name = "tpl-npm"
    folder = project.folder / name
    project.ok("new", name, "--lang", "node20")
    package = project.folder / "shout"
    package.mkdir()
    (package / "package.json").write_text(json.dumps({"name": "shout", "version": "1.0.0"}))
    (package / "index.js").write_text("module.exports = (s) => s.toUpperCase() + '!'\n")

    def run_npm(*args: str, cwd: Path) -> None:
        env = {**os.environ, **project.env}
        subprocess.run([npm, *args], cwd=cwd, env=env, capture_output=True, check=True, timeout=120)

    run_npm("pack", "--silent", cwd=package)
    # what a user does: npm install --save, which writes the lockfile deploy then runs npm ci from
    run_npm(
        "install", "--offline", "--no-audit", "--no-fund", f"file:{package / 'shout-1.0.0.tgz'}", cwd=folder
    )
    assert (folder / "package-lock.json").is_file()
    (folder / "handler.js").write_text(
        "const shout = require('shout')\n"
        "module.exports = async (event, context) => context.succeed(shout(event.body))\n"
    )
    deployed = project.ok("deploy")
    assert f"Building {name}: npm ci" in deployed.stderr
    try:
        assert project.call(name, b"quiet").text == "QUIET!"
        [described] = [f for f in json.loads(project.ok("list", "--json").stdout) if f["name"] == name]
        build = Path(described["envProcess"].split(" ")[2])
        installed = build / "function" / "node_modules" / "shout"
        assert installed.is_dir() and not installed.is_symlink()  # in the function's own build folder
        assert project.folder not in build.parents
        # a handler change with the same lockfile: a new build, its node_modules linked from the last one
        (folder / "handler.js").write_text(
            "const shout = require('shout')\n"
            "module.exports = async (event, context) => context.succeed(shout('again ' + event.body))\n"
        )
        again = project.ok("deploy")
        assert "npm ci" not in again.stderr

        def shouted() -> str:
            text = project.call(name, b"x").text
            assert text in ("X!", "AGAIN X!"), text  # the old replica, until replaced
            return text

        wait_value(shouted, lambda text: text == "AGAIN X!", 30, interval=0.05)
    finally:
        project.run("remove", name)


@pytest.mark.parametrize(
    ("lang", "missing", "package"), [("golang-http", "go", "golang-go"), ("node20", "node", "nodejs")]
)
def test_a_missing_toolchain_names_the_debian_package(
    project: Project, tmp_path: Path, lang: str, missing: str, package: str
) -> None:
    bin_dir = tmp_path / "bin"  # a PATH with coreutils' env only
    bin_dir.mkdir()
    (bin_dir / "env").symlink_to(shutil.which("env") or "/usr/bin/env")
    name = f"tpl-no-{missing}"
    project.ok("new", name, "--lang", lang)
    project.env["PATH"] = str(bin_dir)
    failed = project.run("deploy")
    failed.assert_one_error(name, f"`{missing}`", f"apt-get install {package}")


def test_dockerfile_without_fprocess_is_image_only(project: Project) -> None:
    name = "tpl-image-only"
    created = project.ok("new", name, "--lang", "dockerfile")
    assert "fprocess" in created.stdout  # the welcome message says local mode needs one
    assert (project.folder / name / "Dockerfile").is_file()
    project.run("deploy").assert_one_error(name, "image-only", "fprocess")


def test_new_copies_executable_bits_and_only_the_skeleton(project: Project) -> None:
    project.ok("new", "tpl-bits", "--lang", "bash-streaming")
    script = project.folder / "tpl-bits" / "handler.sh"
    assert script.stat().st_mode & stat.S_IXUSR
    assert sorted(os.listdir(project.folder / "tpl-bits")) == ["handler.sh"]


SLOW_HANDLERS = {
    "node20": (
        "handler.js",
        """\
module.exports = async (event, context) => {
  console.log('started')
  await new Promise((resolve) => setTimeout(resolve, 1500))
  return context.succeed('done')
}
""",
    ),
    "golang-http": (
        "handler.go",
        """\
package function

import (
	"fmt"
	"log"
	"net/http"
	"time"
)

func Handle(w http.ResponseWriter, r *http.Request) {
	log.Print("started")
	time.Sleep(1500 * time.Millisecond)
	fmt.Fprint(w, "done")
}
""",
    ),
}


@pytest.mark.parametrize("lang", list(SLOW_HANDLERS))
def test_http_mode_functions_drain_in_flight_calls_when_scaled_down(project: Project, lang: str) -> None:
    name = f"tpl-drain-{lang}"
    project.ok("new", name, "--lang", lang)
    filename, source = SLOW_HANDLERS[lang]
    (project.folder / name / filename).write_text(source)
    project.ok("deploy")
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(project.call, name, b"")
            project.logs_until(name, "started")
            project.ok("scale", name, "--replicas", "0")  # SIGTERM to the replica while the call runs
            answer = in_flight.result(timeout=30)
        assert (answer.status_code, answer.text) == (200, "done")
        wait_value(
            lambda: json.loads(project.ok("describe", name, "--json").stdout).get("availableReplicas", 0),
            lambda available: available == 0,
            30,
            what="the replica to exit after draining",
        )
    finally:
        project.run("remove", name)
