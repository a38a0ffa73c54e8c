"""Target tracking by the scaling controller: a 10x load step reaches the desired replica count in one step,
and the count falls back after the scale-down stabilisation window once the load stops."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from pyfaas.cli.local.monitoring import find_binaries
from pyfaas.core.labels import (
    LABEL_SCALE_MAX,
    LABEL_SCALE_MIN,
    LABEL_SCALE_TARGET,
    LABEL_SCALE_TARGET_PROPORTION,
    LABEL_SCALE_TYPE,
)
from tests.support.prometheus import (
    Load,
    autoscale_platform,
    deploy_pid_function,
    replicas_of,
    running_idler,
    wait_replicas,
)

pytestmark = pytest.mark.timeout(120)

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
BASE_RPS = 2.0
TARGET = 5.5  # per replica; 20 rps / 5.5 = 3.6 -> 4 replicas, with room for +-10% noise in the measured rate
STEP_RPS = 10 * BASE_RPS


@pytest.mark.parametrize("source", SOURCES)
async def test_ten_fold_load_step_reaches_desired_replicas(tmp_path: Path, source: str) -> None:
    use_prometheus = source == "prometheus"
    desired = math.ceil(STEP_RPS / TARGET)
    async with autoscale_platform(tmp_path, with_monitoring=use_prometheus) as platform:
        gateway = platform.gateway
        labels = {
            LABEL_SCALE_TYPE: "rps",
            LABEL_SCALE_TARGET: str(TARGET),
            LABEL_SCALE_TARGET_PROPORTION: "1.0",
            LABEL_SCALE_MIN: "1",
            LABEL_SCALE_MAX: "10",
        }
        await deploy_pid_function(platform, "tracked", labels)
        if platform.stack is not None:
            await platform.stack.wait_scraping()
        env = {"rate_window": "3s", "scale_down_window": "2s", "reconcile_interval": "250ms"}
        async with running_idler(platform, use_prometheus=use_prometheus, **env) as idler:
            load = Load(gateway.url, "tracked", rps=BASE_RPS, concurrency=8)
            load.start()
            try:
                await asyncio.sleep(3.0)  # a full rate_window of base load: the idler keeps one replica
                assert await replicas_of(gateway, "tracked") == (1, 1), "base load needs one replica"
                load.set_rate(STEP_RPS)
                await wait_replicas(
                    gateway, "tracked", lambda d, a: d == a == desired, within=30, what=f"{desired} replicas"
                )
            finally:
                await load.stop()
            assert load.failures == 0, (load.codes, load.errors[:3])
            assert idler.metric("idler_scale_total", function_name="tracked.openfaas-fn", reason="up") >= 1
            await wait_replicas(gateway, "tracked", lambda d, a: d == a == 1, within=30, what="back to 1")
