"""The replica key check (``pyfaas.core.replica_key``): only the gateway, which knows the key, gets through.

The key is taken out of the watchdog's environment before any function code runs (python mode imports the
handler into this process; other modes start function processes from that environment), and the header out
of each request as aiohttp builds it (a request factory: a copy of the parsed head without the one header,
cheaper than cloning the request), so no function sees either. The verdict travels with the request under
:data:`KEY_VALID`; the dispatcher answers 403 when it is false, except for ``/_/health``.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from aiohttp.web_request import BaseRequest
from multidict import CIMultiDictProxy

from pyfaas.core.replica_key import REPLICA_KEY_ENV, REPLICA_KEY_HEADER

__all__ = ["KEY_VALID", "key_checking_factory", "take_replica_key"]

KEY_VALID = "pyfaas.replica_key_valid"
_RAW_NAME = REPLICA_KEY_HEADER.lower().encode("ascii")

RequestFactory = Callable[[Any, Any, Any, Any, Any], BaseRequest]


def take_replica_key(
    environ: Mapping[str, str], process_environ: MutableMapping[str, str] = os.environ
) -> tuple[str | None, Mapping[str, str]]:
    """The key (None when the replica needs none) and ``environ`` without it; also removed from the
    process environment, which a python-mode handler and every function process would otherwise inherit."""
    key = environ.get(REPLICA_KEY_ENV)
    if key is None:
        return None, environ
    process_environ.pop(REPLICA_KEY_ENV, None)
    return key or None, {name: value for name, value in environ.items() if name != REPLICA_KEY_ENV}


def key_checking_factory(key: str, make_request: RequestFactory) -> RequestFactory:
    """A request factory that strips the key header and records whether it matched."""
    expected = key.encode()

    def factory(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> BaseRequest:
        presented = message.headers.get(REPLICA_KEY_HEADER)
        if presented is not None:
            kept = message.headers.copy()
            kept.popall(REPLICA_KEY_HEADER)
            raw = tuple(pair for pair in message.raw_headers if pair[0].lower() != _RAW_NAME)
            message = message._replace(headers=CIMultiDictProxy(kept), raw_headers=raw)
        request = make_request(message, payload, protocol, writer, task)
        request[KEY_VALID] = presented is not None and hmac.compare_digest(
            presented.encode("utf-8", "surrogateescape"), expected
        )
        return request

    return factory
