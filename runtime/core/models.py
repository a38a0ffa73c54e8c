"""Pydantic models of the OpenFaaS wire contract (faas-provider ``types``), plus pyfaas's additions.

Input: unknown fields are ignored, camelCase keys as OpenFaaS sends them. Output: :meth:`WireModel.wire`
reproduces Go's ``encoding/json``: ``omitempty`` fields drop empty strings, zero numbers, ``false`` and empty
or missing maps/lists; fields Go always emits (``createdAt``, ``replicas`` of a scale request, ``Method`` and
``Function`` of a QueueRequest ...) are kept; set struct pointers and ``*map`` fields are kept when empty.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

__all__ = [
    "AlertmanagerAlert",
    "AlertmanagerWebhook",
    "AsyncCallRecord",
    "CallbackURL",
    "DeleteFunctionRequest",
    "FunctionDeployment",
    "FunctionNamespace",
    "FunctionResources",
    "FunctionStatus",
    "FunctionUsage",
    "GatewayInfo",
    "LogMessage",
    "ProviderInfo",
    "QueueRequest",
    "ReplicaFailure",
    "ScaleServiceRequest",
    "Secret",
    "VersionInfo",
]

ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
ZERO_TIME_TEXT = "0001-01-01T00:00:00Z"
"""Go's zero ``time.Time`` as encoding/json renders it."""


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value is False or value == 0 or value == {} or value == []


def _go_number(value: Any) -> Any:
    # Go renders float64 1337 as `1337`; Python's json would write `1337.0`.
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def format_rfc3339(value: datetime) -> str:
    """Go's RFC3339Nano rendering: zero offset as ``Z``, other offsets kept, trailing zeros of the fraction
    dropped. Naive datetimes are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    offset = value.utcoffset()
    text = f"{value.year:04d}-" + value.strftime("%m-%dT%H:%M:%S")
    if value.microsecond:
        text += ("." + f"{value.microsecond:06d}").rstrip("0")
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return text + f"{sign}{hours:02d}:{mins:02d}"


class WireModel(BaseModel):
    """Base of every wire model: aliases on input and output, unknown input ignored.

    Subclasses declare, by JSON key, the fields Go emits without ``omitempty`` (``_always``) and the pointer
    fields Go emits whenever they are set, even when empty (``_keep_empty``: ``*map`` fields render ``{}``).
    Nested models are Go struct pointers: emitted (as their own ``wire()``) whenever they are not ``None``.
    """

    model_config = ConfigDict(populate_by_name=True, extra="ignore", serialize_by_alias=True)
    _always: ClassVar[frozenset[str]] = frozenset()
    _keep_empty: ClassVar[frozenset[str]] = frozenset()

    def wire(self) -> dict[str, Any]:
        """JSON-ready dict with Go ``omitempty`` semantics."""
        raw = self.model_dump(mode="json", by_alias=True)
        out: dict[str, Any] = {}
        for name, info in type(self).model_fields.items():
            key = info.serialization_alias or info.alias or name
            value = getattr(self, name)
            if isinstance(value, WireModel):
                out[key] = value.wire()
            elif isinstance(value, list) and value and all(isinstance(item, WireModel) for item in value):
                out[key] = [item.wire() for item in value]
            elif (
                key in self._always
                or (key in self._keep_empty and value is not None)
                or not _is_empty(raw[key])
            ):
                out[key] = _go_number(raw[key])
        return out

    def wire_bytes(self) -> bytes:
        """``wire()`` as compact UTF-8 JSON: how queued requests and call records are stored in NATS."""
        return json.dumps(self.wire(), separators=(",", ":")).encode()


class FunctionResources(WireModel):
    """Kubernetes-style quantities (``128Mi``, ``100m``); GPU keys are OpenFaaS extensions."""

    memory: str | None = None
    cpu: str | None = None
    nvidia_gpu: str | None = Field(None, alias="nvidia.com/gpu")
    amd_gpu: str | None = Field(None, alias="amd.com/gpu")
    intel_gpu: str | None = Field(None, alias="intel.com/gpu")

    def is_empty(self) -> bool:
        return not self.wire()


class _FunctionFields(WireModel):
    """Fields FunctionDeployment and FunctionStatus share."""

    image: str = ""
    namespace: str | None = None
    envProcess: str | None = None
    """Becomes env ``fprocess`` in the function's watchdog."""
    envVars: dict[str, str] | None = None
    constraints: list[str] | None = None
    secrets: list[str] | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    limits: FunctionResources | None = None
    requests: FunctionResources | None = None
    readOnlyRootFilesystem: bool = False

    _keep_empty = frozenset({"labels", "annotations"})


