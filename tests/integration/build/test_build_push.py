"""``pyfaas build`` and ``pyfaas push`` against a real registry on loopback (Debian's docker-registry).

Checked: the same inputs give the same digest and a changed handler another; the layout holds what the
template's Dockerfile says (files, user, env, command); push is chunked, digest-addressed and idempotent; a
pull by digest gives back the same image, and building on the pulled base gives the same digest as on the
local one; basic auth is asked for and used; errors name what is wrong.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import pytest

from pyfaas.build.base import load_base
from pyfaas.build.errors import BuildError
from pyfaas.build.oci import read_layout
from pyfaas.build.registry import Credentials, RegistryClient, parse_reference
from tests.integration.build.conftest import PASSWORD, USER, Registry
from tests.support.cli import cli_env, run_cli

pytestmark = pytest.mark.timeout(300)

HANDLER = 'def handle(event, context):\n    return {"statusCode": 200, "body": "%s"}\n'


def _project(root: Path, image: str, body: str = "hello") -> Path:
    (root / "hello").mkdir(parents=True, exist_ok=True)
    (root / "hello" / "handler.py").write_text(HANDLER % body)
    (root / "hello" / "requirements.txt").write_text("")
    (root / "stack.yml").write_text(
        "version: 1.0\nprovider: {name: openfaas}\nfunctions:\n"
        f"  hello:\n    lang: python3-http\n    handler: ./hello\n    image: {image}\n"
    )
    return root


def _build(root: Path, base: str, *extra: str) -> dict[str, str]:
    result = run_cli(["build", "--base", base, "--json", *extra], env=cli_env(root / "home"), cwd=root)
    assert result.code == 0, result.stderr
    [built] = json.loads(result.stdout)
    return {key: str(value) for key, value in built.items()}


def _layer_members(layout: Path) -> dict[str, tarfile.TarInfo]:
    image = read_layout(layout)
    members: dict[str, tarfile.TarInfo] = {}
    for layer in image.layers[1:]:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer.path.read_bytes()))) as tar:
            members |= {member.name: member for member in tar}
    return members


def test_build_is_reproducible_and_follows_the_template(tmp_path: Path, base_layout: Path) -> None:
    image = "127.0.0.1:5000/fn/hello:1"
    first = _build(_project(tmp_path / "a", image), str(base_layout))
    again = _build(_project(tmp_path / "b", image), str(base_layout), "--tar")
    assert first["digest"] == again["digest"]
    cached = _build(tmp_path / "a", str(base_layout))  # the runtime layer now comes from the layer cache
    assert cached["digest"] == first["digest"]
    assert list((tmp_path / "a" / "home" / ".cache" / "pyfaas" / "layers").glob("runtime-*.tar"))
    changed = _build(_project(tmp_path / "c", image, body="other"), str(base_layout))
    assert changed["digest"] != first["digest"]

    layout = Path(first["layout"])
    config = read_layout(layout).config
    run = config["config"]
    assert run["Cmd"] == ["pyfaas-watchdog"]
    assert run["User"] == "1000:1000" and run["WorkingDir"] == "/home/app"
    assert {"mode=python", "handler=/home/app/function", "port=8080"} <= set(run["Env"])
    members = _layer_members(layout)
    assert "home/app/function/handler.py" in members
    assert members["usr/local/bin/pyfaas-watchdog"].mode == 0o755
    assert "usr/local/lib/python3.11/dist-packages/pyfaas/watchdog/__main__.py" in members
    assert "usr/local/lib/python3.11/dist-packages/aiohttp/__init__.py" in members
    assert members["home/app"].uid == 1000 and all(m.mtime == 0 for m in members.values())
    # the archive for `ctr images import` names the image
    archive = Path(again["layout"]).parent / "hello.tar"
    with tarfile.open(archive) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == image
    assert index["manifests"][0]["digest"] == again["digest"]


def test_push_pull_round_trip(tmp_path: Path, base_layout: Path, registry: Registry) -> None:
    image = f"{registry.host}/fn/hello:1"
    root = _project(tmp_path / "p", image)
    built = _build(root, str(base_layout))
    env = cli_env(root / "home")
    pushed = run_cli(["push"], env=env, cwd=root)
    assert pushed.code == 0, pushed.stderr
    assert "pushed layer" in pushed.stderr + pushed.stdout
    assert built["digest"] in pushed.stdout

    # the registry serves the manifest by tag, with our digest
    answer = httpx.head(
        f"http://{registry.host}/v2/fn/hello/manifests/1",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert answer.status_code == 200 and answer.headers["docker-content-digest"] == built["digest"]

    # idempotent: nothing is sent again
    again = run_cli(["push", "--json"], env=env, cwd=root)
    assert again.code == 0, again.stderr
    assert json.loads(again.stdout)[0]["digest"] == built["digest"]
    repeat = run_cli(["push"], env=env, cwd=root)
    assert (
        "pushed layer" not in repeat.stderr + repeat.stdout
        and "already present" in repeat.stderr + repeat.stdout
    )

    # pulled by digest: the same image, blobs checked
    pulled = load_base(
        f"{registry.host}/fn/hello@{built['digest']}", scratch=tmp_path / "s", cache=tmp_path / "cache"
    )
    assert pulled.digest == built["digest"]
    assert [layer.digest for layer in pulled.layers] == [
        layer.digest for layer in read_layout(Path(built["layout"])).layers
    ]


def test_base_pulled_by_digest_gives_the_same_image(
    tmp_path: Path, base_layout: Path, registry: Registry
) -> None:
    base = read_layout(base_layout)
    with RegistryClient(registry.host, chunk_size=1 << 20) as client:  # several PATCH chunks per layer
        base_digest = client.push(base, parse_reference(f"{registry.host}/base/python:1"))
    assert base_digest == base.digest
    image = f"{registry.host}/fn/hello:2"
    local = _build(_project(tmp_path / "local", image), str(base_layout))
    remote = _build(_project(tmp_path / "remote", image), f"{registry.host}/base/python@{base_digest}")
    assert remote["digest"] == local["digest"]
    # a tag alone is refused: a base must be pinned
    result = run_cli(
        ["build", "--base", f"{registry.host}/base/python:1"],
        env=cli_env(tmp_path / "h"),
        cwd=tmp_path / "local",
    )
    result.assert_one_error("has no digest")


def test_basic_auth(tmp_path: Path, base_layout: Path, auth_registry: Registry) -> None:
    image = f"{auth_registry.host}/fn/hello:1"
    root = _project(tmp_path / "p", image)
    built = _build(root, str(base_layout))
    refused = run_cli(["push"], env=cli_env(root / "home"), cwd=root)
    refused.assert_one_error("401")
    wrong = run_cli(
        ["push", "--username", USER, "--password-stdin"],
        env=cli_env(root / "home"),
        cwd=root,
        stdin=b"nope\n",
    )
    wrong.assert_one_error("401")
    pushed = run_cli(
        ["push", "--username", USER, "--password-stdin"],
        env=cli_env(root / "home"),
        cwd=root,
        stdin=f"{PASSWORD}\n".encode(),
    )
    assert pushed.code == 0, pushed.stderr
    with RegistryClient(auth_registry.host, credentials=Credentials(USER, PASSWORD)) as client:
        assert client.resolve(parse_reference(image)) == built["digest"]


def test_errors_name_the_cause(tmp_path: Path, base_layout: Path, registry: Registry) -> None:
    root = _project(tmp_path / "p", f"{registry.host}/fn/hello:1")
    env = cli_env(root / "home")
    run_cli(["build"], env=env, cwd=root).assert_one_error("no base image")
    run_cli(["build", "--base", "./missing.tar"], env=env, cwd=root).assert_one_error("missing.tar")
    run_cli(["push", "-o", "elsewhere"], env=env, cwd=root).assert_one_error("run pyfaas build first")
    with pytest.raises(BuildError, match=r"MANIFEST_UNKNOWN|manifest unknown|404"):
        load_base(f"{registry.host}/fn/none@sha256:{'0' * 64}", scratch=tmp_path / "s", cache=tmp_path / "c")


def test_python3_template_with_requirements(
    tmp_path: Path, base_layout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The classic template (fork mode, its index.py) and a requirement installed by pip: a wheel made
    here, found with --no-index (nothing is downloaded)."""
    package = tmp_path / "tinydep"
    (package / "tinydep").mkdir(parents=True)
    (package / "tinydep" / "__init__.py").write_text("VALUE = 42\n")
    (package / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "tinydep"\nversion = "1.0"\n'
    )
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(package),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    root = tmp_path / "p"
    (root / "classic").mkdir(parents=True)
    (root / "classic" / "handler.py").write_text("def handle(req):\n    return req\n")
    (root / "classic" / "requirements.txt").write_text("tinydep==1.0\n")
    (root / "stack.yml").write_text(
        "version: 1.0\nprovider: {name: openfaas}\nfunctions:\n"
        "  classic:\n    lang: python3\n    handler: ./classic\n    image: localhost/classic:1\n"
    )
    built = _build(root, str(base_layout))
    run = read_layout(Path(built["layout"])).config["config"]
    assert {"mode=fork", "fprocess=python3 index.py"} <= set(run["Env"])
    members = _layer_members(Path(built["layout"]))
    assert "home/app/index.py" in members and "home/app/function/handler.py" in members
    assert "usr/local/lib/python3.11/dist-packages/tinydep/__init__.py" in members
    again = _build(root, str(base_layout))
    assert again["digest"] == built["digest"]


def test_bearer_token_auth(tmp_path: Path, base_layout: Path, bearer_registry: Registry) -> None:
    """Docker's token auth: the registry's 401 names a realm; pyfaas asks it for a token for the
    repository with its basic credentials, and pushes and pulls with that token."""
    image = f"{bearer_registry.host}/fn/hello:1"
    root = _project(tmp_path / "p", image)
    built = _build(root, str(base_layout))
    env = cli_env(root / "home")
    run_cli(["push"], env=env, cwd=root).assert_one_error("refused a token")
    pushed = run_cli(
        ["push", "--username", USER, "--password-stdin"], env=env, cwd=root, stdin=PASSWORD.encode()
    )
    assert pushed.code == 0, pushed.stderr
    pulled = load_base(
        f"{bearer_registry.host}/fn/hello@{built['digest']}",
        scratch=tmp_path / "s",
        cache=tmp_path / "cache",
        credentials=Credentials(USER, PASSWORD),
    )
    assert pulled.digest == built["digest"]
