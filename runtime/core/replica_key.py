"""Per-replica keys: only the gateway reaches a local replica, not another function on the same loopback.

Local replicas listen on 127.0.0.1, and every function shares the machine's network (its sandbox has its own
filesystem and PID namespace, not its own network). Without more, a function could call another function's
watchdog port directly and skip the gateway's private-function check. So the local provider gives each
replica a random key in its environment (:data:`REPLICA_KEY_ENV`), the gateway sends it with every call
(:data:`REPLICA_KEY_HEADER`), and the watchdog answers 403 to anything without it except ``/_/health``.
The watchdog removes the variable from its environment before any function code runs and the header from
each request before the function sees it; other functions cannot read it (their sandbox has its own PID
namespace and does not show the run directory). Replicas without the variable (a function deployed before
keys existed, a watchdog started by hand) need no key.

On Kubernetes the key is per function, not per replica: the provider (or the operator) keeps it in the Secret
:func:`replica_key_secret_name` in the function's namespace, labelled :data:`REPLICA_KEY_LABEL`; the pod gets
it through ``env.valueFrom.secretKeyRef`` (never in clear in the Deployment), and the gateway watches those
Secrets (docs/decisions/0151-kubernetes-replica-keys.md).
"""

from __future__ import annotations

import secrets

__all__ = [
    "REPLICA_KEY_DATA",
    "REPLICA_KEY_ENV",
    "REPLICA_KEY_HEADER",
    "REPLICA_KEY_LABEL",
    "new_replica_key",
    "replica_key_secret_name",
]

REPLICA_KEY_ENV = "pyfaas_replica_key"
REPLICA_KEY_HEADER = "X-Pyfaas-Replica-Key"
REPLICA_KEY_LABEL = "pyfaas.dev/replica-key-of"
"""Label of a function's key Secret on Kubernetes (what the gateway watches); its value: the function."""
REPLICA_KEY_DATA = "key"
"""The Secret's data entry holding the key."""


def replica_key_secret_name(function: str) -> str:
    """The key Secret of ``function`` (a DNS-1123 label of at most 63 characters: a valid name)."""
    return f"{function}-pyfaas-replica-key"


def new_replica_key() -> str:
    """256 random bits, URL-safe text (a header value)."""
    return secrets.token_urlsafe(32)
