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

    async def invoke(self, request: QueueRequest, *, call_id: str, attempt: int) -> CallResult:
        headers: CIMultiDict[str] = CIMultiDict()
        for name, values in (request.Header or {}).items():
            if name.lower() in NOT_FORWARDED:
                continue
            for value in values:
                headers.add(name, value)
        headers["User-Agent"] = USER_AGENT
        headers["X-Call-Id"] = call_id
        headers[ATTEMPT_HEADER] = str(attempt)
        started = time.monotonic()
        try:
            async with self._session.request(
                request.Method or "POST",
                function_url(self._gateway, request),
                data=request.Body or b"",
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                body = await response.read()
                return CallResult(
                    status=response.status,
                    headers=list(response.headers.items()),
                    body=body,
                    internal=INTERNAL_HEADER in response.headers,
                    error=None if response.status < 400 else body[:512].decode(errors="replace"),
                    duration=time.monotonic() - started,
                )
        except (TimeoutError, aiohttp.ClientError) as exc:
            return CallResult(
                status=503,
                internal=True,
                error=f"gateway unreachable: {type(exc).__name__}: {exc}",
                duration=time.monotonic() - started,
            )
