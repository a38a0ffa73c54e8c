"""Request body limits, one set for the gateway and the functions' watchdog.

The gateway must never accept a body that the function side refuses, and every limit a caller can hit must
be answered by the gateway as its JSON 413 (``{"error": ..., "field": "body"}``):

* ``max_body_bytes``: the gateway's limit for synchronous calls and the system API, and the watchdog's
  limit for a function's requests; one default for both. Local mode gives replicas the gateway's value
  (a function's own ``envVars.max_body_bytes`` still wins).
* ``async_max_body_bytes``: the gateway's limit for async calls; it may not exceed ``max_body_bytes`` (the
  queued call is later run as a synchronous one) and is kept small because the body travels through NATS.
* A function whose watchdog limit is lower than the gateway's: the watchdog marks its own 413 with
  :data:`MAX_BODY_HEADER`, and the gateway answers it as its JSON 413 naming the function's limit.
"""

from __future__ import annotations

__all__ = ["DEFAULT_ASYNC_MAX_BODY_BYTES", "DEFAULT_MAX_BODY_BYTES", "MAX_BODY_HEADER"]

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
DEFAULT_ASYNC_MAX_BODY_BYTES = 1024 * 1024
MAX_BODY_HEADER = "X-Pyfaas-Max-Body-Bytes"
"""On the watchdog's own 413 (not a handler's): the function's ``max_body_bytes``."""
