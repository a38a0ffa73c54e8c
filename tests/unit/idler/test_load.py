"""Load from the gateway's own metrics text: parsing both counter names, rates from a short history."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import generate_latest

from pyfaas.idler.load import GatewayMetricsSource, parse_gateway_metrics


def exposition() -> tuple[CollectorRegistry, Counter, Gauge, Gauge]:
    registry = CollectorRegistry()
    started = Counter("gateway_function_invocation_started", "", ["function_name"], registry=registry)
    inflight = Gauge("gateway_function_invocation_inflight", "", ["function_name"], registry=registry)
    count = Gauge("gateway_service_count", "", ["function_name"], registry=registry)
    return registry, started, inflight, count


def test_parse_python_client_exposition() -> None:
    registry, started, inflight, count = exposition()
    started.labels("a.ns").inc(7)
    inflight.labels("a.ns").set(2)
    count.labels("a.ns").set(1)
    count.labels("never-called.ns").set(1)
    parsed = parse_gateway_metrics(generate_latest(registry).decode())
    assert parsed == {"a.ns": (7.0, 2.0), "never-called.ns": (0.0, 0.0)}


def test_parse_openfaas_go_names() -> None:
    text = (
        "# TYPE gateway_function_invocation_started counter\n"
        'gateway_function_invocation_started{function_name="b.openfaas-fn"} 12\n'
        "# TYPE gateway_function_invocation_inflight gauge\n"
        'gateway_function_invocation_inflight{function_name="b.openfaas-fn"} 0\n'
    )
    assert parse_gateway_metrics(text) == {"b.openfaas-fn": (12.0, 0.0)}


def source(window: float = 3.0) -> GatewayMetricsSource:
    import httpx

    return GatewayMetricsSource(httpx.AsyncClient(), "http://unused/metrics", window)


def test_rate_over_the_window_and_in_flight_average() -> None:
    src = source(window=3.0)
    assert src.observe(0.0, {"f": (0.0, 0.0)})["f"].rps == 0.0
    for second in range(1, 6):
        load = src.observe(float(second), {"f": (10.0 * second, 4.0)})["f"]
    assert load.rps == 10.0
    assert load.inflight == 4.0
    assert load.busy
    # a step from 10/s to 40/s shows within the window
    load = src.observe(6.0, {"f": (90.0, 0.0)})["f"]
    assert 10.0 < load.rps <= 40.0
    assert not load.busy


def test_counter_reset_restarts_the_history_and_gone_functions_are_dropped() -> None:
    src = source()
    src.observe(0.0, {"f": (100.0, 0.0), "g": (1.0, 0.0)})
    src.observe(1.0, {"f": (110.0, 0.0), "g": (1.0, 0.0)})
    load = src.observe(2.0, {"f": (3.0, 0.0)})["f"]  # gateway restarted
    assert load.rps == 0.0
    assert load.started == 3.0
    assert src.observe(3.0, {"f": (6.0, 0.0)})["f"].rps == 3.0
    assert "g" not in src.observe(4.0, {"f": (6.0, 0.0)})
