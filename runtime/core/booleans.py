"""Boolean environment values, parsed alike by every service (without pydantic, for the watchdog)."""

from __future__ import annotations

__all__ = ["parse_bool"]

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


def parse_bool(text: str) -> bool:
    """``true/1/yes/on`` or ``false/0/no/off/<empty>``, any case, spaces ignored; else ``ValueError``."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected true/false, got {text!r}")
