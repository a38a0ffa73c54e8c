"""Every function process the watchdog starts is started here.

Per-request processes are started in a new session, so the whole process group can be killed and
nothing is left behind, by ``subprocess``'s vfork + exec on a few ``Spawner`` threads (it releases the
GIL, so spawns overlap and never stall the event loop). Pipes are non-blocking file descriptors driven by
the event loop; exit is observed through a pidfd, so no child-watcher thread or SIGCHLD handler is
involved. Output meant for the log is relayed to the sink line by line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from pyfaas.system.processes import kill_group
from pyfaas.watchdog.logs import LogSink

__all__ = [
    "DEVNULL",
    "PIPE",
    "STDOUT",
    "ChildProcess",
    "Spawner",
    "describe_exit",
    "resolve_program",
]

PIPE = -1
STDOUT = -2
DEVNULL = -3

_SIGNAL_TEXT = {
    signal.SIGKILL: "killed",
    signal.SIGTERM: "terminated",
    signal.SIGINT: "interrupt",
    signal.SIGHUP: "hangup",
    signal.SIGABRT: "aborted",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGPIPE: "broken pipe",
}


def resolve_program(argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """``argv`` with its program resolved on the function's ``PATH`` (as Go's ``exec.LookPath``)."""
    program = argv[0]
    if os.sep not in program:
        found = shutil.which(program, path=env.get("PATH", os.defpath))
        if found:
            program = found
    return [program, *argv[1:]]


def describe_exit(returncode: int) -> str:
    """Go's ``exec.ExitError`` text: ``exit status 1`` or ``signal: killed``."""
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        name = _SIGNAL_TEXT.get(signal.Signals(-returncode), f"signal {-returncode}")
    except ValueError:
        name = f"signal {-returncode}"
    return f"signal: {name}"


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    loop.add_reader(fd, _wake, waiter)
    try:
        await waiter
    finally:
        loop.remove_reader(fd)


async def _writable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    loop.add_writer(fd, _wake, waiter)
    try:
        await waiter
    finally:
        loop.remove_writer(fd)


