"""The one error the builder raises: a message naming what is wrong and, where it helps, what to do."""

from __future__ import annotations

from pyfaas.core.errors import PyfaasError

__all__ = ["BuildError"]


class BuildError(PyfaasError):
    """An image that cannot be built, read, pushed or pulled."""
