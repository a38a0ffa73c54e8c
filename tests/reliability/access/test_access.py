"""Access control on a real gateway process: every ``/system/*`` route and ``/ui/`` need valid credentials.

The routes are enumerated from the router ``create_app`` builds with the same settings as the process (NATS
configured, so the async routes are there), so a route added
later is covered without editing this file. Each is asked with no, wrong and malformed credentials, and under
spellings of its path that must not slip past the check.
"""

from __future__ import annotations

import base64
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from pyfaas.gateway.__main__ import build_async_settings
from pyfaas.gateway.app import create_app
from pyfaas.gateway.settings import GatewaySettings
from tests.support.fuzz import LiveGateway, gateway_process, raw_request
from tests.support.gateway import CREDENTIALS, MemoryProvider
from tests.support.nats import NatsServer, nats_server
from tests.support.platform import wait_until

__all__ = ["nats_server"]

pytestmark = pytest.mark.timeout(120)

SAMPLE = {"name": "echo", "namespace": "openfaas-fn", "call_id": "abc123", "file": "app.js", "path": "x"}
"""Values for path parameters (a route whose parameter is not listed gets ``x``)."""
_PARAM = re.compile(r"\{([^}:]+)(:[^}]*)?\}")


def _b64(text: bytes) -> str:
    return base64.b64encode(text).decode()


USER, PASSWORD = CREDENTIALS
BAD_AUTHORIZATION = {
    "wrong password": "Basic " + _b64(f"{USER}:wrong".encode()),
    "wrong user": "Basic " + _b64(f"root:{PASSWORD}".encode()),
    "empty password": "Basic " + _b64(f"{USER}:".encode()),
    "password only": "Basic " + _b64(PASSWORD.encode()),
    "no colon": "Basic " + _b64(f"{USER}{PASSWORD}".encode()),
    "not base64": "Basic !!!not-base64!!!",
    "scheme only": "Basic",
    "bearer": "Bearer " + PASSWORD,
    "password in clear": f"Basic {USER}:{PASSWORD}",
    "prefix of the password": "Basic " + _b64(f"{USER}:{PASSWORD[:-1]}".encode()),
    "password with suffix": "Basic " + _b64(f"{USER}:{PASSWORD}x".encode()),
    "latin-1 bytes": "Basic " + _b64(b"\xff\xfe:\xff"),
    "empty": "",
}


def protected_routes() -> list[tuple[str, str]]:
    """(method, concrete path) for every route under /system/ and /ui of a gateway configured with NATS."""
    environ = {"nats_url": "nats://127.0.0.1:4222"}
    app = create_app(
        GatewaySettings.from_env({"basic_auth": "false"}),
        MemoryProvider(),
        registry=CollectorRegistry(),
        async_settings=build_async_settings(environ),
    )
    found: set[tuple[str, str]] = set()
    for route in app.router.routes():
        if route.resource is None:
            continue
        canonical = route.resource.canonical
        if not (canonical.startswith("/system/") or canonical == "/ui" or canonical.startswith("/ui/")):
            continue
        path = _PARAM.sub(lambda match: SAMPLE.get(match.group(1), "x"), canonical)
        found.add(("GET" if route.method == "*" else route.method, path))
    return sorted(found)


ROUTES = protected_routes()


@pytest.fixture(scope="module")
def gateway(nats_server: NatsServer) -> Iterator[LiveGateway]:
    with (
        tempfile.TemporaryDirectory(prefix="pyfaas-access-") as tmp,
        gateway_process(Path(tmp), nats_url=nats_server.url, env={"LOG_LEVEL": "DEBUG"}) as running,
    ):
        yield running


def _assert_refused(response: httpx.Response, what: str) -> None:
    assert response.status_code == 401, f"{what}: {response.status_code} {response.text[:200]}"
    assert response.headers.get("WWW-Authenticate") == 'Basic realm="Restricted"', what


