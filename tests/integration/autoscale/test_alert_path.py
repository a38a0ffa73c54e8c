"""The alert path end to end: gateway metrics → Prometheus rule → AlertManager → gateway /system/alert →
local provider replicas, all real processes on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyfaas.core.labels import LABEL_SCALE_FACTOR, LABEL_SCALE_MAX, LABEL_SCALE_MIN
from tests.support.prometheus import (
    Load,
    alerts_for,
    autoscale_platform,
    deploy_pid_function,
    requires_monitoring,
    wait_replicas,
)

pytestmark = [requires_monitoring, pytest.mark.prometheus, pytest.mark.timeout(120)]


async def test_load_fires_alert_scales_up_and_resolve_returns_to_min(tmp_path: Path) -> None:
    async with autoscale_platform(tmp_path) as platform:
        assert platform.stack is not None
        gateway = platform.gateway
        # max 3, factor 30: one replica per firing notification (step = ceil(3 * 30 / 100) = 1).
        labels = {LABEL_SCALE_MIN: "1", LABEL_SCALE_MAX: "3", LABEL_SCALE_FACTOR: "30"}
        await deploy_pid_function(platform, "busy", labels)
        idle = await deploy_pid_function(platform, "quiet", labels)
        assert idle.service == "quiet"

        load = Load(gateway.url, "busy", rps=40, concurrency=4)
        load.start()
        try:
            await wait_replicas(gateway, "busy", lambda d, a: a >= 2, within=30, what="scale-up by alert")
            firing = await alerts_for(platform.stack.alertmanager_url, "busy.openfaas-fn")
            assert firing and firing[0]["status"]["state"] == "active"
            await wait_replicas(gateway, "busy", lambda d, a: d == 3 and a == 3, within=30, what="max 3")
        finally:
            await load.stop()
        assert load.failures == 0, (load.codes, load.errors[:3])
        assert len(load.first_seen) >= 2, "a second replica served calls"
        scaled = gateway.metric(
            "gateway_alert_outcomes_total", function_name="busy.openfaas-fn", status="firing", action="scaled"
        )
        assert scaled >= 2

        await wait_replicas(gateway, "busy", lambda d, a: d == 1 and a == 1, within=45, what="back to min")
        resolved = gateway.metric(
            "gateway_alert_outcomes_total",
            function_name="busy.openfaas-fn",
            status="resolved",
            action="scaled",
        )
        assert resolved >= 1
        assert await wait_replicas(gateway, "quiet", lambda d, a: d == 1, within=1) == (1, 1)
