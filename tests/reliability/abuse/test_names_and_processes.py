"""Hostile names, shell metacharacters and other functions' secrets, against a real gateway process.

* Path traversal in function, secret and namespace names (``..``, ``%2e%2e``, ``/``, NUL, absolute paths), in
  bodies, query strings and URL paths: refused (400; an invocation of a name that cannot exist: 404), and no
  file outside the state directory appears or changes.
* ``fprocess`` and environment values are never run through a shell.
* Local-mode secret isolation, as it really is (docs/reliability.md, "Abuse").
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyfaas.provider.local.sandbox import probe as sandbox_probe
from tests.support.fuzz import LiveGateway, deploy_python, gateway_process, raw_request, wait_available
from tests.support.nats import NatsServer, nats_server

__all__ = ["nats_server"]

pytestmark = pytest.mark.timeout(120)

TRAVERSALS = [
    "..",
    "../evil",
    "../../etc/passwd",
    "a/../../evil",
    "/etc/passwd",
    "%2e%2e",
    "%2e%2e%2fevil",
    "..%2fevil",
    "a\x00b",
    "evil\x00",
    ".",
    "a/b",
    "\\..\\evil",
    "~root",
]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="pyfaas-names-") as tmp:
        yield Path(tmp)


@pytest.fixture(scope="module")
def gateway(sandbox: Path, nats_server: NatsServer) -> Iterator[LiveGateway]:
    with gateway_process(sandbox, nats_url=nats_server.url) as running:
        yield running


def _snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` but ``skip`` (the state directory), with size and mtime."""
    found = {}
    for path in root.rglob("*"):
        if path == skip or skip in path.parents:
            continue
        info = path.lstat()
        found[str(path.relative_to(root))] = (info.st_size, info.st_mtime_ns)
    return found


def test_traversal_names_are_refused_and_touch_nothing(gateway: LiveGateway, sandbox: Path) -> None:
    before = _snapshot(sandbox, gateway.state_dir)
    refused: list[str] = []
    with gateway.client() as client:

        def expect(status: set[int], method: str, path: str, **kwargs: object) -> None:
            response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
            assert response.status_code in status, (
                f"{method} {path} {kwargs}: {response.status_code} {response.text}"
            )
            if response.status_code == 400:
                assert response.json()["field"], response.text
            refused.append(f"{method} {path}")

        for bad in TRAVERSALS:
            spec = {"service": bad, "image": "local", "envProcess": "cat"}
            expect({400}, "POST", "/system/functions", json=spec)
            expect({400}, "PUT", "/system/functions", json=spec)
            expect(
                {400},
                "POST",
                "/system/functions",
                json={"service": "ok", "image": "x", "envProcess": "cat", "namespace": bad},
            )
            expect(
                {400},
                "POST",
                "/system/functions",
                params={"namespace": bad},
                json={"service": "ok", "image": "x", "envProcess": "cat"},
            )
            expect({400}, "DELETE", "/system/functions", json={"functionName": bad})
            expect({400}, "POST", "/system/secrets", json={"name": bad, "value": "v"})
            expect({400}, "PUT", "/system/secrets", json={"name": bad, "value": "v"})
            expect({400}, "DELETE", "/system/secrets", json={"name": bad})
            expect({400}, "POST", "/system/secrets", json={"name": "ok", "value": "v", "namespace": bad})
            expect({400}, "GET", "/system/secrets", params={"namespace": bad})
            expect({400}, "GET", "/system/functions", params={"namespace": bad})
            expect({400}, "GET", "/system/logs", params={"name": bad})
            expect({400}, "GET", "/system/function/echo", params={"namespace": bad})
            expect(
                {400},
                "POST",
                "/system/scale-function/echo",
                json={"serviceName": "echo", "replicas": 1, "namespace": bad},
            )
        # The same names in URL paths, sent byte for byte (no client-side normalisation).
        for raw in ("..", "%2e%2e", "..%2f..%2fetc", "%2e%2e%2f%2e%2e", "a%00b", "%2fetc%2fpasswd", "...."):
            for method, template, allowed in (
                ("GET", "/system/function/{}", {400, 404}),
                ("POST", "/system/scale-function/{}", {400, 404}),
                ("GET", "/system/namespace/{}", {400, 404}),
                ("POST", "/system/namespace/{}", {400, 404}),
                ("DELETE", "/system/namespace/{}", {400, 404}),
                ("POST", "/function/{}", {400, 404}),
                ("POST", "/function/{}/x", {400, 404}),
                ("POST", "/async-function/{}", {400, 404}),
            ):
                path = template.format(raw)
                body = b'{"serviceName": "x", "replicas": 1}'
                head = (
                    f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {gateway.authorization}\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                ).encode()
                response = raw_request(gateway.url, head, body)
                assert response.status in allowed, (
                    f"{method} {path}: {response.status} {response.body[:200]!r}"
                )
                refused.append(f"{method} {path}")
    assert len(refused) > 200
    assert _snapshot(sandbox, gateway.state_dir) == before, "a file outside the state directory changed"
    for entry in gateway.state_dir.rglob("*"):
        assert "evil" not in entry.name and "passwd" not in entry.name, entry
    assert gateway.alive()


