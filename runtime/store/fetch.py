"""Fetching store indexes and handler files over HTTP, with a disk cache revalidated by ETag.

A response's body is kept in ``cache_dir`` with its ``ETag`` / ``Last-Modified``; the next fetch sends
``If-None-Match`` / ``If-Modified-Since`` and a ``304 Not Modified`` answer reuses the kept body, so an
unchanged catalog costs one small request. When the server cannot be reached the kept body is still handed
back, marked stale, together with the reason (:class:`Fetched.error`): a store that is down still lists what
it last served.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from pyfaas.core.errors import PyfaasError

__all__ = ["DEFAULT_TIMEOUT", "FetchError", "Fetched", "fetch"]

DEFAULT_TIMEOUT = 5.0
"""Seconds a store may take to answer: a slow store is reported down instead of holding the others up."""
MAX_BYTES = 16 * 1024 * 1024


class FetchError(PyfaasError):
    """The URL could not be fetched and nothing is cached; the message is one line naming the URL."""


@dataclass(frozen=True, slots=True)
class Fetched:
    body: bytes
    etag: str = ""
    not_modified: bool = False
    """The server answered 304: ``body`` is the cached copy, still current."""
    stale: bool = False
    """The server could not be reached (or failed): ``body`` is the cached copy from ``fetched_at``."""
    error: str = ""
    """Why a stale copy was used."""
    fetched_at: float = 0.0


def _paths(cache_dir: Path, url: str) -> tuple[Path, Path]:
    key = hashlib.sha256(url.encode()).hexdigest()[:32]
    return cache_dir / f"{key}.body", cache_dir / f"{key}.json"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _cached(cache_dir: Path | None, url: str) -> tuple[bytes, dict[str, str | float]] | None:
    if cache_dir is None:
        return None
    body_path, meta_path = _paths(cache_dir, url)
    try:
        meta = json.loads(meta_path.read_text())
        return body_path.read_bytes(), meta if isinstance(meta, dict) else {}
    except (OSError, ValueError):
        return None


def _describe(exc: httpx.HTTPError, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused" if "refused" in str(exc).lower() else f"cannot connect ({exc})"
    return str(exc) or type(exc).__name__


def fetch(url: str, *, cache_dir: Path | None, timeout: float = DEFAULT_TIMEOUT) -> Fetched:
    """GET ``url``, revalidating the copy kept in ``cache_dir`` (None: no cache).

    Raises :class:`FetchError` when the URL cannot be fetched and no copy is kept.
    """
    cached = _cached(cache_dir, url)
    headers = {"Accept": "application/json, */*;q=0.5", "User-Agent": "pyfaas-store"}
    if cached is not None:
        meta = cached[1]
        if meta.get("etag"):
            headers["If-None-Match"] = str(meta["etag"])
        if meta.get("last_modified"):
            headers["If-Modified-Since"] = str(meta["last_modified"])

    def fallback(reason: str) -> Fetched:
        if cached is None:
            raise FetchError(f"cannot fetch {url}: {reason}", field="url")
        body, meta = cached
        return Fetched(
            body,
            etag=str(meta.get("etag", "")),
            stale=True,
            error=reason,
            fetched_at=float(meta.get("fetched_at", 0.0)),
        )

    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code == 304 and cached is not None:
                body, meta = cached
                return Fetched(
                    body,
                    etag=str(meta.get("etag", "")),
                    not_modified=True,
                    fetched_at=float(meta.get("fetched_at", 0.0)),
                )
            if response.status_code != 200:
                return fallback(f"HTTP {response.status_code}")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_BYTES:
                    return fallback(f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
                chunks.append(chunk)
            body = b"".join(chunks)
            etag = response.headers.get("ETag", "")
            last_modified = response.headers.get("Last-Modified", "")
    except httpx.HTTPError as exc:
        return fallback(_describe(exc, timeout))
    now = time.time()
    if cache_dir is not None:
        body_path, meta_path = _paths(cache_dir, url)
        try:
            _write(body_path, body)
            meta_out = {"url": url, "etag": etag, "last_modified": last_modified, "fetched_at": now}
            _write(meta_path, json.dumps(meta_out).encode())
        except OSError:
            pass  # a read-only cache costs revalidation only
    return Fetched(body, etag=etag, fetched_at=now)