class FunctionDeployment(_FunctionFields):
    """Body of POST/PUT ``/system/functions``: one function, described once for every target."""

    _always = frozenset({"service", "image"})

    service: str = Field(..., min_length=1)
    image: str = Field(..., min_length=1)

    @field_validator("envVars", "labels", "annotations", mode="before")
    @classmethod
    def _stringify_values(cls, value: Any) -> Any:
        # stack.yml authors write `replicas: 2` or `debug: true`; OpenFaaS accepts them as strings.
        if isinstance(value, dict):
            return {str(k): _to_str(v) for k, v in value.items()}
        return value

    def status(
        self,
        *,
        replicas: int = 0,
        available_replicas: int = 0,
        created_at: datetime | None = None,
        invocation_count: float = 0.0,
    ) -> FunctionStatus:
        """The FunctionStatus a provider reports for this deployment."""
        data = self.model_dump(exclude={"service"})
        return FunctionStatus(
            name=self.service,
            replicas=replicas,
            availableReplicas=available_replicas,
            createdAt=created_at or ZERO_TIME,
            invocationCount=invocation_count,
            **data,
        )


def _to_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class FunctionUsage(WireModel):
    cpu: float = 0.0
    totalMemoryBytes: float = 0.0


class ReplicaFailure(WireModel):
    """Why a function's replicas do not become ready: the last unexpected end of one (a pyfaas addition to
    FunctionStatus; OpenFaaS clients ignore it). Providers set it when they can tell and clear it once a
    replica of the current spec is ready again."""

    reason: str
    """What happened, e.g. ``exited with code 1 before it was ready`` or ``CrashLoopBackOff``."""
    message: str = ""
    """The replica's last words: the last lines of its output (a traceback), or the orchestrator's message."""
    beforeReady: bool = False
    """The replica ended before it was ever ready (it crashes at start): waiting for it is pointless."""
    restarts: int = 0
    """Unexpected ends of this function's replicas so far."""
    at: datetime | None = None

    @field_serializer("at")
    def _ser_at(self, value: datetime | None) -> str | None:
        return None if value is None else format_rfc3339(value)

    def summary(self) -> str:
        """One line: the reason and the last line of the message (``SyntaxError: ...``)."""
        last = next((line.strip() for line in reversed(self.message.splitlines()) if line.strip()), "")
        return f"{self.reason}: {last}" if last else self.reason


class FunctionStatus(_FunctionFields):
    """An item of GET ``/system/functions`` and the body of GET ``/system/function/{name}``."""

    _always = frozenset({"name", "image", "createdAt"})
    _keep_empty = frozenset({"labels", "annotations", "updatedReplicas"})

    name: str
    invocationCount: float = 0.0
    replicas: int = Field(0, ge=0)
    """Desired replicas."""
    availableReplicas: int = Field(0, ge=0)
    """Replicas that are ready to serve."""
    updatedReplicas: int | None = Field(None, ge=0)
    """pyfaas: ready replicas of the current spec (during a rolling update the others still serve); None
    when the provider does not tell. ``pyfaas deploy`` waits on it."""
    createdAt: datetime = ZERO_TIME
    usage: FunctionUsage | None = None
    replicaFailure: ReplicaFailure | None = None
    """pyfaas: why replicas do not become ready, when the provider can tell (None: nothing known)."""

    @field_serializer("createdAt")
    def _ser_created(self, value: datetime) -> str:
        return format_rfc3339(value)

    def deployment(self) -> FunctionDeployment:
        """The FunctionDeployment this status describes (for updates and redeploys)."""
        data = self.model_dump(
            exclude={
                "name",
                "invocationCount",
                "replicas",
                "availableReplicas",
                "updatedReplicas",
                "createdAt",
                "usage",
                "replicaFailure",
            }
        )
        return FunctionDeployment(service=self.name, **data)


