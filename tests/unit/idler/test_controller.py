"""The controller's decisions over a provider and a load source whose answers the test sets, on a fake clock.
(End to end with the real gateway, replicas and Prometheus: tests/integration/autoscale.)"""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from pyfaas.core.errors import ProviderError
from pyfaas.core.labels import (
    LABEL_SCALE_FACTOR,
    LABEL_SCALE_MAX,
    LABEL_SCALE_MIN,
    LABEL_SCALE_TARGET,
    LABEL_SCALE_TARGET_PROPORTION,
    LABEL_SCALE_TYPE,
    LABEL_SCALE_ZERO,
    LABEL_SCALE_ZERO_DURATION,
)
from pyfaas.idler.controller import Action, Controller
from pyfaas.idler.load import FunctionLoad
from pyfaas.idler.metrics import IdlerMetrics
from pyfaas.idler.settings import IdlerSettings
from tests.support.async_calls import until
from tests.support.gateway import MemoryProvider

NS = "openfaas-fn"


class Loads:
    description = "test loads"

    def __init__(self) -> None:
        self.loads: dict[str, FunctionLoad] = {}
        self.fail = False

    async def sample(self) -> dict[str, FunctionLoad]:
        if self.fail:
            raise ProviderError("metrics unreachable")
        return dict(self.loads)


