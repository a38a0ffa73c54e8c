"""Manual scaling against the real gateway and scaling controller without Prometheus (local mode's fallback:
``default_scale_type=rps``): a count set by hand on a function no autoscaler owns stays; a function whose
labels give it to target tracking goes back, as the gateway's answer to the scale request says."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyfaas.core.labels import LABEL_SCALE_TYPE
from pyfaas.core.replica_owner import REPLICA_OWNER_HEADER
from tests.support.async_calls import until
from tests.support.prometheus import (
    RunningIdler,
    autoscale_platform,
    deploy_pid_function,
    replicas_of,
    running_idler,
    wait_replicas,
)

pytestmark = pytest.mark.timeout(90)


async def rounds(idler: RunningIdler, count: int, within: float = 30.0) -> None:
    """Wait until the controller has finished ``count`` more reconcile rounds."""
    target = idler.metric("idler_reconcile_total") + count
    await until(lambda: idler.metric("idler_reconcile_total") >= target, within, f"{count} reconcile rounds")


async def test_manual_count_of_an_unowned_function_sticks_under_the_fallback(tmp_path: Path) -> None:
    async with autoscale_platform(tmp_path, with_monitoring=False) as platform:
        gateway = platform.gateway
        await deploy_pid_function(platform, "plain", {})
        await deploy_pid_function(platform, "tracked", {LABEL_SCALE_TYPE: "rps"})
        env = {
            "default_scale_type": "rps",
            "default_scale_target": "5",
            "scale_down_window": "500ms",
            "reconcile_interval": "100ms",
        }
        async with running_idler(platform, **env) as idler:
            await rounds(idler, 2)
            async with gateway.session() as session:
                for name, owner in (("plain", "load"), ("tracked", "target-tracking")):
                    body = {"serviceName": name, "replicas": 3}
                    async with session.post(f"/system/scale-function/{name}", json=body) as response:
                        assert response.status == 202, await response.text()
                        assert response.headers[REPLICA_OWNER_HEADER] == owner
                        assert (await response.json())["sticks"] is (owner == "load")
            await wait_replicas(gateway, "tracked", lambda d, a: d == 1, within=30, what="tracked back to 1")
            await rounds(idler, 15)  # 1.5 s: three scale-down windows
            assert (await replicas_of(gateway, "plain"))[0] == 3
            assert idler.metric("idler_scale_total", function_name="plain.openfaas-fn", reason="down") == 0
