"""The builder's pure parts: references, Dockerfile reading, reproducible layers, base file lists."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from pyfaas.build.dockerfile import last_stage, parse_env, parse_exec_form
from pyfaas.build.errors import BuildError
from pyfaas.build.oci import LAYER_TYPE, Blob, build_image, digest_file, read_image, write_layer
from pyfaas.build.registry import _absolute, parse_reference
from pyfaas.build.rootfs import BaseFiles


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("python:3.11", "docker.io", "library/python", "3.11", ""),
        ("acme/echo", "docker.io", "acme/echo", "latest", ""),
        ("ghcr.io/acme/echo:1.0", "ghcr.io", "acme/echo", "1.0", ""),
        ("localhost/echo:1", "localhost", "echo", "1", ""),
        ("127.0.0.1:5000/fn/echo@sha256:" + "a" * 64, "127.0.0.1:5000", "fn/echo", "", "sha256:" + "a" * 64),
        ("r.example:443/x/y:t@sha256:" + "b" * 64, "r.example:443", "x/y", "t", "sha256:" + "b" * 64),
    ],
)
def test_references(text: str, registry: str, repository: str, tag: str, digest: str) -> None:
    reference = parse_reference(text)
    assert (reference.registry, reference.repository, reference.tag, reference.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


@pytest.mark.parametrize("text", ["UPPER:1", "a b", "", "x:@"])
def test_bad_references_are_refused(text: str) -> None:
    with pytest.raises(BuildError, match="not a valid image reference"):
        parse_reference(text)


def test_upload_locations_resolve_against_the_registry() -> None:
    assert (
        _absolute("http://h:5000/v2", "/v2/a/blobs/uploads/u?s=1") == "http://h:5000/v2/a/blobs/uploads/u?s=1"
    )
    assert _absolute("http://h:5000/v2", "https://other/u") == "https://other/u"


def test_the_last_stage_is_read(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM golang AS build\nENV A=1\nFROM python:3.11 AS run\n# comment\n"
        'ENV mode="python" \\\n    port="8080"\nCMD ["pyfaas-watchdog"]\n'
    )
    stage = last_stage(dockerfile)
    assert [i.keyword for i in stage] == ["FROM", "ENV", "CMD"]
    assert parse_env(stage[1].rest) == {"mode": "python", "port": "8080"}
    assert parse_env("LEGACY some value") == {"LEGACY": "some value"}
    assert parse_exec_form(stage[2].rest, "x") == ["pyfaas-watchdog"]
    assert parse_exec_form("python3 index.py", "x") == ["/bin/sh", "-c", "python3 index.py"]
    with pytest.raises(BuildError, match="not a JSON array"):
        parse_exec_form("[broken", "Dockerfile:3")


def test_layers_are_reproducible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "run.sh"
    source.write_text("#!/bin/sh\n")
    source.chmod(0o755)
    files: dict[str, Path | bytes] = {"app/run.sh": source, "app/data.txt": b"data"}
    first = write_layer(files, tmp_path / "one.tar.gz")
    source.touch()  # a newer mtime changes nothing
    second = write_layer(dict(reversed(files.items())), tmp_path / "two.tar.gz")
    assert (first.digest, first.diff_id) == (second.digest, second.diff_id)
    assert first.digest == digest_file(first.path) and first.size == first.path.stat().st_size
    with tarfile.open(first.path) as tar:
        members = {m.name: m for m in tar}
    assert (
        members["app"].isdir()
        and members["app/run.sh"].mode == 0o755
        and members["app/data.txt"].mode == 0o644
    )
    assert {m.mtime for m in members.values()} == {0} and {m.uid for m in members.values()} == {0}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    stamped = write_layer(files, tmp_path / "three.tar.gz")
    assert stamped.digest != first.digest


def test_image_settings_follow_dockerfile_semantics(tmp_path: Path) -> None:
    layer = write_layer({"a": b"1"}, tmp_path / "a.tar.gz")
    base = build_image(None, [layer], entrypoint=["/bin/base"], cmd=["--flag"], env={"A": "1"}, user="1")
    image = build_image(base, [layer], cmd=["other"], env={"B": "2"})
    run = image.config["config"]
    assert run["Entrypoint"] == ["/bin/base"] and run["Cmd"] == ["other"] and run["User"] == "1"
    assert {"A=1", "B=2"} <= set(run["Env"])
    assert image.config["rootfs"]["diff_ids"] == [layer.diff_id, layer.diff_id]
    assert (
        "created" not in image.config
        and image.digest == build_image(base, [layer], cmd=["other"], env={"B": "2"}).digest
    )


def _tar(path: Path, entries: dict[str, bytes | str | None]) -> Blob:
    """Members: bytes = file, str = symlink target, None = folder."""
    with tarfile.open(path, "w") as tar:
        for name, value in entries.items():
            info = tarfile.TarInfo(name)
            if value is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(value, str):
                info.type, info.linkname = tarfile.SYMTYPE, value
                tar.addfile(info)
            else:
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
    digest = digest_file(path)
    return Blob(path, digest, path.stat().st_size, LAYER_TYPE, digest)


def test_base_files_apply_whiteouts_and_find_python(tmp_path: Path) -> None:
    lower = _tar(
        tmp_path / "lower.tar",
        {
            "./bin": "usr/bin",
            "./usr/bin/python3.11": b"elf",
            "./etc/passwd": b"root:x:0:0::/root:/bin/sh\n",
            "./opt/old/file": b"x",
            "./srv/a": b"1",
        },
    )
    upper = _tar(tmp_path / "upper.tar", {"opt/.wh.old": b"", "srv/.wh..wh..opq": b"", "srv/b": b"2"})
    files = BaseFiles(build_image(None, [lower, upper]))
    assert "opt/old/file" not in files.entries and "srv/a" not in files.entries and "srv/b" in files.entries
    python = files.python()
    assert (python.executable, python.minor, python.site) == (
        "/usr/bin/python3.11",
        11,
        "usr/local/lib/python3.11/dist-packages",
    )
    assert files.usr_path("bin/prometheus") == "usr/bin/prometheus"
    users = files.with_user("app", 1000, 1000, "/home/app")
    assert users["etc/passwd"].decode().splitlines() == [
        "root:x:0:0::/root:/bin/sh",
        "app:x:1000:1000::/home/app:/usr/sbin/nologin",
    ]
    with pytest.raises(BuildError, match="no python3"):
        BaseFiles(build_image(None, [upper])).python()


def test_a_docker_archive_is_a_base(tmp_path: Path) -> None:
    layer = _tar(tmp_path / "layer.tar", {"usr/local/bin/python3.11": b"elf"})
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
    }
    archive = tmp_path / "saved.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in (
            (
                "manifest.json",
                json.dumps([{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l/layer.tar"]}]).encode(),
            ),
            ("c.json", json.dumps(config).encode()),
            ("l/layer.tar", layer.path.read_bytes()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    image = read_image(archive, tmp_path / "scratch")
    assert [b.digest for b in image.layers] == [layer.digest]
    assert BaseFiles(image).python().site == "usr/local/lib/python3.11/site-packages"
    with pytest.raises(BuildError, match="not found"):
        read_image(tmp_path / "absent.tar", tmp_path / "scratch2")
