"""Every use of nats-py's private internals, in one place (nats-py 2.16; pinned in requirements.lock).

A JetStream ``PullSubscription`` has no drain: after ``unsubscribe()`` the messages the server delivered
before it saw the unsubscription sit in the inner core subscription (``PullSubscription._sub``), and only
``pending_msgs`` (public) says how many. The worker must hand exactly those back (``nak``) on shutdown, so it
reads them from that inner subscription. The simplified JetStream consumer API (ADR-37, nats-io/nats.py#592,
not merged) has a ``stop``/drain of its own and would remove this; open question in docs/decisions/0080.

``tests/integration/async_/test_nats_internals.py`` runs this against a real nats-server, so an upgrade that
renames the attribute fails there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

__all__ = ["buffered_deliveries"]


async def buffered_deliveries(
    sub: JetStreamContext.PullSubscription, *, each_within: float = 1.0
) -> AsyncIterator[Msg]:
    """The messages delivered to ``sub`` and not yet fetched, oldest first, until none is buffered; each
    wait is bounded by ``each_within`` seconds (``nats.errors.TimeoutError``)."""
    inbox = sub._sub
    while inbox is not None and sub.pending_msgs > 0:
        yield await inbox.next_msg(timeout=each_within)