class ChildProcess:
    """A spawned function process with non-blocking pipes (``stdin``/``stdout``/``stderr`` are fds or
    ``None``)."""

    def __init__(self, pid: int, stdin: int | None, stdout: int | None, stderr: int | None) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None
        self.group_leader = True
        self._popen: subprocess.Popen[bytes] | None = None
        self._pidfd: int | None = None
        with contextlib.suppress(OSError, AttributeError):
            self._pidfd = os.pidfd_open(pid)

    @classmethod
    def spawn(
        cls,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        stdin: int = PIPE,
        stdout: int = PIPE,
        stderr: int = PIPE,
        new_session: bool = True,
    ) -> ChildProcess:
        """Start ``argv`` (no shell; ``argv[0]`` resolved already); ``OSError`` if it cannot be executed.

        ``new_session`` (per-request processes) lets a timeout kill the whole group; a long-lived child
        stays in the watchdog's process group so whoever kills the watchdog's group kills it too."""
        parent_ends: dict[str, int | None] = {"stdin": None, "stdout": None, "stderr": None}
        child_ends: list[int] = []
        try:
            null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            child_ends.append(null)
            in_target = null
            if stdin == PIPE:
                in_target, parent_ends["stdin"] = os.pipe()
                child_ends.append(in_target)
            out_target = null
            if stdout == PIPE:
                parent_ends["stdout"], out_target = os.pipe()
                child_ends.append(out_target)
            err_target = null
            if stderr == STDOUT:
                err_target = out_target
            elif stderr == PIPE:
                parent_ends["stderr"], err_target = os.pipe()
                child_ends.append(err_target)
            # subprocess's fork_exec (vfork + exec) releases the GIL, so spawns from several threads overlap;
            # os.posix_spawn would hold it. Exit is collected with waitpid below, never by Popen.
            process = subprocess.Popen(
                list(argv),
                stdin=in_target,
                stdout=out_target,
                stderr=err_target,
                env=dict(env),
                start_new_session=new_session,
            )
        except BaseException:
            for fd in (*child_ends, *(fd for fd in parent_ends.values() if fd is not None)):
                os.close(fd)
            raise
        for fd in child_ends:
            os.close(fd)
        for end in parent_ends.values():
            if end is not None:
                os.set_blocking(end, False)
        child = cls(process.pid, parent_ends["stdin"], parent_ends["stdout"], parent_ends["stderr"])
        child.group_leader = new_session
        child._popen = process
        return child

    async def read(self, fd: int, size: int = 65536) -> bytes:
        """Some bytes from ``fd`` (``b""`` at EOF)."""
        while True:
            try:
                return os.read(fd, size)
            except BlockingIOError:
                await _readable(fd)

    async def read_all(self, fd: int) -> bytes:
        parts: list[bytes] = []
        while chunk := await self.read(fd):
            parts.append(chunk)
        return b"".join(parts)

    async def write(self, data: bytes) -> bool:
        """Write to stdin; ``False`` if the process closed it."""
        fd = self.stdin
        assert fd is not None
        view = memoryview(data)
        while view:
            try:
                written = os.write(fd, view)
            except BlockingIOError:
                await _writable(fd)
                continue
            except (BrokenPipeError, ConnectionResetError):
                return False
            view = view[written:]
        return True

    def close_stdin(self) -> None:
        if self.stdin is not None:
            os.close(self.stdin)
            self.stdin = None

    async def feed(self, data: bytes) -> None:
        """Write ``data`` to stdin and close it."""
        try:
            if data:
                await self.write(data)
        finally:
            self.close_stdin()

    async def wait(self) -> int:
        """Wait for exit; the exit code, or ``-signal``."""
        if self.returncode is not None:
            return self.returncode
        if self._pidfd is not None:
            while True:
                pid, status = os.waitpid(self.pid, os.WNOHANG)  # noqa: ASYNC222 - never blocks
                if pid:
                    break
                await _readable(self._pidfd)
        else:
            while True:
                pid, status = os.waitpid(self.pid, os.WNOHANG)  # noqa: ASYNC222 - never blocks
                if pid:
                    break
                await asyncio.sleep(0.005)
        self.returncode = os.waitstatus_to_exitcode(status)
        if self._popen is not None:
            self._popen.returncode = self.returncode  # reaped here: Popen must not wait for it again
        return self.returncode

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Signal the process's group (only the process itself if it shares the watchdog's group)."""
        if self.group_leader:
            kill_group(self.pid, sig)
        elif self.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, sig)

    def close(self) -> None:
        """Close every pipe end and the pidfd (after ``wait``)."""
        self.close_stdin()
        for name in ("stdout", "stderr"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    async def relay(self, fd: int, sink: LogSink, name: str, buffer_size: int) -> None:
        """Copy ``fd`` to the sink as function lines until EOF. ``buffer_size`` -1 relays what arrives as
        it arrives; otherwise lines longer than ``buffer_size`` bytes are split."""
        pending = b""
        while chunk := await self.read(fd):
            if buffer_size == -1:
                for text in chunk.decode("utf-8", "replace").splitlines():
                    sink.function_line(name, text)
                continue
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                sink.function_line(name, raw.decode("utf-8", "replace"))
            while len(pending) > buffer_size:
                sink.function_line(name, pending[:buffer_size].decode("utf-8", "replace"))
                pending = pending[buffer_size:]
        if pending:
            sink.function_line(name, pending.decode("utf-8", "replace"))


class Spawner:
    """Starts per-request processes on a few threads, so a slow ``exec`` never stalls the event loop and
    concurrent requests spawn in parallel."""

    def __init__(self, threads: int = 4) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="spawn")

    async def spawn(self, argv: Sequence[str], env: Mapping[str, str], *, stderr: int = PIPE) -> ChildProcess:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, lambda: ChildProcess.spawn(argv, env, stdin=PIPE, stdout=PIPE, stderr=stderr)
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False)
