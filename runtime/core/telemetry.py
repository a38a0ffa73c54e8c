"""Optional OpenTelemetry span export over OTLP/HTTP (pyfaas extension; off by default).

On when ``OTEL_TRACES_EXPORTER`` names ``otlp``, or when it is unset and ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set; ``OTEL_SDK_DISABLED=true`` turns it off. Everything else is
read by the OpenTelemetry SDK itself from the standard variables (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_*``, ``OTEL_BSP_*``, ...). Only the ``http/protobuf``
protocol is shipped (``opentelemetry-exporter-otlp-proto-http``, the ``otel`` extra).

When off, :func:`tracing_from_env` returns None without importing anything from OpenTelemetry, and callers
test ``tracing is None`` on their hot path: that attribute check is the whole cost.

Spans: ``gateway`` (each ``/function`` call and each async submission, SERVER), ``queue wait`` (the time a
queued call waited, CONSUMER), ``worker call`` (the worker's call through the gateway, CLIENT) and
``function`` (the watchdog's run of the function, SERVER). Each passes its own span id downstream as the
``traceparent`` parent, so a collector shows one tree per call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pyfaas.core.booleans import parse_bool
from pyfaas.core.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span

__all__ = ["ActiveSpan", "Tracing", "export_enabled", "tracing_from_env"]

Kind = Literal["server", "client", "consumer", "internal"]


def export_enabled(environ: Mapping[str, str]) -> bool:
    """Whether the standard variables ask for OTLP trace export (see the module docstring)."""
    try:
        if parse_bool(environ.get("OTEL_SDK_DISABLED", "false")):
            return False
    except ValueError as exc:
        raise ConfigError(f"invalid value for OTEL_SDK_DISABLED: {exc}", field="OTEL_SDK_DISABLED") from None
    exporters = environ.get("OTEL_TRACES_EXPORTER")
    if exporters is not None:
        names = {name.strip().lower() for name in exporters.split(",") if name.strip()}
        unknown = names - {"otlp", "none"}
        if unknown:
            raise ConfigError(
                f"OTEL_TRACES_EXPORTER={exporters!r}: pyfaas exports with otlp only (or none)",
                field="OTEL_TRACES_EXPORTER",
            )
        return "otlp" in names
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _check_protocol(environ: Mapping[str, str]) -> None:
    for variable in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = environ.get(variable)
        if value is not None:
            if value.strip() != "http/protobuf":
                raise ConfigError(
                    f"{variable}={value!r}: pyfaas exports over http/protobuf only", field=variable
                )
            return


class ActiveSpan:
    """A started span; ``traceparent``/``tracestate`` are what to send downstream (this span as parent)."""

    __slots__ = ("_span", "traceparent", "tracestate")

    def __init__(self, span: Span, traceparent: str, tracestate: str | None) -> None:
        self._span = span
        self.traceparent = traceparent
        self.tracestate = tracestate

    def set(self, key: str, value: str | int | float | bool) -> None:
        self._span.set_attribute(key, value)

    def end(self, *, status: int | None = None, error: str | None = None, end_ns: int | None = None) -> None:
        from opentelemetry.trace import Status, StatusCode

        if status is not None:
            self._span.set_attribute("http.response.status_code", status)
        if error is not None or (status is not None and status >= 500):
            self._span.set_status(Status(StatusCode.ERROR, error))
        self._span.end(end_time=end_ns)


class Tracing:
    """One service's tracer provider and exporter (built only when export is on)."""

    def __init__(self, service_name: str, environ: Mapping[str, str]) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        attributes = {} if environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
        self._provider: TracerProvider = TracerProvider(resource=Resource.create(attributes))
        self._provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self._tracer = self._provider.get_tracer("pyfaas")
        self._propagator = TraceContextTextMapPropagator()
        self._kinds: dict[str, Any] = {
            "server": SpanKind.SERVER,
            "client": SpanKind.CLIENT,
            "consumer": SpanKind.CONSUMER,
            "internal": SpanKind.INTERNAL,
        }

    def start(
        self,
        name: str,
        traceparent: str | None,
        tracestate: str | None = None,
        *,
        kind: Kind = "internal",
        start_ns: int | None = None,
        attributes: Mapping[str, str | int | float | bool] | None = None,
    ) -> ActiveSpan:
        """A span whose parent is ``traceparent`` (a new trace when None or invalid)."""
        from opentelemetry.trace import set_span_in_context

        carrier: dict[str, str] = {}
        if traceparent:
            carrier["traceparent"] = traceparent
            if tracestate:
                carrier["tracestate"] = tracestate
        parent = self._propagator.extract(carrier)
        span = self._tracer.start_span(
            name, context=parent, kind=self._kinds[kind], start_time=start_ns, attributes=attributes
        )
        out: dict[str, str] = {}
        self._propagator.inject(out, context=set_span_in_context(span, parent))
        return ActiveSpan(span, out["traceparent"], out.get("tracestate"))

    def flush(self, timeout: float = 5.0) -> bool:
        return self._provider.force_flush(int(timeout * 1000))

    def shutdown(self) -> None:
        self._provider.shutdown()


def tracing_from_env(environ: Mapping[str, str], service_name: str) -> Tracing | None:
    """The service's tracing when export is configured, else None (nothing imported)."""
    if not export_enabled(environ):
        return None
    _check_protocol(environ)
    return Tracing(service_name, environ)
