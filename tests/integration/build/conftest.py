"""A real OCI registry on loopback (Debian's ``docker-registry``, the distribution reference server) and a
small base image for the builder tests.

The base is made here, not downloaded: one layer with this machine's Python interpreter at
``/usr/bin/python3.N`` and an ``/etc/passwd``, which is all the builder reads from a base (where Python is,
which users exist). Images built on it are for layout, digest and registry checks; images that run are
built on the suite's debootstrapped base by the cluster tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


def _start(root: Path, auth: bool, token_block: str = "") -> Iterator[Registry]:
    assert REGISTRY is not None
    port = free_port()
    auth_block = token_block
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
def bearer_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A registry that wants Bearer tokens from a token server (Docker's token auth, as Docker Hub and
    ghcr.io do): the token server checks the basic credentials and signs a JWT (RS256, with openssl) granting
    what the scope asks for; the registry trusts the signing key through its certificate."""
    if REGISTRY is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    root = tmp_path_factory.mktemp("bearer-registry")
    issuer = TokenIssuer(root)
    server, thread = issuer.serve()
    block = (
        "auth: {token: {"
        f"realm: 'http://127.0.0.1:{server.server_address[1]}/token', service: test-registry, "
        f"issuer: test-issuer, rootcertbundle: {issuer.certificate}"
        "}}\n"
    )
    try:
        yield from _start(root, auth=False, token_block=block)
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


class TokenIssuer:
    """Signs registry tokens with a key made here (openssl: no crypto library needed)."""

    def __init__(self, root: Path) -> None:
        self.key, self.certificate = root / "token.key", root / "token.crt"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key),
             "-out", str(self.certificate), "-subj", "/CN=test-issuer", "-days", "2"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        public = subprocess.run(
            ["openssl", "x509", "-in", str(self.certificate), "-pubkey", "-noout"],
            check=True, capture_output=True, timeout=30,
        ).stdout  # fmt: skip
        der = subprocess.run(
            ["openssl", "pkey", "-pubin", "-outform", "DER"],
            input=public,
            check=True,
            capture_output=True,
            timeout=30,
        ).stdout
        # libtrust's key ID, which the registry looks a token's "kid" up by
        encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
        self.kid = ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))
        self.requests: list[dict[str, str]] = []

    def token(self, scope: str) -> str:
        def part(value: object) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

        access = []
        if scope:
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {
            "iss": "test-issuer",
            "sub": USER,
            "aud": "test-registry",
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = f"{part({'alg': 'RS256', 'typ': 'JWT', 'kid': self.kid})}.{part(claims)}"
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(), check=True, capture_output=True, timeout=30,
        ).stdout  # fmt: skip
        return f"{signing_input}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"

    def serve(self) -> tuple[ThreadingHTTPServer, threading.Thread]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                issuer.requests.append(query)
                expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": issuer.token(query.get("scope", ""))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        return server, thread


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
