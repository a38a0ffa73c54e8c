"""The replica key (pyfaas.core.replica_key): a watchdog started with one answers only requests that carry it
(``/_/health`` excepted), and neither the key header nor the variable reaches the function."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from pyfaas.core.replica_key import REPLICA_KEY_ENV, REPLICA_KEY_HEADER
from tests.support.watchdog import WatchdogProcess, write_handler

Factory = Callable[..., WatchdogProcess]
KEY = "k3y-for-this-replica-only"
SEES = """
import json, os

def handle(event, context):
    return {"statusCode": 200, "body": json.dumps({
        "headers": {k.lower(): v for k, v in event.headers.items()},
        "env": os.environ.get("pyfaas_replica_key"),
    })}
"""


def test_python_mode_needs_the_key_and_never_shows_it(tmp_path: Path, watchdog_factory: Factory) -> None:
    handler = write_handler(tmp_path / "fn", SEES)
    watchdog = watchdog_factory({"mode": "python", "handler": str(handler), REPLICA_KEY_ENV: KEY})
    with httpx.Client(base_url=watchdog.url, timeout=10) as client:
        for headers in ({}, {REPLICA_KEY_HEADER: "wrong"}, {REPLICA_KEY_HEADER: KEY[:-1]}):
            for path in ("/", "/_/ready", "/_/metrics", "/any/path"):
                refused = client.post(path, headers=headers)
                assert refused.status_code == 403, (path, headers, refused.text)
        assert client.get("/_/health").status_code == 200  # the provider's readiness probe: no key
        answer = client.post("/x", headers={REPLICA_KEY_HEADER: KEY, "X-Mine": "1"})
        assert answer.status_code == 200, answer.text
        seen = answer.json()
        assert seen["headers"]["x-mine"] == "1"
        assert REPLICA_KEY_HEADER.lower() not in seen["headers"]
        assert seen["env"] is None
        assert client.get("/_/ready", headers={REPLICA_KEY_HEADER: KEY}).status_code == 200
    assert KEY not in watchdog.log()


def test_forked_function_processes_see_neither_header_nor_variable(
    tmp_path: Path, watchdog_factory: Factory
) -> None:
    watchdog = watchdog_factory({"mode": "fork", "fprocess": "env", REPLICA_KEY_ENV: KEY})
    with httpx.Client(base_url=watchdog.url, timeout=10) as client:
        assert client.post("/", content=b"x").status_code == 403
        answer = client.post("/", content=b"x", headers={REPLICA_KEY_HEADER: KEY, "X-Mine": "1"})
    assert answer.status_code == 200, answer.text
    assert "Http_X_Mine=1" in answer.text  # the CGI environment carries the request's headers ...
    assert KEY not in answer.text and "Replica_Key" not in answer.text  # ... but not the key, in any form
    assert REPLICA_KEY_ENV not in answer.text
