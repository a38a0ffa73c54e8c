"""Keep a replica's resident memory small (glibc only; a no-op elsewhere).

Each thread that allocates gets its own glibc malloc arena; a handler pool would otherwise add megabytes
per thread. After start-up, memory freed by imports is handed back to the kernel.
"""

from __future__ import annotations

import contextlib
import ctypes

__all__ = ["limit_malloc_arenas", "release_free_memory"]

_M_ARENA_MAX = -8


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")  # find_library would spawn ldconfig: slow and memory-hungry
    except OSError:
        return None


def limit_malloc_arenas(count: int = 2) -> None:
    libc = _libc()
    if libc is not None:
        with contextlib.suppress(AttributeError):
            libc.mallopt(_M_ARENA_MAX, count)


def release_free_memory() -> None:
    libc = _libc()
    if libc is not None:
        with contextlib.suppress(AttributeError):
            libc.malloc_trim(0)