def test_routes_were_enumerated() -> None:
    paths = {path for _, path in ROUTES}
    # The core routes must be among them (the enumeration itself must not silently find nothing).
    assert {"/system/functions", "/system/secrets", "/system/info", "/system/async/abc123"} <= paths
    assert len(ROUTES) >= 20


def test_every_protected_route_refuses_missing_and_bad_credentials(gateway: LiveGateway) -> None:
    with httpx.Client(base_url=gateway.url, timeout=30.0) as client:
        for method, path in ROUTES:
            body = b"{}" if method in ("POST", "PUT", "DELETE") else None
            _assert_refused(
                client.request(method, path, content=body), f"{method} {path} without credentials"
            )
            for label, header in BAD_AUTHORIZATION.items():
                response = client.request(method, path, content=body, headers={"Authorization": header})
                _assert_refused(response, f"{method} {path} with {label}")
                assert PASSWORD not in response.text


def test_right_credentials_pass_every_route(gateway: LiveGateway) -> None:
    """The same requests with valid credentials are not 401: the refusals above are about the credentials."""
    with gateway.client() as client:
        for method, path in ROUTES:
            if method == "DELETE" or "redrive" in path:
                continue  # nothing to prove by deleting things
            response = client.request(method, path, content=b"{}" if method in ("POST", "PUT") else None)
            assert response.status_code != 401, f"{method} {path}"
        scheme_case = "basic " + _b64(f"{USER}:{PASSWORD}".encode())
        response = client.get("/system/functions", headers={"Authorization": scheme_case})
        assert response.status_code == 200, "the auth scheme name is case-insensitive (RFC 7617)"


SPELLINGS = [
    "/%73ystem/functions",
    "/system/%66unctions",
    "//system/functions",
    "/system//functions",
    "/./system/functions",
    "/ui/../system/functions",
    "/function/../system/functions",
    "/healthz/../system/secrets",
    "/System/functions",
    "/system/functions/",
    "/system/functions%2f",
    "/ui",
    "/ui/",
    "/ui/index.html",
]


def test_path_spellings_never_bypass_auth(gateway: LiveGateway) -> None:
    """Whatever a path's spelling (sent byte for byte), an anonymous request is refused or finds nothing."""
    for path in SPELLINGS:
        head = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        response = raw_request(gateway.url, head)
        assert response.status in (401, 404, 405), f"{path}: {response.status} {response.body[:200]!r}"
        if response.status == 401:
            assert response.headers.get("www-authenticate") == 'Basic realm="Restricted"', path


# secrets and the admin password never leak ------------------------------------------------------------
READER = """
import os

def handle(event, context):
    base = os.environ["secret_mount_path"]
    if event.path.endswith("/fail"):
        raise RuntimeError("failing on purpose")
    sizes = [f"{name}:{os.path.getsize(os.path.join(base, name))}" for name in sorted(os.listdir(base))]
    return {"statusCode": 200, "body": ",".join(sizes)}
"""


def _files_outside_secret_stores(state_dir: Path) -> Iterator[Path]:
    """Every file the gateway and its replicas wrote, but the secret stores themselves (which must hold the
    values): ``secrets/`` and the per-function ``mounts/``."""
    for path in state_dir.rglob("*"):
        relative = path.relative_to(state_dir).parts
        if path.is_file() and relative[0] not in ("secrets", "mounts"):
            yield path


