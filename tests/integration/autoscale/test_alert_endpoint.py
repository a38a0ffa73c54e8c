"""``POST /system/alert`` on the real gateway app (auth on): OpenFaaS's arithmetic without the 5-replica
ceiling, AlertManager's repeats versus duplicate deliveries, resolve, and 400s naming the field. The provider
is the in-memory one: what is under test is the gateway's handling, not process supervision (the end-to-end
test with real Prometheus, AlertManager and replicas is test_alert_path.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest

from pyfaas.core.errors import ProviderError
from pyfaas.core.labels import (
    LABEL_SCALE_FACTOR,
    LABEL_SCALE_MAX,
    LABEL_SCALE_MIN,
    LABEL_SCALE_TYPE,
)
from pyfaas.core.models import AlertmanagerAlert, AlertmanagerWebhook
from pyfaas.gateway.system_api.alerts import DUPLICATE_WINDOW, AlertScaler
from tests.support.gateway import MemoryProvider, RunningGateway, running_gateway

pytestmark = pytest.mark.timeout(60)


def webhook(*alerts: AlertmanagerAlert) -> dict[str, Any]:
    status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
    return AlertmanagerWebhook(status=status, receiver="scale-up", alerts=list(alerts)).wire()


def alert(
    function_name: str,
    status: Literal["firing", "resolved"] = "firing",
    episode: int = 0,
    fingerprint: str = "f1",
) -> AlertmanagerAlert:
    return AlertmanagerAlert(
        status=status,
        labels={"alertname": "APIHighInvocationRate", "function_name": function_name},
        startsAt=f"2026-01-01T00:00:{episode:02d}.5Z",
        fingerprint=fingerprint,
    )


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[RunningGateway, MemoryProvider]]:
    provider = MemoryProvider()
    async with running_gateway(tmp_path, provider=provider, auth=True) as running:
        yield running, provider


async def post(gw: RunningGateway, body: Any, *, raw: bytes | None = None) -> tuple[int, Any]:
    async with gw.session() as session:
        kwargs: dict[str, Any] = {"data": raw} if raw is not None else {"json": body}
        async with session.post("/system/alert", **kwargs) as response:
            text = await response.text()
            return response.status, (
                await response.json() if text and response.content_type == "application/json" else text
            )


def add(
    provider: MemoryProvider, name: str, labels: dict[str, str] | None = None, namespace: str | None = None
) -> None:
    """A function at one replica (desired) with ``labels``."""
    provider.add(name, namespace=namespace, labels=labels or {})
    provider.functions[(name, namespace or provider.default_namespace)].desired = 1


def replicas(provider: MemoryProvider, name: str, namespace: str = "openfaas-fn") -> int:
    return provider.functions[(name, namespace)].desired


async def test_each_firing_notification_adds_a_step_beyond_five(
    gateway: tuple[RunningGateway, MemoryProvider],
) -> None:
    gw, provider = gateway
    add(provider, "fn", {LABEL_SCALE_MAX: "30", LABEL_SCALE_FACTOR: "20"})  # step = ceil(30*20/100) = 6
    seen = []
    for episode in range(6):
        assert await post(gw, webhook(alert("fn.openfaas-fn", episode=episode))) == (200, "")
        seen.append(replicas(provider, "fn"))
    assert seen == [7, 13, 19, 25, 30, 30]


async def test_defaults_are_max_20_factor_20(gateway: tuple[RunningGateway, MemoryProvider]) -> None:
    gw, provider = gateway
    add(provider, "fn")
    await post(gw, webhook(alert("fn.openfaas-fn")))
    assert replicas(provider, "fn") == 1 + 4


async def test_duplicate_delivery_is_one_step(
    gateway: tuple[RunningGateway, MemoryProvider],
) -> None:
    gw, provider = gateway
    add(provider, "fn", {LABEL_SCALE_MAX: "10", LABEL_SCALE_FACTOR: "10"})  # step 1
    body = webhook(alert("fn.openfaas-fn"))
    results = await asyncio.gather(*(post(gw, body) for _ in range(3)))
    assert [status for status, _ in results] == [200, 200, 200]
    assert replicas(provider, "fn") == 2
    assert (
        gw.metric(
            "gateway_alert_outcomes_total",
            function_name="fn.openfaas-fn",
            status="firing",
            action="duplicate",
        )
        == 2
    )


async def test_a_repeat_after_the_duplicate_window_is_another_step() -> None:
    # The gateway's scaler on a fake clock (AlertManager's repeat_interval is far longer than the window).
    provider = MemoryProvider()
    add(provider, "fn", {LABEL_SCALE_MAX: "10", LABEL_SCALE_FACTOR: "10"})  # step 1
    now = 0.0
    scaler = AlertScaler(provider, default_namespace="openfaas-fn", clock=lambda: now)
    body = AlertmanagerWebhook.model_validate(webhook(alert("fn.openfaas-fn")))
    assert [o.action for o in await scaler.apply(body)] == ["scaled"]
    now = DUPLICATE_WINDOW * 0.9
    assert [o.action for o in await scaler.apply(body)] == ["duplicate"]
    assert replicas(provider, "fn") == 2
    now = DUPLICATE_WINDOW * 1.1
    assert [o.action for o in await scaler.apply(body)] == ["scaled"]
    assert replicas(provider, "fn") == 3


async def test_resolve_returns_to_min_and_never_wakes_a_function_at_zero(
    gateway: tuple[RunningGateway, MemoryProvider],
) -> None:
    gw, provider = gateway
    labels = {LABEL_SCALE_MIN: "2", LABEL_SCALE_MAX: "10", LABEL_SCALE_FACTOR: "50"}
    add(provider, "fn", labels)
    add(provider, "asleep", labels)
    await provider.scale("asleep", "openfaas-fn", 0)
    await post(gw, webhook(alert("fn.openfaas-fn")))
    assert replicas(provider, "fn") == 6
    await post(gw, webhook(alert("fn.openfaas-fn", "resolved"), alert("asleep.openfaas-fn", "resolved")))
    assert replicas(provider, "fn") == 2
    assert replicas(provider, "asleep") == 0
    await post(gw, webhook(alert("fn.openfaas-fn", "resolved")))  # idempotent
    assert replicas(provider, "fn") == 2


async def test_late_resolve_of_an_older_episode_is_ignored(
    gateway: tuple[RunningGateway, MemoryProvider],
) -> None:
    gw, provider = gateway
    add(provider, "fn", {LABEL_SCALE_MAX: "10", LABEL_SCALE_FACTOR: "10"})
    await post(gw, webhook(alert("fn.openfaas-fn", episode=5)))
    assert replicas(provider, "fn") == 2
    await post(gw, webhook(alert("fn.openfaas-fn", "resolved", episode=1)))
    assert replicas(provider, "fn") == 2


async def test_alert_in_another_namespace(gateway: tuple[RunningGateway, MemoryProvider]) -> None:
    gw, provider = gateway
    add(provider, "fn", {LABEL_SCALE_MAX: "4", LABEL_SCALE_FACTOR: "25"}, namespace="team-a")
    await post(gw, webhook(alert("fn.team-a")))
    assert replicas(provider, "fn", "team-a") == 2


async def test_left_alone_factor_zero_target_tracked_unknown_or_unnamed(
    gateway: tuple[RunningGateway, MemoryProvider],
) -> None:
    gw, provider = gateway
    add(provider, "off", {LABEL_SCALE_FACTOR: "0"})
    add(provider, "tracked", {LABEL_SCALE_TYPE: "rps"})
    body = webhook(
        alert("off.openfaas-fn"),
        alert("tracked.openfaas-fn"),
        alert("missing.openfaas-fn"),
        AlertmanagerAlert(status="firing", labels={"alertname": "Other"}),
    )
    assert await post(gw, body) == (200, "")
    assert provider.scale_calls == []
    labelled = {
        sample.labels.get("function_name")
        for family in gw.registry.collect()
        if family.name == "gateway_alert_outcomes"
        for sample in family.samples
    }
    assert labelled == {"off.openfaas-fn", "tracked.openfaas-fn"}  # no label for a name the payload invented


async def test_failed_scale_answers_500_so_alertmanager_retries(
    gateway: tuple[RunningGateway, MemoryProvider],
) -> None:
    gw, provider = gateway
    add(provider, "fn", {LABEL_SCALE_MAX: "10", LABEL_SCALE_FACTOR: "10"})

    def refuse(name: str, namespace: str, replicas: int) -> None:
        raise ProviderError("spawn failed")

    provider.on_scale = refuse
    status, body = await post(gw, webhook(alert("fn.openfaas-fn")))
    assert status == 500
    assert body["failed"] == [{"index": 0, "function_name": "fn.openfaas-fn", "error": "spawn failed"}]
    provider.on_scale = None
    provider.functions[("fn", "openfaas-fn")].desired = 1
    assert (await post(gw, webhook(alert("fn.openfaas-fn"))))[0] == 200  # the retry is not a duplicate
    assert replicas(provider, "fn") == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"", "body"),
        (b"{not json", "body"),
        (b"[]", "body"),
        (b'{"status": "firing"}', "alerts"),
        (b'{"status": "firing", "alerts": [{"status": "burning"}]}', "alerts.0.status"),
        (
            b'{"status": "firing", "alerts": [{"status": "firing", "labels": {"function_name": 7}}]}',
            "alerts.0.labels.function_name",
        ),
        (b'{"status": "odd", "alerts": []}', "status"),
    ],
)
async def test_bad_payload_is_400_naming_the_field(
    gateway: tuple[RunningGateway, MemoryProvider], body: bytes, field: str
) -> None:
    gw, provider = gateway
    status, answer = await post(gw, None, raw=body)
    assert status == 400
    assert answer["field"] == field
    assert provider.scale_calls == []


async def test_alert_needs_basic_auth(gateway: tuple[RunningGateway, MemoryProvider]) -> None:
    gw, provider = gateway
    add(provider, "fn")
    async with (
        aiohttp.ClientSession(gw.url) as session,
        session.post("/system/alert", json=webhook(alert("fn.openfaas-fn"))) as response,
    ):
        assert response.status == 401
    assert provider.scale_calls == []
