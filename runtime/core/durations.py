"""Duration parsing with OpenFaaS's rules.

A bare non-negative integer means seconds (``"30"``); anything else must be a Go duration string
(``"65s"``, ``"1m05s"``, ``"1.5h"``, ``"300ms"``). Values are returned as float seconds.
"""

from __future__ import annotations

import re

__all__ = ["format_go_duration", "parse_duration"]

_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")  # ASCII digits only, as Go


def parse_duration(text: str) -> float:
    """Parse ``text`` as seconds (bare integer) or a Go duration; raise ``ValueError`` if neither."""
    raw = text.strip()
    if not raw:
        raise ValueError("empty duration")
    if raw.isascii() and raw.isdigit():
        return float(int(raw))
    sign = 1.0
    body = raw
    if body[0] in "+-":
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body == "0":
        return 0.0
    pos = 0
    total = 0.0
    while pos < len(body):
        match = _PART.match(body, pos)
        if match is None:
            raise ValueError(f"invalid duration {text!r}: expected e.g. 30, 65s, 1m05s or 500ms")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos == 0:
        raise ValueError(f"invalid duration {text!r}")
    if sign < 0 and total > 0:
        raise ValueError(f"negative duration {text!r}")
    return total


def format_go_duration(seconds: float) -> str:
    """Render seconds as a Go duration string that :func:`parse_duration` reads back exactly."""
    if seconds == 0:
        return "0s"
    millis = round(seconds * 1000)
    if millis % 1000 == 0:
        whole = millis // 1000
        hours, rest = divmod(whole, 3600)
        minutes, secs = divmod(rest, 60)
        out = ""
        if hours:
            out += f"{hours}h"
        if hours or minutes:
            out += f"{minutes}m"
        return out + f"{secs}s"
    return f"{millis}ms"