def test_no_secret_value_or_password_leaks(gateway: LiveGateway, tmp_path: Path) -> None:
    value = "leak-check-value-7f3a9c"
    raw_value = b"leak-check-raw-51d0e2"
    updated = "leak-check-updated-b84e1f"
    needles = [
        value,
        raw_value.decode(),
        updated,
        PASSWORD,
        _b64(raw_value),
        _b64(f"{USER}:{PASSWORD}".encode()),
    ]
    seen: list[tuple[str, str]] = []  # (where, text)

    def record(where: str, response: httpx.Response) -> httpx.Response:
        seen.append((where, response.text))
        seen.extend((f"{where} header {key}", val) for key, val in response.headers.items())
        return response

    handler = tmp_path / "reader"
    handler.mkdir()
    (handler / "handler.py").write_text(READER)
    with gateway.client() as client:
        assert (
            record(
                "create", client.post("/system/secrets", json={"name": "leak-one", "value": value})
            ).status_code
            == 202
        )
        raw = {"name": "leak-two", "rawValue": _b64(raw_value)}
        assert record("create raw", client.post("/system/secrets", json=raw)).status_code == 202
        # Failing secret operations: duplicates, bad names, wrong types, broken JSON, unknown secrets.
        record("duplicate", client.post("/system/secrets", json={"name": "leak-one", "value": value}))
        record("bad name", client.post("/system/secrets", json={"name": "Leak One/..", "value": value}))
        record("wrong type", client.post("/system/secrets", json={"name": "leak-three", "value": [value]}))
        record(
            "bad base64", client.post("/system/secrets", json={"name": "leak-four", "rawValue": value + "!"})
        )
        record(
            "broken json", client.post("/system/secrets", content=f'{{"name": "leak-five", "value": "{value}')
        )
        record("unknown", client.put("/system/secrets", json={"name": "leak-missing", "value": value}))
        spec = {
            "service": "reader",
            "image": "local",
            "envVars": {"mode": "python", "handler": str(handler)},
            "secrets": ["leak-one", "leak-two"],
        }
        assert record("deploy", client.post("/system/functions", json=spec)).status_code == 202
        bad_spec = {**spec, "service": "reader-missing", "secrets": ["leak-one", "no-such-secret"]}
        record("deploy with missing secret", client.post("/system/functions", json=bad_spec))
        wait_until(
            lambda: client.get("/system/function/reader").json().get("availableReplicas"), 15, "reader up"
        )
        ok = record("call", client.post("/function/reader"))
        assert ok.status_code == 200 and "leak-one:" in ok.text, ok.text  # the function can read its secrets
        record("failing call", client.post("/function/reader/fail", content=value.encode()))
        record("async", client.post("/async-function/reader", headers={"X-Callback-Url": "not a url"}))
        assert (
            record(
                "update", client.put("/system/secrets", json={"name": "leak-one", "value": updated})
            ).status_code
            == 202
        )
        record("redeploy", client.put("/system/functions", json=spec))
        record("wrong password", client.get("/system/functions", auth=(USER, PASSWORD + "x")))
        record("wrong user", client.get("/system/functions", auth=(PASSWORD, PASSWORD)))
        for path in ("/system/functions", "/system/function/reader", "/system/secrets", "/system/info",
                     "/system/namespaces", "/system/logs?name=reader&tail=200"):  # fmt: skip
            assert record(path, client.get(path)).status_code == 200, path
        record("ui summary", client.get("/system/ui/summary"))
        record("delete", client.request("DELETE", "/system/functions", json={"functionName": "reader"}))

    def written() -> list[tuple[str, str]]:
        found = [
            (str(path.relative_to(gateway.state_dir)), path.read_text(errors="replace"))
            for path in _files_outside_secret_stores(gateway.state_dir)
        ]
        return [*found, ("gateway log", gateway.log_text())]

    # The replicas' last lines reach the log ring a moment after the calls: search once they are there.
    def logged() -> bool:
        return any("failing on purpose" in text for _, text in written())

    wait_until(logged, 20, "the failing call left no log line to search", interval=0.05)
    seen.extend(written())
    stored = b"".join(p.read_bytes() for p in (gateway.state_dir / "secrets").rglob("*") if p.is_file())
    assert updated.encode() in stored and raw_value in stored, "control: the search would find a stored value"
    leaks = [(where, needle) for where, text in seen for needle in needles if needle in text]
    assert not leaks, leaks
