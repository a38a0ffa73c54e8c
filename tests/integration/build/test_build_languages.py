"""``pyfaas build`` of one function per language template, without a Docker daemon.

One stack of five functions (classic Python, Bash streaming, Go, Node.js 20, a Dockerfile of its own) is
built once for the module on a small base; each test reads what the image holds: the config the template's
Dockerfile asks for (env, command, user), and the layer with the handler, the Go binary (built here with
``go build``, run here and answering), ``node_modules`` from ``npm ci`` (a dependency packed here, no
registry) and the Node.js runtime from this machine's Debian package. The base carries a dpkg status of this
machine's packages except ``nodejs``, so the Node layer is that package alone; the cluster test builds on a
debootstrapped base, where its dependencies are added too.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from pyfaas.build.oci import build_image, read_layout, write_layer, write_layout
from tests.support.cli import cli_env, run_cli
from tests.support.gateway import free_port
from tests.support.polling import eventually

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[3]
TEMPLATES = REPO / "templates"
LANGUAGES = ("python3", "bash-streaming", "golang-http", "node20", "dockerfile")
NODE_HANDLER = """const tiny = require("tiny");
module.exports = async (event, context) => context.status(200).succeed(tiny.greet(String(event.body)));
"""
GO_HANDLER = """package function

import (
\t"fmt"
\t"io"
\t"net/http"
)

func Handle(w http.ResponseWriter, r *http.Request) {
\tbody, _ := io.ReadAll(r.Body)
\tfmt.Fprintf(w, "go says: %s", body)
}
"""
OWN_DOCKERFILE = """FROM debian:bookworm-slim
ARG PYFAAS_SPEC=pyfaas
RUN pip install "${PYFAAS_SPEC}" && useradd --uid 1001 worker
WORKDIR /srv
COPY --chown=worker:worker run.sh ./
LABEL org.example.kind="own"
USER worker
ENV mode="fork" fprocess="sh run.sh"
EXPOSE 8080
CMD ["pyfaas-watchdog"]
"""


@dataclass(frozen=True)
class Built:
    digest: str
    layout: Path
    config: dict[str, Any]
    members: dict[str, tarfile.TarInfo]
    layers: list[Path]

    def read(self, name: str) -> bytes:
        for path in reversed(self.layers):
            with tarfile.open(fileobj=io.BytesIO(_plain(path))) as tar:
                if name in tar.getnames():
                    extracted = tar.extractfile(name)
                    assert extracted is not None
                    return extracted.read()
        raise KeyError(name)


def _plain(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


@pytest.fixture(scope="module")
def debian_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This Python and /etc/passwd, with this machine's dpkg status less ``nodejs``."""
    status = Path("/var/lib/dpkg/status").read_text()
    kept = [block for block in status.split("\n\n") if block.strip() and "Package: nodejs\n" not in block]
    folder = tmp_path_factory.mktemp("debian-base")
    interpreter = Path(sys.base_prefix) / "bin" / f"python3.{sys.version_info.minor}"
    layer = write_layer(
        {
            f"usr/bin/python3.{sys.version_info.minor}": interpreter.resolve(),
            "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\n",
            "etc/group": b"root:x:0:\n",
            "var/lib/dpkg/status": ("\n\n".join(kept) + "\n").encode(),
        },
        folder / "layer.tar.gz",
        symlinks={"bin": "usr/bin", "lib": "usr/lib"},
    )
    write_layout(build_image(None, [layer], cmd=["python3"]), folder / "layout", "localhost/debian-base:1")
    return folder / "layout"


def _tiny_package(root: Path) -> Path:
    """``tiny-1.0.0.tgz``, packed here with npm (a pure-JavaScript dependency, no registry)."""
    source = root / "tiny-src"
    source.mkdir(parents=True)
    (source / "package.json").write_text(json.dumps({"name": "tiny", "version": "1.0.0", "main": "index.js"}))
    (source / "index.js").write_text('exports.greet = (text) => "tiny greets " + text;\n')
    subprocess.run(["npm", "pack", "--silent"], cwd=source, check=True, capture_output=True, timeout=120)
    return source / "tiny-1.0.0.tgz"


