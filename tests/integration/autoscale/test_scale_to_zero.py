"""Scale to zero by the idler, and the wake-up by the gateway's next call, with either load source."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from pyfaas.cli.local.monitoring import find_binaries
from pyfaas.core.labels import LABEL_SCALE_ZERO, LABEL_SCALE_ZERO_DURATION
from tests.support.async_calls import until
from tests.support.prometheus import (
    autoscale_platform,
    deploy_pid_function,
    replicas_of,
    running_idler,
    wait_replicas,
)

pytestmark = pytest.mark.timeout(90)
IDLE = 2.0

SOURCES = [
    "gateway-metrics",
    pytest.param(
        "prometheus",
        marks=[
            pytest.mark.prometheus,
            pytest.mark.skipif(find_binaries() is None, reason="prometheus binaries are not installed"),
        ],
    ),
]


async def _call(session: aiohttp.ClientSession, name: str) -> int:
    async with session.get(f"/function/{name}") as response:
        await response.read()
        return response.status


@pytest.mark.parametrize("source", SOURCES)
async def test_idle_function_goes_to_zero_and_wakes_without_errors(tmp_path: Path, source: str) -> None:
    use_prometheus = source == "prometheus"
    async with autoscale_platform(tmp_path, with_monitoring=use_prometheus) as platform:
        gateway = platform.gateway
        await deploy_pid_function(
            platform, "sleepy", {LABEL_SCALE_ZERO: "true", LABEL_SCALE_ZERO_DURATION: f"{IDLE:g}s"}
        )
        await deploy_pid_function(platform, "awake", {LABEL_SCALE_ZERO_DURATION: "1s"})  # no zero label
        async with (
            running_idler(platform, use_prometheus=use_prometheus) as idler,
            aiohttp.ClientSession(gateway.url) as session,
        ):
            for _ in range(3):
                await asyncio.sleep(0.3)  # calls spread over time: each one restarts the idle clock
                last_call = time.monotonic()  # idle time counts from a call's start (the gateway's counter)
                assert await _call(session, "sleepy") == 200
            await wait_replicas(gateway, "sleepy", lambda d, a: d == 0 and a == 0, within=20, what="zero")
            idle = time.monotonic() - last_call
            # a lower bound that is the function's own idle duration (the behaviour), not the machine's speed
            assert idle >= IDLE, f"scaled to zero after {idle:.2f}s of idleness, before {IDLE}s"
            # The listing shows zero as soon as the provider holds the new count; the idler counts the
            # scaling when the gateway's answer arrives (after the state store's fsync): wait for it.
            await until(
                lambda: (
                    idler.metric("idler_scale_total", function_name="sleepy.openfaas-fn", reason="idle") == 1
                ),
                10,
                "the idler to count its scale to zero",
            )

            # The next calls wake it through the gateway's scale from zero: every one succeeds.
            codes = await asyncio.gather(*(_call(session, "sleepy") for _ in range(10)))
            assert codes == [200] * 10
            await asyncio.sleep(IDLE / 2)  # woken means a fresh idle duration, even if Prometheus lags behind
            assert (await replicas_of(gateway, "sleepy"))[0] >= 1
            assert await replicas_of(gateway, "awake") == (1, 1)
            assert idler.metric("idler_scale_total", function_name="awake.openfaas-fn", reason="idle") == 0
