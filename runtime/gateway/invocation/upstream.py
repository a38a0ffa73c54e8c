"""A lean pooled HTTP/1.1 client for the invocation hot path (plain ``http://`` upstreams).

Why not ``aiohttp.ClientSession`` for every call: its per-request machinery (request object, auto headers,
connector bookkeeping, response object, timers) costs more CPU than the rest of the gateway together; this
client writes the request head as one buffer and reads the answer with aiohttp's own C response parser
(``aiohttp.client_proto.ResponseHandler``, through :mod:`pyfaas.system.aiohttp_internals`, the one module
allowed aiohttp's internals), so parsing stays robust (chunked, content-length, close-delimited
bodies, 1xx) while the Python work per call is a few dict operations. ``bench/gateway.py`` measures it.

Connections are kept per ``(host, port)`` in LIFO stacks (the most recently used socket is the warmest) and
reused only after a response was read to its end on a connection the upstream keeps open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp.client_exceptions import ClientConnectionError, ClientOSError, ServerDisconnectedError
from aiohttp.http_parser import RawResponseMessage
from aiohttp.streams import EofStream, StreamReader

from pyfaas.system.aiohttp_internals import ResponseHandler, drain

__all__ = ["Endpoint", "UpstreamClient", "UpstreamConnectError", "UpstreamResponse", "endpoint_of"]

_MAX_IDLE_PER_HOST = 256
_READ_BUFSIZE = 1 << 16
_SWEEP_EVERY = 4096


class UpstreamConnectError(ConnectionError):
    """The request never reached the upstream application (connect failed, or a reused idle connection was
    found closed before any answer); safe to retry elsewhere when the body can be replayed."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    host_header: bytes
    prefix: str
    """Path of the replica's base URL (``""`` for a watchdog; ``/function/NAME.NS`` for a remote provider)."""


