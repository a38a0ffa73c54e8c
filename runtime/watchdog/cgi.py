"""The CGI-style environment forking modes give the function: ``Http_*`` variables for the request."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp.web_request import BaseRequest

__all__ = ["canonical_env_name", "cgi_environment"]


def canonical_env_name(header: str) -> str:
    """``x-call-id`` → ``Http_X_Call_Id`` (Go's canonical header form, ``-`` as ``_``)."""
    return "Http_" + "_".join(part[:1].upper() + part[1:].lower() for part in header.split("-"))


def cgi_environment(base: Mapping[str, str], request: BaseRequest, *, classic: bool) -> dict[str, str]:
    """``base`` plus the request as ``Http_*`` variables (first value of each header only).

    ``classic`` adds what only the classic watchdog sets: ``Http_Host``, ``Http_ContentLength`` and
    ``Http_Content_Length`` (``-1`` when the length is unknown)."""
    env = dict(base)
    seen: set[str] = set()
    for name, value in request.headers.items():
        key = canonical_env_name(name)
        # Go keeps Host and Transfer-Encoding out of the header map; they are added below.
        if key in seen or key in ("Http_Host", "Http_Transfer_Encoding"):
            continue
        seen.add(key)
        env[key] = value
    env["Http_Method"] = request.method
    te = request.headers.get("Transfer-Encoding")
    if te:
        env["Http_Transfer_Encoding"] = te
    query = request.query_string
    if query:
        env["Http_Query"] = query
    path = request.path
    if path:
        env["Http_Path"] = path
    if classic:
        host = request.headers.get("Host", "")
        if host:
            env["Http_Host"] = host
        length = request.content_length
        if length is None:
            length = -1 if request.body_exists else 0
        env["Http_ContentLength"] = str(length)
        env["Http_Content_Length"] = str(length)
    return env
