"""A real OCI registry on loopback (Debian's ``docker-registry``, the distribution reference server) and a
small base image for the builder tests.

The base is made here, not downloaded: one layer with this machine's Python interpreter at
``/usr/bin/python3.N`` and an ``/etc/passwd``, which is all the builder reads from a base (where Python is,
which users exist). Images built on it are for layout, digest and registry checks; images that run are
built on the suite's debootstrapped base by the cluster tests.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pyfaas.build.oci import build_image, write_layer, write_layout
from tests.support.gateway import free_port

REGISTRY = shutil.which("docker-registry")
needs_registry = pytest.mark.skipif(
    REGISTRY is None, reason="docker-registry is not installed (apt-get install docker-registry)"
)

USER, PASSWORD = "builder", "s3cret-pass"


@dataclass(frozen=True)
class Registry:
    host: str
    """``127.0.0.1:PORT``"""
    root: Path


def _start(root: Path, auth: bool) -> Iterator[Registry]:
    assert REGISTRY is not None
    port = free_port()
    auth_block = ""
    if auth:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt

        (root / "htpasswd").write_text(
            f"{USER}:{crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n"
        )
        auth_block = f"auth: {{htpasswd: {{realm: test, path: {root / 'htpasswd'}}}}}\n"
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n" + auth_block
    )
    with (root / "registry.log").open("wb") as log:
        process = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code in (200, 401):
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"docker-registry did not start: {(root / 'registry.log').read_text()[-2000:]}"
                )
            time.sleep(0.05)
        yield Registry(f"127.0.0.1:{port}", root)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="package")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    if REGISTRY is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    yield from _start(tmp_path_factory.mktemp("registry"), auth=False)


@pytest.fixture(scope="package")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    if REGISTRY is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    yield from _start(tmp_path_factory.mktemp("auth-registry"), auth=True)


@pytest.fixture(scope="package")
def base_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OCI layout of a small base: this Python's interpreter and an /etc/passwd."""
    folder = tmp_path_factory.mktemp("base")
    interpreter = Path(sys.base_prefix) / "bin" / f"python3.{sys.version_info.minor}"
    layer = write_layer(
        {
            f"usr/bin/python3.{sys.version_info.minor}": interpreter.resolve(),
            "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n",
            "etc/group": b"root:x:0:\nnogroup:x:65534:\n",
        },
        folder / "layer.tar.gz",
    )
    write_layout(build_image(None, [layer], cmd=["python3"]), folder / "layout", "localhost/test-base:1")
    return folder / "layout"