def endpoint_of(url: str) -> Endpoint | None:
    """The endpoint of a plain-http base URL, or None (https and anything else go through aiohttp)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return None
    port = parts.port or 80
    return Endpoint(parts.hostname, port, parts.netloc.encode("latin-1"), parts.path.rstrip("/"))


class UpstreamResponse:
    """Status, headers and body stream of one upstream answer; ``release()`` returns the connection."""

    __slots__ = ("_client", "_endpoint", "_protocol", "message", "payload")

    def __init__(
        self,
        client: UpstreamClient,
        endpoint: Endpoint,
        protocol: ResponseHandler,
        message: RawResponseMessage,
        payload: StreamReader,
    ) -> None:
        self._client = client
        self._endpoint = endpoint
        self._protocol: ResponseHandler | None = protocol
        self.message = message
        self.payload = payload

    @property
    def status(self) -> int:
        return self.message.code

    async def read(self) -> bytes:
        return await self.payload.read()

    def release(self) -> None:
        """Pool the connection if the body was read to its end and the upstream keeps it open; else close."""
        protocol, self._protocol = self._protocol, None
        if protocol is None:
            return
        if self.message.should_close or protocol.should_close or not self.payload.is_eof():
            protocol.close()
        else:
            self._client._release(self._endpoint, protocol)


class UpstreamClient:
    def __init__(
        self, *, connect_timeout: float, max_field_size: int = 16384, sweep_every: int = _SWEEP_EVERY
    ) -> None:
        self._connect_timeout = connect_timeout
        self._max_field_size = max_field_size
        self._sweep_every = sweep_every
        """Releases between sweeps of the idle pool (dead connections, endpoints of replicas gone)."""
        self._idle: dict[Endpoint, list[ResponseHandler]] = {}
        self._closed = False
        self._releases = 0

    async def _connect(self, endpoint: Endpoint) -> ResponseHandler:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, protocol = await loop.create_connection(
                    lambda: ResponseHandler(loop), endpoint.host, endpoint.port
                )
        except (OSError, TimeoutError) as exc:
            raise UpstreamConnectError(f"cannot connect to {endpoint.host}:{endpoint.port}: {exc}") from exc
        return protocol

    def _release(self, endpoint: Endpoint, protocol: ResponseHandler) -> None:
        idle = self._idle.setdefault(endpoint, [])
        if self._closed or len(idle) >= _MAX_IDLE_PER_HOST:
            protocol.close()
        else:
            idle.append(protocol)
        self._releases += 1
        if self._releases % self._sweep_every == 0:
            self._sweep()

    def pooled(self) -> dict[Endpoint, int]:
        """Connected idle connections per endpoint the pool keeps (an endpoint whose connections all closed
        stays listed, with 0, until the next sweep)."""
        return {endpoint: sum(p.is_connected() for p in idle) for endpoint, idle in self._idle.items()}

    def _sweep(self) -> None:
        """Drop closed idle connections and the endpoints of replicas that are gone (their ports change)."""
        for endpoint in list(self._idle):
            alive = [protocol for protocol in self._idle[endpoint] if protocol.is_connected()]
            if alive:
                self._idle[endpoint] = alive
            else:
                del self._idle[endpoint]

    def _pooled(self, endpoint: Endpoint) -> ResponseHandler | None:
        idle = self._idle.get(endpoint)
        while idle:
            protocol = idle.pop()
            if protocol.is_connected():
                return protocol
        return None

    async def request(
        self,
        endpoint: Endpoint,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]],
        body: bytes | AsyncIterator[bytes] | None,
        *,
        content_length: int | None = None,
    ) -> UpstreamResponse:
        """Send one request; ``target`` is the raw path and query (already percent-encoded).

        ``body``: bytes (sent with Content-Length, in the same write as the head), an async iterator (sent
        with ``content_length`` when known, else chunked) or None. Raises ``UpstreamConnectError`` when the
        request did not reach the application, other ``ClientConnectionError``s afterwards.
        """
        protocol = self._pooled(endpoint)
        reused = protocol is not None
        if protocol is None:
            protocol = await self._connect(endpoint)
        protocol.set_response_params(
            skip_payload=method == "HEAD",
            auto_decompress=False,
            read_bufsize=_READ_BUFSIZE,
            max_field_size=self._max_field_size,
        )
        lines = [
            f"{method} {endpoint.prefix}{target} HTTP/1.1\r\nHost: ".encode("latin-1"),
            endpoint.host_header,
        ]
        for name, value in headers:
            lines.append(f"\r\n{name}: {value}".encode("latin-1", "replace"))
        streaming = body is not None and not isinstance(body, bytes)
        if isinstance(body, bytes):
            lines.append(f"\r\nContent-Length: {len(body)}\r\n\r\n".encode())
            lines.append(body)
        elif streaming and content_length is not None:
            lines.append(f"\r\nContent-Length: {content_length}\r\n\r\n".encode())
        elif streaming:
            lines.append(b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        else:
            lines.append(b"\r\n\r\n")
        transport = protocol.transport
        if transport is None:
            raise UpstreamConnectError("upstream connection closed before the request")
        transport.write(b"".join(lines))
        try:
            if streaming:
                assert body is not None and not isinstance(body, bytes)
                await _send_body(protocol, body, chunked=content_length is None)
            message, payload = await protocol.read()
        except (ServerDisconnectedError, EofStream) as exc:
            protocol.close()
            if reused:
                # The upstream had closed this idle connection before reading our request.
                raise UpstreamConnectError(
                    f"pooled connection to {endpoint.host}:{endpoint.port} closed"
                ) from exc
            raise ServerDisconnectedError(str(exc)) from exc
        except BaseException:
            protocol.close()
            raise
        return UpstreamResponse(self, endpoint, protocol, message, payload)

    async def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for protocol in idle:
                protocol.close()
        self._idle.clear()


async def _send_body(protocol: ResponseHandler, body: AsyncIterator[bytes], *, chunked: bool) -> None:
    for_transport = protocol.transport
    async for chunk in body:
        if not chunk:
            continue
        transport = protocol.transport
        if transport is None or transport is not for_transport:
            raise ClientOSError("upstream connection lost while sending the request body")
        transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
        await drain(protocol)
    if chunked:
        transport = protocol.transport
        if transport is None:
            raise ClientConnectionError("upstream connection lost while sending the request body")
        transport.write(b"0\r\n\r\n")
