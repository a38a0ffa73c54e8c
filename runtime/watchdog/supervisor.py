"""Every function process the watchdog starts is started here: in its own session (so the whole process
group can be killed, leaving no orphans), with its output relayed to the log sink line by line."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping, Sequence
from typing import Any

from runtime.watchdog.logs import LogSink

__all__ = ["describe_exit", "kill_group", "relay_lines", "spawn"]

PIPE = asyncio.subprocess.PIPE
STDOUT = asyncio.subprocess.STDOUT
DEVNULL = asyncio.subprocess.DEVNULL

_SIGNAL_TEXT = {
    signal.SIGKILL: "killed",
    signal.SIGTERM: "terminated",
    signal.SIGINT: "interrupt",
    signal.SIGHUP: "hangup",
    signal.SIGABRT: "aborted",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGPIPE: "broken pipe",
}


async def spawn(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    stdin: int = PIPE,
    stdout: int = PIPE,
    stderr: int = PIPE,
    limit: int = 65536,
) -> asyncio.subprocess.Process:
    """Start ``argv`` (no shell) in a new session; raises ``OSError`` if it cannot be executed."""
    kwargs: dict[str, Any] = {"start_new_session": True, "limit": max(limit, 1024)}
    return await asyncio.create_subprocess_exec(
        *argv, stdin=stdin, stdout=stdout, stderr=stderr, env=dict(env), **kwargs
    )


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal the process group led by ``pid`` (the process and everything it started)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def describe_exit(returncode: int) -> str:
    """Go's ``exec.ExitError`` text: ``exit status 1`` or ``signal: killed``."""
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        name = _SIGNAL_TEXT.get(signal.Signals(-returncode), f"signal {-returncode}")
    except ValueError:
        name = f"signal {-returncode}"
    return f"signal: {name}"


async def relay_lines(stream: asyncio.StreamReader, sink: LogSink, name: str, buffer_size: int) -> None:
    """Copy ``stream`` to the sink as function lines until EOF. ``buffer_size`` -1 relays chunks as they
    arrive; otherwise longer lines are split at ``buffer_size`` bytes."""
    while True:
        if buffer_size == -1:
            chunk = await stream.read(65536)
            if not chunk:
                return
            for line in chunk.decode("utf-8", "replace").splitlines():
                sink.function_line(name, line)
            continue
        try:
            line = await stream.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                sink.function_line(name, exc.partial.decode("utf-8", "replace"))
            return
        except asyncio.LimitOverrunError as exc:
            line = await stream.readexactly(min(exc.consumed, buffer_size) or 1)
        sink.function_line(name, line.decode("utf-8", "replace"))
