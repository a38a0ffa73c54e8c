"""A handler that cannot start (syntax error) on the real gateway, LocalProvider and watchdog processes: calls
fail at once with the replica's last words instead of waiting for the scale-from-zero timeout, the status
says why, and a fixed handler clears it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.gateway import RunningGateway, running_gateway, wait_available
from tests.support.polling import eventually
from tests.support.providers import write_handler

pytestmark = pytest.mark.timeout(120)

BROKEN = """
def handle(event, context)
    return "never"
"""
FIXED = """
def handle(event, context):
    return "fixed"
"""


def spec(name: str, handler: Path) -> dict[str, object]:
    return {"service": name, "image": "local", "envVars": {"mode": "python", "handler": str(handler)}}


async def status_of(gateway: RunningGateway, name: str) -> dict[str, Any]:
    async with gateway.session() as session, session.get(f"/system/function/{name}") as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


async def wait_failure(gateway: RunningGateway, name: str, within: float = 30.0) -> dict[str, Any]:
    return await eventually(
        lambda: status_of(gateway, name), lambda status: bool(status.get("replicaFailure")), within
    )


async def test_a_handler_that_cannot_start_fails_calls_with_its_error(tmp_path: Path) -> None:
    broken = write_handler(tmp_path / "broken", BROKEN)
    # A timeout far above how long a start takes: a 503 that quotes the handler's error cannot be the timeout.
    env = {"scale_from_zero_timeout": "120s"}
    async with running_gateway(tmp_path / "state", env=env) as gateway, gateway.session() as session:
        async with session.post("/system/functions", json=spec("bad", broken)) as response:
            assert response.status == 202
        async with session.post("/function/bad", data=b"x") as response:  # waits while the first one starts
            assert response.status == 503
            first = await response.json()
            assert "Retry-After" in response.headers
        assert "bad.openfaas-fn cannot start" in first["error"], first
        assert "SyntaxError: expected ':'" in first["error"] and "within" not in first["error"]
        status = await wait_failure(gateway, "bad")
        failure = status["replicaFailure"]
        assert failure["beforeReady"] is True and failure["restarts"] >= 1
        assert "before becoming ready" in failure["reason"]
        assert "def handle(event, context)" in failure["message"]
        assert failure["message"].splitlines()[-1] == "SyntaxError: expected ':'"
        assert status.get("availableReplicas", 0) == 0
        async with session.post("/function/bad", data=b"x") as response:  # known now: answered at once
            assert response.status == 503
            assert "SyntaxError" in (await response.json())["error"]

        (broken / "handler.py").write_text(FIXED)
        async with session.put("/system/functions", json=spec("bad", broken)) as response:
            assert response.status == 202
        await wait_available(session, "bad", 1)
        async with session.post("/function/bad", data=b"x") as response:
            assert response.status == 200 and await response.text() == "fixed"
        assert "replicaFailure" not in await status_of(gateway, "bad")
