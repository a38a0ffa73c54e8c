"""The gateway's middlewares: error mapping, basic auth on system/UI routes, request body limit.

Every error leaves as JSON ``{"error": ..., "field": ...}`` with the status of its ``PyfaasError`` class
(``Retry-After`` on 503); aiohttp's own 404/405/413 get the same shape. The only non-JSON error is the 401 of
basic auth, which is byte-for-byte OpenFaaS's.
"""

from __future__ import annotations

import asyncio
import logging
import math

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from pyfaas.core.errors import PayloadTooLarge, PyfaasError, Unavailable
from pyfaas.core.timeouts import TIMEOUT_HEADER, FunctionTimedOut
from pyfaas.gateway.auth import is_protected, unauthorized
from pyfaas.system.credentials import BasicAuthCredentials

__all__ = ["auth_middleware", "body_limit_middleware", "error_middleware", "error_response"]

log = logging.getLogger("pyfaas.gateway")


def error_response(exc: PyfaasError) -> web.Response:
    headers: dict[str, str] = {}
    if isinstance(exc, Unavailable):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    elif isinstance(exc, FunctionTimedOut):  # tells the queue worker this 504 is the function's timeout
        headers[TIMEOUT_HEADER] = exc.limit_text
    status = exc.status if 400 <= exc.status <= 599 else 500
    return web.json_response(exc.to_json(), status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except PyfaasError as exc:
        if exc.status >= 500:
            log.warning("%s %s -> %d: %s", request.method, request.path, exc.status, exc.message)
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "www-authenticate")}
        message = exc.reason if exc.status != 404 else f"no route for {request.method} {request.path}"
        if exc.status == 413:
            message = "request body too large"
        return web.json_response({"error": message}, status=exc.status, headers=headers)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return web.json_response({"error": "internal error"}, status=500)


def auth_middleware(credentials: BasicAuthCredentials) -> Middleware:
    @web.middleware
    async def check_basic_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_protected(request.path) and not credentials.check(request.headers.get("Authorization")):
            return unauthorized()
        return await handler(request)

    return check_basic_auth


def body_limit_middleware(max_body_bytes: int) -> Middleware:
    """Reject a declared ``Content-Length`` above the limit before any work (streamed bodies are counted by
    the proxy, JSON bodies by aiohttp's ``client_max_size``)."""

    @web.middleware
    async def limit_body(request: web.Request, handler: Handler) -> web.StreamResponse:
        length = request.content_length
        if length is not None and length > max_body_bytes:
            raise PayloadTooLarge(
                f"request body of {length} bytes exceeds max_body_bytes={max_body_bytes}", field="body"
            )
        return await handler(request)

    return limit_body