class Clock:
    """The controller's clock and its pause between rounds: a pause advances the clock at once, records how
    long the loop asked to wait, and sets ``stop`` after ``rounds`` pauses."""

    def __init__(self, rounds: int = 0) -> None:
        self.now = 0.0
        self.rounds = rounds
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def pause(self, stop: asyncio.Event, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds
        if len(self.pauses) >= self.rounds:
            stop.set()


def build(
    rounds: int = 0,
    **env: str,
) -> tuple[Controller, MemoryProvider, Loads, Clock, CollectorRegistry]:
    provider = MemoryProvider()
    loads = Loads()
    clock = Clock(rounds)
    registry = CollectorRegistry()
    settings = IdlerSettings.from_env({"inactivity_duration": "60s", "scale_down_window": "10s", **env})
    controller = Controller(settings, provider, loads, IdlerMetrics(registry), clock=clock, pause=clock.pause)
    return controller, provider, loads, clock, registry


def deploy(provider: MemoryProvider, name: str, labels: dict[str, str], replicas: int = 1) -> None:
    provider.add(name, [f"http://{name}-ready"], labels=labels)  # one replica ready (available)
    provider.functions[(name, NS)].desired = replicas


def replicas(provider: MemoryProvider, name: str) -> int:
    return provider.functions[(name, NS)].desired


async def test_idle_zero_labelled_function_goes_to_zero_after_its_duration() -> None:
    controller, provider, loads, clock, registry = build()
    deploy(provider, "sleepy", {LABEL_SCALE_ZERO: "true", LABEL_SCALE_ZERO_DURATION: "10s"})
    deploy(provider, "default-idle", {LABEL_SCALE_ZERO: "1"})  # inactivity_duration (60s)
    deploy(provider, "plain", {})
    loads.loads = {f"{n}.{NS}": FunctionLoad(started=3) for n in ("sleepy", "default-idle", "plain")}
    assert await controller.reconcile() == []
    clock.now = 9.9
    assert await controller.reconcile() == []
    clock.now = 10.0
    assert await controller.reconcile() == [Action("sleepy", NS, 1, 0, "idle")]
    assert replicas(provider, "sleepy") == 0
    clock.now = 60.0
    assert await controller.reconcile() == [Action("default-idle", NS, 1, 0, "idle")]
    clock.now = 1000.0
    assert await controller.reconcile() == []
    assert replicas(provider, "plain") == 1
    assert (
        registry.get_sample_value("idler_scale_total", {"function_name": f"sleepy.{NS}", "reason": "idle"})
        == 1
    )


async def test_a_woken_function_gets_a_full_duration_even_before_the_source_shows_the_calls() -> None:
    controller, provider, loads, clock, _ = build()
    deploy(provider, "fn", {LABEL_SCALE_ZERO: "true", LABEL_SCALE_ZERO_DURATION: "10s"})
    loads.loads = {f"fn.{NS}": FunctionLoad(started=1)}
    await controller.reconcile()
    clock.now = 10.0
    assert [a.wanted for a in await controller.reconcile()] == [0]
    clock.now = 30.0
    await controller.reconcile()  # still asleep
    provider.functions[("fn", NS)].desired = 1  # the gateway woke it; Prometheus has not scraped the call yet
    clock.now = 31.0
    assert await controller.reconcile() == []
    clock.now = 40.9
    assert await controller.reconcile() == []
    clock.now = 41.0
    assert [a.wanted for a in await controller.reconcile()] == [0]


async def test_a_function_still_starting_is_not_idle_its_clock_runs_from_readiness() -> None:
    controller, provider, loads, clock, _ = build()
    deploy(provider, "fn", {LABEL_SCALE_ZERO: "true", LABEL_SCALE_ZERO_DURATION: "10s"})
    loads.loads = {f"fn.{NS}": FunctionLoad(started=1)}
    await controller.reconcile()
    clock.now = 10.0
    assert [a.wanted for a in await controller.reconcile()] == [0]
    provider.set_ready("fn", [])
    provider.functions[("fn", NS)].desired = 1  # woken: the pod is still being pulled and started
    for clock.now in (11.0, 20.0, 30.0):  # longer than the idle duration, with no replica ready
        assert await controller.reconcile() == []
    provider.set_ready("fn", ["http://fn-ready"])  # ready at last: the waking call is served now
    clock.now = 39.9
    assert await controller.reconcile() == []
    clock.now = 40.0
    assert [a.wanted for a in await controller.reconcile()] == [0]


async def test_calls_and_in_flight_work_keep_a_function_awake() -> None:
    controller, provider, loads, clock, _ = build()
    deploy(provider, "fn", {LABEL_SCALE_ZERO: "true", LABEL_SCALE_ZERO_DURATION: "10s"})
    loads.loads = {f"fn.{NS}": FunctionLoad(started=1)}
    await controller.reconcile()
    clock.now = 8.0
    loads.loads = {f"fn.{NS}": FunctionLoad(started=2)}
    await controller.reconcile()
    clock.now = 15.0
    assert await controller.reconcile() == []  # 7s since the last call
    loads.loads = {f"fn.{NS}": FunctionLoad(started=2, busy=True)}  # one long call
    clock.now = 30.0
    assert await controller.reconcile() == []
    loads.loads = {f"fn.{NS}": FunctionLoad(started=2)}
    clock.now = 39.0
    assert await controller.reconcile() == []
    clock.now = 40.0
    assert [a.wanted for a in await controller.reconcile()] == [0]


async def test_no_data_means_no_scale_to_zero_and_errors_do_not_end_the_loop() -> None:
    controller, provider, loads, clock, registry = build(rounds=3, reconcile_interval="10ms")
    deploy(provider, "fn", {LABEL_SCALE_ZERO: "true", LABEL_SCALE_ZERO_DURATION: "1s"})
    await controller.reconcile()
    clock.now = 1000.0
    assert await controller.reconcile() == []  # the source knows nothing about fn
    loads.fail = True
    await asyncio.wait_for(controller.run(asyncio.Event()), 10)
    assert registry.get_sample_value("idler_reconcile_errors_total") == 3  # every failed round, and on
    assert clock.pauses == [0.01, 0.01, 0.01]  # failing rounds keep to the 10 ms interval
    assert replicas(provider, "fn") == 1


async def test_sleep_between_rounds_ends_when_stopped() -> None:
    # The real pause: a stop during a one-hour pause ends the loop at once (wait_for's bound is the check).
    provider = MemoryProvider()
    registry = CollectorRegistry()
    settings = IdlerSettings.from_env({"reconcile_interval": "1h"})
    controller = Controller(settings, provider, Loads(), IdlerMetrics(registry))
    stop = asyncio.Event()
    task = asyncio.create_task(controller.run(stop))
    await until(
        lambda: (registry.get_sample_value("idler_reconcile_seconds_count") or 0) >= 1,
        limit=10,
        what="the first round",
    )
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_the_loop_wakes_when_an_idle_duration_ends_not_a_round_later() -> None:
    controller, provider, loads, clock, _ = build(
        rounds=2, reconcile_interval="1h", inactivity_duration="1h", scale_down_window="0s"
    )
    deploy(provider, "fn", {LABEL_SCALE_ZERO: "true", LABEL_SCALE_ZERO_DURATION: "300ms"})
    loads.loads = {f"fn.{NS}": FunctionLoad(started=1)}
    await asyncio.wait_for(controller.run(asyncio.Event()), 10)
    assert clock.pauses[0] == pytest.approx(0.3)  # not the hour to the next round
    assert replicas(provider, "fn") == 0


def tracked(target: str = "5", scale_type: str = "rps", **extra: str) -> dict[str, str]:
    return {
        LABEL_SCALE_TYPE: scale_type,
        LABEL_SCALE_TARGET: target,
        LABEL_SCALE_TARGET_PROPORTION: "1",
        LABEL_SCALE_MAX: "10",
        **extra,
    }


async def test_target_tracking_one_step_up_stabilised_down() -> None:
    controller, provider, loads, clock, _ = build()
    deploy(provider, "fn", tracked())
    loads.loads = {f"fn.{NS}": FunctionLoad(started=0, rps=2)}
    assert await controller.reconcile() == []
    loads.loads = {f"fn.{NS}": FunctionLoad(started=0, rps=20)}
    clock.now = 1.0
    assert await controller.reconcile() == [Action("fn", NS, 1, 4, "up")]  # ceil(20 / 5), in one step
    loads.loads = {f"fn.{NS}": FunctionLoad(started=0, rps=1000)}
    clock.now = 2.0
    assert [a.wanted for a in await controller.reconcile()] == [10]  # max
    loads.loads = {f"fn.{NS}": FunctionLoad(started=0, rps=3)}
    clock.now = 11.0
    assert await controller.reconcile() == []  # within the 10s window
    clock.now = 12.5
    assert await controller.reconcile() == [Action("fn", NS, 10, 1, "down")]


async def test_capacity_uses_in_flight_and_min_is_respected() -> None:
    controller, provider, loads, _, _ = build()
    deploy(provider, "fn", tracked("2", "capacity", **{LABEL_SCALE_MIN: "3"}))
    loads.loads = {f"fn.{NS}": FunctionLoad(started=0, rps=1000, inflight=9)}
    assert [a.wanted for a in await controller.reconcile()] == [5]  # ceil(9 / 2)
    controller_down, provider_down, loads_down, _, _ = build(scale_down_window="0s")
    deploy(provider_down, "fn", tracked("2", "capacity", **{LABEL_SCALE_MIN: "3"}), replicas=5)
    loads_down.loads = {f"fn.{NS}": FunctionLoad(started=0)}
    assert [a.wanted for a in await controller_down.reconcile()] == [3]


async def test_tracking_leaves_functions_at_zero_and_unlabelled_ones_alone() -> None:
    controller, provider, loads, _, _ = build()
    deploy(provider, "asleep", tracked(), replicas=0)
    deploy(provider, "plain", {})
    loads.loads = {f"{n}.{NS}": FunctionLoad(started=0, rps=100) for n in ("asleep", "plain")}
    assert await controller.reconcile() == []


async def test_default_scale_type_is_the_fallback_for_unlabelled_functions() -> None:
    controller, provider, loads, _, _ = build(default_scale_type="rps", default_scale_target="5")
    deploy(provider, "plain", {})
    deploy(provider, "own", tracked("50"))
    loads.loads = {f"{n}.{NS}": FunctionLoad(started=0, rps=30) for n in ("plain", "own")}
    assert sorted((a.name, a.wanted) for a in await controller.reconcile()) == [
        ("plain", 7)
    ]  # ceil(30/(5*0.9))


async def test_the_fallback_keeps_a_manual_count_and_only_removes_replicas_it_added() -> None:
    controller, provider, loads, clock, _ = build(default_scale_type="rps", default_scale_target="5")
    deploy(provider, "plain", {})
    deploy(provider, "own", tracked("50"))
    loads.loads = {f"{n}.{NS}": FunctionLoad(started=0) for n in ("plain", "own")}
    assert await controller.reconcile() == []
    provider.functions[("plain", NS)].desired = 3  # pyfaas scale plain --replicas 3
    provider.functions[("own", NS)].desired = 3  # labelled: target tracking owns it
    for second in (1.0, 5.0, 20.0, 40.0):
        clock.now = second
        assert await controller.reconcile() == ([Action("own", NS, 3, 1, "down")] if second == 1.0 else [])
    assert replicas(provider, "plain") == 3
    loads.loads = {f"plain.{NS}": FunctionLoad(started=0, rps=30)}
    clock.now = 41.0
    assert await controller.reconcile() == [Action("plain", NS, 3, 7, "up")]
    loads.loads = {f"plain.{NS}": FunctionLoad(started=0)}
    clock.now = 60.0
    assert await controller.reconcile() == [Action("plain", NS, 7, 3, "down")]  # back to the manual count
    provider.functions[("plain", NS)].desired = 2  # scaled down by hand
    clock.now = 61.0
    assert await controller.reconcile() == []
    assert replicas(provider, "plain") == 2


async def test_a_restarted_controller_keeps_every_count_it_finds() -> None:
    controller, provider, loads, clock, _ = build(default_scale_type="rps", default_scale_target="5")
    deploy(provider, "plain", {}, replicas=4)
    loads.loads = {f"plain.{NS}": FunctionLoad(started=0)}
    for second in (0.0, 30.0):
        clock.now = second
        assert await controller.reconcile() == []


async def test_the_fallback_skips_functions_with_alert_scaling_off() -> None:
    controller, provider, loads, _, _ = build(default_scale_type="rps", default_scale_target="5")
    deploy(provider, "off", {LABEL_SCALE_FACTOR: "0"})
    loads.loads = {f"off.{NS}": FunctionLoad(started=0, rps=100)}
    assert await controller.reconcile() == []


async def test_target_tracking_can_be_turned_off() -> None:
    controller, provider, loads, _, _ = build(target_tracking="false")
    deploy(provider, "fn", tracked())
    loads.loads = {f"fn.{NS}": FunctionLoad(started=0, rps=100)}
    assert await controller.reconcile() == []


async def test_dry_run_decides_logs_once_and_changes_nothing() -> None:
    controller, provider, loads, clock, registry = build(dry_run="true")
    deploy(provider, "fn", {LABEL_SCALE_ZERO: "true", LABEL_SCALE_ZERO_DURATION: "1s"})
    loads.loads = {f"fn.{NS}": FunctionLoad(started=1)}
    await controller.reconcile()
    for second in (2.0, 3.0, 4.0):
        clock.now = second
        assert [a.wanted for a in await controller.reconcile()] == [0]
    assert provider.scale_calls == []
    assert (
        registry.get_sample_value("idler_scale_total", {"function_name": f"fn.{NS}", "reason": "idle"}) == 1
    )
    assert registry.get_sample_value("idler_dry_run") == 1


async def test_a_refused_scale_is_counted_and_the_round_goes_on() -> None:
    controller, provider, loads, clock, registry = build()
    deploy(provider, "a", {LABEL_SCALE_ZERO: "true", LABEL_SCALE_ZERO_DURATION: "1s"})
    deploy(provider, "b", {LABEL_SCALE_ZERO: "true", LABEL_SCALE_ZERO_DURATION: "1s"})
    loads.loads = {f"{n}.{NS}": FunctionLoad(started=1) for n in ("a", "b")}

    def refuse_a(name: str, namespace: str, replicas: int) -> None:
        if name == "a":
            raise ProviderError("refused")

    provider.on_scale = refuse_a
    await controller.reconcile()
    clock.now = 2.0
    await controller.reconcile()
    assert registry.get_sample_value("idler_scale_errors_total", {"function_name": f"a.{NS}"}) == 1
    assert replicas(provider, "b") == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("inactivity_duration", "soon"),
        ("reconcile_interval", "0"),
        ("gateway_url", "gateway:8080"),
        ("dry_run", "maybe"),
    ],
)
def test_bad_settings_name_the_variable(variable: str, value: str) -> None:
    from pyfaas.core.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        IdlerSettings.from_env({variable: value})
    assert caught.value.field == variable


