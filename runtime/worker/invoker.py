"""Replay one queued request against the gateway's ``/function/<name>`` endpoint.

The original method, sub-path, query, headers and body are sent as they were queued, plus ``X-Call-Id`` (the
idempotency key: a call can reach a function twice when its worker dies while it runs) and
``X-Pyfaas-Attempt`` (the delivery number; above 1 an earlier attempt may have run). Network failures and
timeouts become a synthetic 503 marked internal, so they are retried like a platform error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import aiohttp
from multidict import CIMultiDict

from pyfaas.core.models import QueueRequest
from pyfaas.core.timeouts import TIMEOUT_HEADER, declared_timeout, derive
from pyfaas.system.http_headers import HOP_BY_HOP

__all__ = ["ATTEMPT_HEADER", "NOT_FORWARDED", "CallResult", "Invoker"]

NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length"}
"""Headers of a queued request or a kept response that are never sent on: the client sets its own."""
USER_AGENT = "pyfaas-queue-worker"
INTERNAL_HEADER = "X-OpenFaaS-Internal"
ATTEMPT_HEADER = "X-Pyfaas-Attempt"


@dataclass(slots=True)
class CallResult:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    internal: bool = False
    """True when the error came from the platform (gateway, provider, watchdog) rather than the function."""
    error: str | None = None
    duration: float = 0.0
    timed_out: bool = False
    """The call passed its function's declared timeout (final: not retried)."""


def function_url(gateway: str, request: QueueRequest) -> str:
    url = f"{gateway}/function/{request.Function.strip('/')}{request.Path or ''}"
    if request.QueryString:
        url += "?" + request.QueryString
    return url


class Invoker:
    def __init__(self, session: aiohttp.ClientSession, *, gateway: str, timeout: float) -> None:
        self._session = session
        self._gateway = gateway.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def invoke(
        self, request: QueueRequest, *, call_id: str, attempt: int, traceparent: str | None = None
    ) -> CallResult:
        headers: CIMultiDict[str] = CIMultiDict()
        for name, values in (request.Header or {}).items():
            if name.lower() in NOT_FORWARDED:
                continue
            for value in values:
                headers.add(name, value)
        headers["User-Agent"] = USER_AGENT
        headers["X-Call-Id"] = call_id
        headers[ATTEMPT_HEADER] = str(attempt)
        if traceparent is not None:  # the worker's call span (else the queued traceparent, copied above)
            headers["traceparent"] = traceparent
        declared = declared_timeout(request.Annotations)
        # past the gateway's own limit (T), so that its 504 naming the function arrives first
        timeout = (
            self._timeout if declared is None else aiohttp.ClientTimeout(total=derive(declared).worker_call)
        )
        started = time.monotonic()
        try:
            async with self._session.request(
                request.Method or "POST",
                function_url(self._gateway, request),
                data=request.Body or b"",
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                body = await response.read()
                limit = response.headers.get(TIMEOUT_HEADER)
                if response.status == 504 and limit is not None:
                    return CallResult(
                        status=504,
                        headers=list(response.headers.items()),
                        body=body,
                        error=f"timed out after {limit}: " + body[:512].decode(errors="replace"),
                        duration=time.monotonic() - started,
                        timed_out=True,
                    )
                return CallResult(
                    status=response.status,
                    headers=list(response.headers.items()),
                    body=body,
                    internal=INTERNAL_HEADER in response.headers,
                    error=None if response.status < 400 else body[:512].decode(errors="replace"),
                    duration=time.monotonic() - started,
                )
        except TimeoutError as exc:
            if declared is None:
                return _unreachable(exc, started)
            return CallResult(
                status=504,
                error=f"timed out after {derive(declared).worker_call:g}s without an answer from the gateway",
                duration=time.monotonic() - started,
                timed_out=True,
            )
        except aiohttp.ClientError as exc:
            return _unreachable(exc, started)


def _unreachable(exc: Exception, started: float) -> CallResult:
    return CallResult(
        status=503,
        internal=True,
        error=f"gateway unreachable: {type(exc).__name__}: {exc}",
        duration=time.monotonic() - started,
    )
