"""Per-replica keys: only the gateway reaches a local replica, not another function on the same loopback.

Local replicas listen on 127.0.0.1, and every function shares the machine's network (its sandbox has its own
filesystem and PID namespace, not its own network). Without more, a function could call another function's
watchdog port directly and skip the gateway's private-function check. So the local provider gives each
replica a random key in its environment (:data:`REPLICA_KEY_ENV`), the gateway sends it with every call
(:data:`REPLICA_KEY_HEADER`), and the watchdog answers 403 to anything without it except ``/_/health``.
The watchdog removes the variable from its environment before any function code runs and the header from
each request before the function sees it; other functions cannot read it (their sandbox has its own PID
namespace and does not show the run directory). Replicas without the variable (Kubernetes pods, a watchdog
started by hand) need no key.
"""

from __future__ import annotations

import secrets

__all__ = ["REPLICA_KEY_ENV", "REPLICA_KEY_HEADER", "new_replica_key"]

REPLICA_KEY_ENV = "pyfaas_replica_key"
REPLICA_KEY_HEADER = "X-Pyfaas-Replica-Key"


def new_replica_key() -> str:
    """256 random bits, URL-safe text (a header value)."""
    return secrets.token_urlsafe(32)