def test_settings_defaults_and_derived_urls() -> None:
    settings = IdlerSettings.from_env({"gateway_url": "http://gw.openfaas:8080/"})
    assert settings.inactivity_duration == 15 * 60
    assert settings.metrics_url == "http://gw.openfaas:8082/metrics"
    assert settings.prometheus_url is None
    assert settings.secret_mount_path == "/var/secrets/"
    with_prom = IdlerSettings.from_env({"prometheus_host": "prometheus.openfaas", "prometheus_port": "9091"})
    assert with_prom.prometheus_url == "http://prometheus.openfaas:9091"


async def test_failing_rounds_after_a_deadline_do_not_spin() -> None:
    provider = MemoryProvider()
    loads = Loads()
    registry = CollectorRegistry()
    settings = IdlerSettings.from_env({"reconcile_interval": "200ms"})
    clock = Clock(rounds=5)
    controller = Controller(settings, provider, loads, IdlerMetrics(registry), clock=clock, pause=clock.pause)
    deploy(provider, "fn", {LABEL_SCALE_ZERO: "true", LABEL_SCALE_ZERO_DURATION: "50ms"})
    loads.loads = {f"fn.{NS}": FunctionLoad(started=1)}
    await controller.reconcile()  # fn is due in 50 ms
    loads.fail = True
    await asyncio.wait_for(controller.run(asyncio.Event()), 10)
    assert clock.pauses == [0.2] * 5  # the passed deadline does not make failing rounds spin
    assert registry.get_sample_value("idler_reconcile_errors_total") == 5
    assert replicas(provider, "fn") == 1