def write_project(root: Path) -> Path:
    """A stack with one function per language: each template's skeleton, some with a handler of ours."""
    stack = "version: 1.0\nprovider: {name: openfaas}\nfunctions:\n"
    for language in LANGUAGES:
        name = f"fn-{language}"
        folder = root / name
        skeleton = TEMPLATES / language / "function"
        shutil.copytree(skeleton, folder, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
        stack += f"  {name}:\n    lang: {language}\n    handler: ./{name}\n    image: localhost/{name}:1\n"
    (root / "fn-golang-http" / "handler.go").write_text(GO_HANDLER)
    node = root / "fn-node20"
    tarball = _tiny_package(root / "npm")
    package = json.loads((node / "package.json").read_text())
    package["dependencies"] = {"tiny": f"file:{tarball}"}
    (node / "package.json").write_text(json.dumps(package, indent=2))
    subprocess.run(
        ["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=node,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (node / "node_modules" / "stale").mkdir(parents=True)  # what local mode installs is not copied
    (node / "handler.js").write_text(NODE_HANDLER)
    own = root / "fn-dockerfile"
    (own / "Dockerfile").write_text(OWN_DOCKERFILE)
    (own / "run.sh").write_text("cat\n")
    (root / "stack.yml").write_text(stack)
    return root


def build(root: Path, base: Path, *extra: str) -> dict[str, dict[str, str]]:
    result = run_cli(["build", "--base", str(base), "--json", *extra], env=cli_env(root / "home"), cwd=root)
    assert result.code == 0, result.stderr
    return {
        item["name"]: {key: str(value) for key, value in item.items()} for item in json.loads(result.stdout)
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, debian_base: Path) -> dict[str, Built]:
    root = write_project(tmp_path_factory.mktemp("languages"))
    images: dict[str, Built] = {}
    for name, item in build(root, debian_base).items():
        layout = Path(item["layout"])
        image = read_layout(layout)
        members: dict[str, tarfile.TarInfo] = {}
        for layer in image.layers[1:]:
            with tarfile.open(fileobj=io.BytesIO(_plain(layer.path))) as tar:
                members |= {member.name: member for member in tar}
        images[name.removeprefix("fn-")] = Built(
            item["digest"],
            layout,
            image.config["config"],
            members,
            [layer.path for layer in image.layers[1:]],
        )
    return images


def _env(image: Built) -> dict[str, str]:
    return dict(item.split("=", 1) for item in image.config["Env"])


def test_classic_python_and_bash_streaming(built: dict[str, Built]) -> None:
    for language, mode, fprocess, handler in (
        ("python3", "fork", "python3 index.py", "home/app/function/handler.py"),
        ("bash-streaming", "streaming", "bash function/handler.sh", "home/app/function/handler.sh"),
    ):
        image = built[language]
        assert image.config["Cmd"] == ["pyfaas-watchdog"] and image.config["User"] == "1000:1000"
        assert _env(image)["mode"] == mode and _env(image)["fprocess"] == fprocess
        assert handler in image.members and image.members["home/app"].uid == 1000
        assert image.members["usr/local/bin/pyfaas-watchdog"].mode == 0o755
        assert b"app:x:1000:1000" in image.read("etc/passwd")


def test_go_binary_is_built_here_reproducibly_and_answers(
    built: dict[str, Built], tmp_path: Path, debian_base: Path
) -> None:
    image = built["golang-http"]
    assert _env(image)["mode"] == "http" and _env(image)["fprocess"] == "./handler"
    assert image.config["WorkingDir"] == "/home/app" and image.config["User"] == "1000:1000"
    binary = image.members["home/app/handler"]
    assert binary.mode == 0o755 and binary.size > 1_000_000
    assert not [name for name in image.members if name.startswith(("go/", "out/"))]  # build stage left out
    # the same sources in another folder: the same binary, the same image
    again = build(write_project(tmp_path / "again"), debian_base, "--filter", "fn-golang-http")
    assert again["fn-golang-http"]["digest"] == image.digest
    # the binary from the layer serves function.Handle on http_port
    program = tmp_path / "handler"
    program.write_bytes(image.read("home/app/handler"))
    program.chmod(0o755)
    port = free_port()
    process = subprocess.Popen([str(program)], env={"http_port": str(port)})
    try:

        async def answer() -> int | str:
            async with httpx.AsyncClient() as client:
                try:
                    response = await client.post(f"http://127.0.0.1:{port}/", content=b"hi", timeout=2)
                except httpx.TransportError as exc:
                    return repr(exc)
                return response.text if response.status_code == 200 else response.status_code

        assert asyncio.run(eventually(answer, lambda value: value == "go says: hi", within=30))
    finally:
        process.terminate()
        process.wait(10)


def test_node_gets_node_modules_from_npm_ci_and_this_machines_node(built: dict[str, Built]) -> None:
    image = built["node20"]
    env = _env(image)
    assert env["mode"] == "http" and env["fprocess"] == "node index.js" and env["NODE_ENV"] == "production"
    assert image.config["WorkingDir"] == "/home/node/app" and image.config["User"] == "1000:1000"
    members = image.members
    app = "home/node/app/function"
    assert f"{app}/handler.js" in members and "home/node/app/index.js" in members
    assert f"{app}/node_modules/tiny/index.js" in members and f"{app}/node_modules/stale" not in members
    assert members[f"{app}/node_modules/tiny/index.js"].uid == 1000  # chown -R node:node
    assert b"tiny greets" in image.read(f"{app}/node_modules/tiny/index.js")
    assert members["usr/bin/node"].mode == 0o755 and "usr/bin/npm" not in members
    assert b"node:x:1000:1000" in image.read("etc/passwd")
    assert b"Package: nodejs\n" in image.read("var/lib/dpkg/status")
    assert "usr/local/bin/pyfaas-watchdog" in members


def test_own_dockerfile_builds_what_the_builder_can_read(built: dict[str, Built]) -> None:
    image = built["dockerfile"]
    assert image.config["WorkingDir"] == "/srv" and image.config["User"] == "1001:1001"
    assert image.config["Labels"]["org.example.kind"] == "own"
    assert _env(image)["fprocess"] == "sh run.sh"
    assert image.members["srv/run.sh"].uid == 1001 and "srv/Dockerfile" not in image.members
    assert "usr/local/bin/pyfaas-watchdog" in image.members


def test_the_dockerfile_skeleton_builds(tmp_path: Path, debian_base: Path) -> None:
    (tmp_path / "own").mkdir()
    shutil.copy(TEMPLATES / "dockerfile" / "function" / "Dockerfile", tmp_path / "own")
    (tmp_path / "stack.yml").write_text(
        "version: 1.0\nprovider: {name: openfaas}\nfunctions:\n"
        "  own:\n    lang: dockerfile\n    handler: ./own\n    image: localhost/own:1\n"
    )
    image = read_layout(Path(build(tmp_path, debian_base)["own"]["layout"]))
    assert {"mode=fork", "fprocess=cat"} <= set(image.config["config"]["Env"])


def test_what_cannot_be_built_here_is_refused_with_its_line(tmp_path: Path, debian_base: Path) -> None:
    root = tmp_path / "p"
    (root / "own").mkdir(parents=True)
    (root / "own" / "Dockerfile").write_text("FROM debian:bookworm-slim\nCOPY . .\nRUN make all\n")
    (root / "stack.yml").write_text(
        "version: 1.0\nprovider: {name: openfaas}\nfunctions:\n"
        "  own:\n    lang: dockerfile\n    handler: ./own\n    image: localhost/own:1\n"
    )
    env = cli_env(root / "home")
    refused = run_cli(["build", "--base", str(debian_base)], env=env, cwd=root)
    refused.assert_one_error("Dockerfile:3: RUN make all")
    assert "Docker, Podman or Buildah" in refused.stderr

    # a Go module that is not on this machine: builds are offline
    go = root / "go"
    shutil.copytree(TEMPLATES / "golang-http" / "function", go)
    (go / "go.mod").write_text("module handler/function\n\ngo 1.19\n\nrequire example.com/absent v1.0.0\n")
    (go / "handler.go").write_text(GO_HANDLER.replace('"net/http"', '"net/http"\n\t_ "example.com/absent"'))
    (root / "stack.yml").write_text(
        "version: 1.0\nprovider: {name: openfaas}\nfunctions:\n"
        "  go:\n    lang: golang-http\n    handler: ./go\n    image: localhost/go:1\n"
    )
    run_cli(["build", "--base", str(debian_base)], env=env, cwd=root).assert_one_error("GOPROXY=off")


def test_a_missing_toolchain_is_named(
    tmp_path: Path, debian_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_project(tmp_path)
    tools = tmp_path / "bin"
    tools.mkdir()
    os.symlink(sys.executable, tools / "python3")
    monkeypatch.setenv("PATH", str(tools))
    env = cli_env(root / "home", PATH=str(tools))
    result = run_cli(["build", "--base", str(debian_base), "--filter", "fn-golang-http"], env=env, cwd=root)
    result.assert_one_error("golang-go")


@pytest.fixture(scope="module", autouse=True)
def _toolchains() -> Iterator[None]:
    for program in ("go", "npm", "node"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed (apt-get install golang-go nodejs npm)")
    yield
