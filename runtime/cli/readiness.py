"""After a deploy: wait until a replica of the new spec is ready, or say why none will be.

The gateway's status of a function may carry pyfaas's ``replicaFailure`` (the last error of a replica that
ended) and ``updatedReplicas`` (ready replicas of the current spec). A failure of a replica that was never
ready ends the wait at once with its last output; a gateway without these fields is waited on through
``availableReplicas`` alone.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pyfaas.cli.errors import CliError

if TYPE_CHECKING:
    from pyfaas.cli.client import GatewayClient

__all__ = ["start_failure", "wait_ready"]

_POLL = 0.2


def _count(status: dict[str, Any], key: str) -> int | None:
    value = status.get(key)
    return value if isinstance(value, int) else None


def start_failure(name: str, status: dict[str, Any]) -> CliError | None:
    """The error to report when the function's replicas crash at start, else None."""
    failure = status.get("replicaFailure")
    if not isinstance(failure, dict) or not failure.get("beforeReady"):
        return None
    reason = str(failure.get("reason") or "its replica ended")
    output = str(failure.get("message") or "").rstrip()
    last = next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "")
    summary = f"{reason}: {last}" if last else reason
    hint = "its last output:\n" + output if output else f"see pyfaas logs {name}"
    return CliError(f"{name} does not start: {summary}", hint=hint)


def wait_ready(client: GatewayClient, name: str, namespace: str, *, within: float) -> dict[str, Any]:
    """The function's status once a replica of its current spec is ready (or none is wanted); ``CliError``
    when its replicas crash at start or ``within`` seconds pass."""
    deadline = time.monotonic() + within
    while True:
        status = client.get_function_raw(name, namespace)
        failed = start_failure(name, status)
        if failed is not None:
            raise failed
        updated = _count(status, "updatedReplicas")
        ready = updated if updated is not None else (_count(status, "availableReplicas") or 0)
        if ready >= 1 or not _count(status, "replicas"):
            return status
        if time.monotonic() >= deadline:
            raise CliError(
                f"{name}: no replica ready within {within:g}s",
                hint=f"see pyfaas describe {name} and pyfaas logs {name}; --no-wait skips this wait",
            )
        time.sleep(_POLL)