class DeleteFunctionRequest(WireModel):
    _always = frozenset({"functionName"})

    functionName: str = Field(..., min_length=1)
    namespace: str | None = None


class ScaleServiceRequest(WireModel):
    """Body of POST ``/system/scale-function/{name}``; ``replicas`` is always emitted (0 = scale to zero)."""

    _always = frozenset({"serviceName", "replicas"})

    serviceName: str = ""
    replicas: int = Field(..., ge=0)
    namespace: str | None = None


class Secret(WireModel):
    """A secret; ``value`` is text, ``rawValue`` bytes (base64 in JSON, used when ``value`` is empty)."""

    _always = frozenset({"name"})

    name: str = Field(..., min_length=1)
    namespace: str | None = None
    value: str | None = None
    rawValue: bytes | None = None

    @field_validator("rawValue", mode="before")
    @classmethod
    def _decode_raw(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except ValueError as exc:
                raise ValueError("rawValue must be base64") from exc
        return value

    @field_serializer("rawValue")
    def _ser_raw(self, value: bytes | None) -> str | None:
        return base64.b64encode(value).decode() if value else None

    def payload(self) -> bytes:
        """The secret's bytes: ``value`` when set, else ``rawValue``."""
        if self.value:
            return self.value.encode()
        return self.rawValue or b""

    def description(self) -> Secret:
        """The secret without its value, as listings show it."""
        return Secret(name=self.name, namespace=self.namespace)


class VersionInfo(WireModel):
    _always = frozenset({"sha", "release"})

    sha: str = ""
    release: str = ""
    commit_message: str | None = None


class ProviderInfo(WireModel):
    _always = frozenset({"provider", "orchestration", "version"})

    provider: str
    orchestration: str
    version: VersionInfo = Field(default_factory=VersionInfo)


class GatewayInfo(WireModel):
    _always = frozenset({"provider", "version", "arch"})

    provider: ProviderInfo | None = None
    version: VersionInfo
    arch: str


class FunctionNamespace(WireModel):
    _always = frozenset({"name"})

    name: str = ""
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class LogMessage(WireModel):
    """One NDJSON line of ``/system/logs``."""

    _always = frozenset({"name", "namespace", "instance", "timestamp", "text"})

    name: str
    namespace: str = ""
    instance: str = ""
    timestamp: datetime
    text: str

    @field_serializer("timestamp")
    def _ser_ts(self, value: datetime) -> str:
        return format_rfc3339(value)


class AlertmanagerAlert(WireModel):
    """One alert of the webhook; AlertManager emits every key (no omitempty)."""

    _always = frozenset(
        {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
    )

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str = ZERO_TIME_TEXT
    endsAt: str = ZERO_TIME_TEXT
    generatorURL: str = ""
    fingerprint: str = ""

    @property
    def function_name(self) -> str:
        return self.labels.get("function_name", "")


class AlertmanagerWebhook(WireModel):
    """AlertManager's webhook payload (version 4); only what scaling reads is required.

    AlertManager emits every key (no omitempty), so ``wire()`` does too: it is what a test posts as
    AlertManager would.
    """

    _always = frozenset(
        {
            "receiver",
            "status",
            "alerts",
            "groupLabels",
            "commonLabels",
            "commonAnnotations",
            "externalURL",
            "version",
            "groupKey",
            "truncatedAlerts",
        }
    )

    version: str = "4"
    groupKey: str = ""
    truncatedAlerts: int = Field(0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    alerts: list[AlertmanagerAlert]

    @field_validator("groupKey", mode="before")
    @classmethod
    def _group_key_text(cls, value: Any) -> Any:
        # AlertManager before webhook version 4 sent the group key as a number.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class CallbackURL(WireModel):
    """Go's ``url.URL`` as encoding/json renders it (it has no marshaller of its own)."""

    _always = frozenset(
        {
            "Scheme",
            "Opaque",
            "User",
            "Host",
            "Path",
            "RawPath",
            "OmitHost",
            "ForceQuery",
            "RawQuery",
            "Fragment",
            "RawFragment",
        }
    )

    Scheme: str = ""
    Opaque: str = ""
    User: Any = None
    Host: str = ""
    Path: str = ""
    RawPath: str = ""
    OmitHost: bool = False
    ForceQuery: bool = False
    RawQuery: str = ""
    Fragment: str = ""
    RawFragment: str = ""

    @classmethod
    def from_url(cls, url: str) -> CallbackURL:
        parts = urlsplit(url)
        return cls(
            Scheme=parts.scheme,
            Host=parts.netloc,
            Path=parts.path,
            RawQuery=parts.query,
            Fragment=parts.fragment,
        )

    def url(self) -> str:
        text = f"{self.Scheme}://{self.Host}{self.Path}"
        if self.RawQuery:
            text += "?" + self.RawQuery
        return text


class QueueRequest(WireModel):
    """An async invocation as queued: OpenFaaS's capitalised Go field names, body base64, headers as lists."""

    _always = frozenset({"Method", "Function"})

    Header: dict[str, list[str]] | None = None
    Host: str | None = None
    Body: bytes | None = None
    Method: str = "POST"
    Path: str | None = None
    QueryString: str | None = None
    Function: str = Field(..., min_length=1)
    QueueName: str | None = None
    Annotations: dict[str, str] | None = None
    Labels: dict[str, str] | None = None
    Environment: dict[str, str] | None = None
    CallbackUrl: CallbackURL | None = None

    @field_validator("Body", mode="before")
    @classmethod
    def _decode_body(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except ValueError as exc:
                raise ValueError("Body must be base64") from exc
        return value

    @field_serializer("Body")
    def _ser_body(self, value: bytes | None) -> str | None:
        return base64.b64encode(value).decode() if value else None

    @field_validator("CallbackUrl", mode="before")
    @classmethod
    def _accept_string_url(cls, value: Any) -> Any:
        # pyfaas producers may send the URL as a plain string; OpenFaaS sends Go's struct form.
        if isinstance(value, str):
            return CallbackURL.from_url(value) if value else None
        return value

    def header(self, name: str) -> str | None:
        """First value of a header, matched case-insensitively."""
        lowered = name.lower()
        for key, values in (self.Header or {}).items():
            if key.lower() == lowered and values:
                return values[0]
        return None


CallState = Literal["queued", "running", "succeeded", "failed", "dead-lettered"]


class AsyncCallRecord(WireModel):
    """Status of one async call (pyfaas extension, ``GET /system/async/{call_id}``)."""

    _always = frozenset({"callId", "function", "state", "attempts", "queuedAt"})

    callId: str
    function: str
    state: CallState
    attempts: int = 0
    lastStatus: int | None = None
    error: str | None = None
    queuedAt: datetime
    startedAt: datetime | None = None
    finishedAt: datetime | None = None
    callbackUrl: str | None = None
    callbackStatus: int | None = None
    traceId: str | None = None
    """The W3C trace id the call carries (pyfaas extension)."""

    @field_serializer("queuedAt", "startedAt", "finishedAt")
    def _ser_times(self, value: datetime | None) -> str | None:
        return format_rfc3339(value) if value else None
