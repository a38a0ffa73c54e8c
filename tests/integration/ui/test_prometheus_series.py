"""Chart data from a real Prometheus scraping the gateway's metrics listener, and the fallback without it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pyfaas.cli.local.monitoring import MonitoringConfig, MonitoringStack
from pyfaas.core.alerting import LOCAL_TIMINGS
from pyfaas.gateway.metrics import create_metrics_app
from tests.support.gateway import RunningGateway, free_port, running_gateway, serve, wait_available
from tests.support.prometheus import requires_monitoring
from tests.support.providers import python_function, write_handler

pytestmark = [pytest.mark.prometheus, requires_monitoring, pytest.mark.timeout(120)]

HANDLER = """
def handle(event, context):
    if event.query.get("fail"):
        return {"statusCode": 500, "body": "no"}
    return {"statusCode": 200, "body": "ok"}
"""


async def series(gateway: RunningGateway) -> dict[str, Any]:
    return await get(gateway, "/system/ui/series", name="hello", seconds="120")


async def get(gateway: RunningGateway, path: str, **params: str) -> dict[str, Any]:
    async with gateway.session() as session, session.get(path, params=params) as response:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body


def peak(values: list[float | None]) -> float:
    return max((value for value in values if value is not None), default=0.0)


async def test_series_come_from_prometheus_when_configured(tmp_path: Path) -> None:
    prometheus_port = free_port()
    env = {"faas_prometheus_host": "127.0.0.1", "faas_prometheus_port": str(prometheus_port)}
    async with (
        running_gateway(tmp_path / "state", auth=True, env=env) as gateway,
        serve(create_metrics_app(gateway.registry)) as metrics_url,
    ):
        async with gateway.session() as session:
            spec = python_function("hello", write_handler(tmp_path / "hello", HANDLER))
            async with session.post("/system/functions", json=spec.wire()) as response:
                assert response.status == 202
            await wait_available(session, "hello", 1)
            async with session.get("/system/ui/info") as response:
                assert (await response.json())["chartSource"] == "prometheus"

        config = MonitoringConfig(
            work_dir=tmp_path / "monitoring",
            gateway_url=gateway.url,
            gateway_metrics_target=metrics_url.removeprefix("http://"),
            prometheus_port=prometheus_port,
            timings=LOCAL_TIMINGS,
        )
        async with MonitoringStack(config), aiohttp.ClientSession(gateway.url) as client:
            deadline = time.monotonic() + 45
            lines: dict[str, Any] = {}
            while time.monotonic() < deadline:
                for index in range(10):
                    async with client.get("/function/hello" + ("?fail=1" if index % 5 == 0 else "")) as r:
                        await r.read()
                lines = await series(gateway)
                if lines["source"] == "prometheus" and peak(lines["rps"]) > 0 and peak(lines["p99"]) > 0:
                    break
                await asyncio.sleep(0.5)
            assert lines.get("source") == "prometheus", lines.get("fallback")
            assert peak(lines["rps"]) > 0 and peak(lines["p99"]) > 0, lines
            assert 0 < peak(lines["errorRatio"]) <= 1
            assert len(lines["t"]) == len(lines["rps"]) == len(lines["p50"])
            summary = await get(gateway, "/system/ui/summary")
            assert summary["source"] == "prometheus"
            hello = summary["functions"]["hello"]
            assert hello["requests"] > 0 and hello["errors"] > 0 and hello["rate"] > 0
            assert 0 < hello["errorRatio"] < 1 and hello["p99"] > 0

        # Prometheus gone: the gateway's own series answer, and say why
        lines = await series(gateway)
        assert lines["source"] == "gateway"
        assert "Prometheus query failed" in lines["fallback"]
        assert peak(lines["rps"]) > 0
        summary = await get(gateway, "/system/ui/summary")
        assert summary["source"] == "gateway" and "fallback" in summary
        assert summary["functions"]["hello"]["requests"] > 0