def test_fprocess_and_env_values_never_go_through_a_shell(gateway: LiveGateway, sandbox: Path) -> None:
    marker = sandbox / "shell-ran"
    second = sandbox / "shell-ran-too"
    fprocess = f"echo $(touch {marker}) ; touch {second} && `touch {second}` | cat"
    env_value = f"$(touch {marker}); touch {second}"
    spec = {
        "service": "noshell",
        "image": "local",
        "envProcess": fprocess,
        "envVars": {"mode": "fork", "injected": env_value},
    }
    printenv = {
        "service": "printenv",
        "image": "local",
        "envProcess": "env",
        "envVars": {"mode": "fork", "injected": env_value},
    }
    with gateway.client() as client:
        for body in (spec, printenv):
            assert client.post("/system/functions", json=body).status_code == 202
        wait_available(client, "noshell")
        wait_available(client, "printenv")
        echoed = client.post("/function/noshell", content=b"")
        environment = client.post("/function/printenv", content=b"")
    assert echoed.status_code == 200, echoed.text
    # echo received the words literally: no substitution, no command separator, no pipe.
    assert echoed.text.strip() == fprocess.removeprefix("echo "), echoed.text
    assert f"injected={env_value}" in environment.text.splitlines(), environment.text
    # fork mode answers once the process has exited: whatever a shell would have run is done by now
    assert not marker.exists() and not second.exists(), "a shell interpreted fprocess or an env value"


SNOOP = """
import os, pathlib

def handle(event, context):
    own = pathlib.Path(os.environ["secret_mount_path"])
    target = pathlib.Path(event.query.get("path", ""))
    try:
        stolen = target.read_text()
    except OSError as exc:
        stolen = f"denied: {type(exc).__name__}"
    listing = ",".join(sorted(p.name for p in own.iterdir()))
    return {"statusCode": 200, "body": f"own={listing}\\nread={stolen}"}
"""


def test_local_secret_isolation_is_what_the_docs_say(gateway: LiveGateway, sandbox: Path) -> None:
    """Each function's mount holds only its own secrets, in 0700/0600 files; replicas run as the gateway's
    user, so only the sandbox keeps a function that goes looking from another's secret in the state
    directory."""
    handler = sandbox / "snoop"
    handler.mkdir(exist_ok=True)
    (handler / "handler.py").write_text(SNOOP)
    with gateway.client() as client:
        for name, value in (("alpha-key", "alpha-secret-value"), ("beta-key", "beta-secret-value")):
            assert client.post("/system/secrets", json={"name": name, "value": value}).status_code == 202
    deploy_python(gateway, "alpha", handler, secrets=["alpha-key"])
    deploy_python(gateway, "beta", handler, secrets=["beta-key"])
    state = gateway.state_dir
    alpha_mount = next(state.glob("mounts/*/alpha"))
    stored = next(state.glob("secrets/*/alpha-key"))
    with gateway.client() as client:
        beta = client.post("/function/beta", params={"path": str(alpha_mount / "alpha-key")}).text
        from_store = client.post("/function/beta", params={"path": str(stored)}).text
        password_file = sandbox / "gateway-secrets" / "basic-auth-password"
        from_gateway = client.post("/function/beta", params={"path": str(password_file)}).text
    # What is given: a function sees only its own secrets where it is told to look ...
    assert beta.splitlines()[0] == "own=beta-key", beta
    # ... and the files are private to the user (no other local user can read them).
    for path in (alpha_mount, stored.parent, state / "secrets"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, (path, oct(path.stat().st_mode))
    for path in (alpha_mount / "alpha-key", stored):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path, oct(path.stat().st_mode))
    if sandbox_probe().available:
        # Each function in its bubblewrap sandbox (issue 18): another function's mount and the store are not
        # there at all, though every replica still runs as the gateway's Unix user.
        assert beta.splitlines()[1] == "read=denied: FileNotFoundError", beta
        assert from_store.splitlines()[1] == "read=denied: FileNotFoundError", from_store
        assert password_file.is_file()  # there, outside the sandboxes: the gateway's admin password
        assert from_gateway.splitlines()[1] == "read=denied: FileNotFoundError", from_gateway
        return
    # Without a sandbox (no bubblewrap or user namespaces; pyfaas up warns): same Unix user, so another
    # function can read them if it goes looking.
    same_user = os.geteuid() == stored.stat().st_uid
    assert same_user
    assert beta.splitlines()[1] == "read=alpha-secret-value", beta
    assert from_store.splitlines()[1] == "read=alpha-secret-value", from_store
