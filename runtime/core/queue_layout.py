"""The JetStream layout the gateway (producer) and the queue worker (consumer) agree on.

Pure names and configurations, no I/O: each service applies them with its own NATS connection, because the
services must not import each other. Layout:

* work stream (work-queue retention, file storage): one subject per function, ``faas.calls.<ns>.<name>``,
  consumed by one durable pull consumer per function (``fn_<ns>_<name>``) so a backlog of one function
  never sits in front of another's messages;
* dead-letter stream (limits retention): ``faas.dead.<call_id>``, payload = the original QueueRequest JSON,
  final status and error in headers;
* callback stream (work-queue retention): ``faas.callbacks.<ns>.<name>.<call_id>``, one JSON
  :class:`CallbackJob` each, delivered (and retried) by the worker's callback consumer; a subject per call so
  a worker can look up whether a call's outcome is already stored there;
* key-value bucket of :class:`~pyfaas.core.models.AsyncCallRecord` JSON, key = call id, with a TTL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from nats.js.api import KeyValueConfig, RetentionPolicy, StorageType, StreamConfig
from pydantic import AliasChoices, BaseModel, Field

from pyfaas.core.models import AsyncCallRecord
from pyfaas.core.settings import Duration, EnvSettings

__all__ = [
    "CALL_ID_PATTERN",
    "RECOMMENDED_MAX_PAYLOAD",
    "CallbackJob",
    "DeadLetterHeaders",
    "QueueLayout",
    "QueueSettings",
    "is_valid_call_id",
]

RECOMMENDED_MAX_PAYLOAD = 4 * 1024 * 1024
"""``max_payload`` for nats-server so a 1 MiB async body fits after base64 (the server default is 1 MiB)."""

CALL_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
"""Call ids are NATS subject tokens and KV keys: letters, digits, ``_`` and ``-`` only."""


def is_valid_call_id(value: str) -> bool:
    return bool(CALL_ID_PATTERN.match(value))


class DeadLetterHeaders:
    """NATS header names on a dead-letter message."""

    CALL_ID = "Pyfaas-Call-Id"
    FUNCTION = "Pyfaas-Function"
    NAMESPACE = "Pyfaas-Namespace"
    STATUS = "Pyfaas-Status"
    ERROR = "Pyfaas-Error"
    ATTEMPTS = "Pyfaas-Attempts"


@dataclass(frozen=True, slots=True)
class QueueLayout:
    """Stream, subject and bucket names plus retention; one value shared by gateway and worker settings."""

    calls_stream: str = "PYFAAS_CALLS"
    dead_stream: str = "PYFAAS_DEAD"
    callbacks_stream: str = "PYFAAS_CALLBACKS"
    records_bucket: str = "pyfaas_calls"
    subject_prefix: str = "faas"
    record_ttl: float = 24 * 3600.0
    """Seconds a call record is kept after its last update."""
    dead_letter_ttl: float = 7 * 24 * 3600.0
    """Seconds a dead letter is kept unless redriven or purged."""
    max_message_bytes: int = -1
    """Largest stored message; -1 leaves it to the server's ``max_payload``. The QueueRequest carries the body
    base64-encoded (OpenFaaS's JSON), so a 1 MiB body needs ``max_payload`` of at least ~1.4 MiB: run
    nats-server with ``max_payload: 4MB`` (its default is 1 MiB)."""
    replicas: int = 1
    """Copies of each stream in a clustered NATS (OpenFaaS Pro's ``nats_stream_replicas``)."""
    duplicate_window: float = 120.0
    """Seconds a ``Nats-Msg-Id`` (the call id) deduplicates a resubmission."""

    # subjects ------------------------------------------------------------------------------------
    def call_subject(self, name: str, namespace: str) -> str:
        return f"{self.subject_prefix}.calls.{namespace}.{name}"

    @property
    def calls_wildcard(self) -> str:
        return f"{self.subject_prefix}.calls.>"

    def function_of_subject(self, subject: str) -> tuple[str, str] | None:
        """``(name, namespace)`` of a work subject, or None if it is not one."""
        parts = subject.split(".")
        if len(parts) != 4 or f"{parts[0]}.{parts[1]}" != f"{self.subject_prefix}.calls":
            return None
        return parts[3], parts[2]

    def dead_subject(self, call_id: str) -> str:
        return f"{self.subject_prefix}.dead.{call_id}"

    @property
    def dead_wildcard(self) -> str:
        return f"{self.subject_prefix}.dead.>"

    def callback_subject(self, name: str, namespace: str, call_id: str) -> str:
        return f"{self.subject_prefix}.callbacks.{namespace}.{name}.{call_id}"

    @property
    def callbacks_wildcard(self) -> str:
        return f"{self.subject_prefix}.callbacks.>"

    @staticmethod
    def consumer_name(name: str, namespace: str) -> str:
        """Durable consumer of one function (DNS-1123 names have no ``_``, so this cannot collide)."""
        return f"fn_{namespace}_{name}"

    @property
    def callbacks_consumer(self) -> str:
        return "callbacks"

    # configurations (nats-py objects; applying them is the caller's I/O) -----------------------------
    def stream_configs(self) -> list[StreamConfig]:
        """The three streams: work (work-queue), dead letters (limits + max age), callbacks (work-queue)."""
        common: dict[str, Any] = {
            "storage": StorageType.FILE,
            "num_replicas": self.replicas,
            "max_msg_size": self.max_message_bytes,
            "duplicate_window": self.duplicate_window,
        }
        return [
            StreamConfig(
                name=self.calls_stream,
                subjects=[self.calls_wildcard],
                retention=RetentionPolicy.WORK_QUEUE,
                **common,
            ),
            StreamConfig(
                name=self.dead_stream,
                subjects=[self.dead_wildcard],
                retention=RetentionPolicy.LIMITS,
                max_age=self.dead_letter_ttl,
                **common,
            ),
            StreamConfig(
                name=self.callbacks_stream,
                subjects=[self.callbacks_wildcard],
                retention=RetentionPolicy.WORK_QUEUE,
                **common,
            ),
        ]

    def records_config(self) -> KeyValueConfig:
        """The call-record bucket: one revision per call id, expiring ``record_ttl`` after the last write."""
        return KeyValueConfig(
            bucket=self.records_bucket,
            ttl=self.record_ttl,
            history=1,
            storage=StorageType.FILE,
            replicas=self.replicas,
        )


class CallbackJob(BaseModel):
    """One callback to deliver: what the worker stores after a call's outcome is known."""

    callId: str
    function: str
    namespace: str
    url: str
    status: int
    """The function's HTTP status (503 when the call failed at network level)."""
    headers: dict[str, list[str]] = Field(default_factory=dict)
    body: bytes = b""
    """Base64 in JSON."""
    attempts: int = 1
    """Function attempts it took."""
    durationSeconds: float = 0.0
    sequence: int = 0
    """Work-stream sequence of the call message whose outcome this is (0: unknown)."""
    traceparent: str | None = None
    """The call's W3C trace context, sent with the callback (pyfaas extension)."""
    functionTimeout: float | None = None
    """The function's declared timeout in seconds, from which the callback POST's own is derived."""
    record: AsyncCallRecord | None = None
    """The call's final record. A job is the first thing stored when a call with a callback ends, so this
    is the outcome if the worker dies before writing the record: a redelivery restores it from here instead
    of running the function again, and so does the callback sender."""

    model_config = {"ser_json_bytes": "base64", "val_json_bytes": "base64"}


class QueueSettings(EnvSettings):
    """Settings both ends of the queue read: where NATS is and how the layout is named.

    ``nats_url`` wins; otherwise the URL is built from OpenFaaS's ``faas_nats_address``/``faas_nats_port``
    (Pro's ``nats_host``/``nats_port`` are accepted too).
    """

    nats_url: str | None = None
    """Full NATS URL (comma-separated list allowed), e.g. ``nats://127.0.0.1:4222``."""
    nats_host: str = Field("nats", validation_alias=AliasChoices("faas_nats_address", "nats_host"))
    nats_port: int = Field(4222, validation_alias=AliasChoices("faas_nats_port", "nats_port"))
    calls_stream: str = Field("PYFAAS_CALLS", validation_alias=AliasChoices("nats_stream", "calls_stream"))
    dead_letter_stream: str = "PYFAAS_DEAD"
    callback_stream: str = "PYFAAS_CALLBACKS"
    records_bucket: str = "pyfaas_calls"
    record_ttl: Duration = 24 * 3600.0
    """How long call records are kept (seconds or Go duration)."""
    dead_letter_ttl: Duration = 7 * 24 * 3600.0
    nats_stream_replicas: int = Field(1, ge=1, le=5)
    """Stream and bucket copies in a NATS cluster (Pro's name); 1 for a single server."""

    def nats_servers(self) -> list[str]:
        if self.nats_url:
            return [part.strip() for part in self.nats_url.split(",") if part.strip()]
        return [f"nats://{self.nats_host}:{self.nats_port}"]

    def layout(self) -> QueueLayout:
        return QueueLayout(
            calls_stream=self.calls_stream,
            dead_stream=self.dead_letter_stream,
            callbacks_stream=self.callback_stream,
            records_bucket=self.records_bucket,
            record_ttl=self.record_ttl,
            dead_letter_ttl=self.dead_letter_ttl,
            replicas=self.nats_stream_replicas,
        )
