"""Which headers belong to one HTTP connection and so are never passed on by a proxy (RFC 9110 7.6.1)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["HOP_BY_HOP", "hop_by_hop"]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "proxy-connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
"""Lower-case names of the headers that belong to one connection (Go's ``httputil.ReverseProxy`` list)."""


def hop_by_hop(connection: str | None, *, also: Iterable[str] = ()) -> frozenset[str]:
    """``HOP_BY_HOP`` plus ``also`` plus the lower-case names a ``Connection`` header value lists: those are
    hop-by-hop for this message too."""
    dropped = HOP_BY_HOP.union(also)
    if connection:
        dropped = dropped | {token.strip().lower() for token in connection.split(",")}
    return dropped
