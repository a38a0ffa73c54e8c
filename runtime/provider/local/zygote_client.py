"""Client of the watchdog's warm fork server (``python -m pyfaas.watchdog.zygote_server --socket PATH``).

The zygote has imported the watchdog runtime once; each replica is a ``fork()`` of it, which skips the
interpreter start and the imports that dominate a cold start. Protocol: newline-delimited JSON over one Unix
stream connection. Requests ``{"op": "spawn", "env", "cwd", "log"}`` → ``{"ok": true, "pid": N}`` and
``{"op": "ping"}`` → ``{"ok": true}`` are answered in order; ``{"event": "exit", "pid", "code"}`` is pushed
on the same connection whenever a child exits. Children run in their own session (pgid = pid).

If the zygote dies, children it forked keep running; their exits are then observed by polling ``/proc``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import tempfile
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pyfaas.core.errors import ProcessSpawnError
from pyfaas.system.processes import ProcessRecord, kill_group, kill_tree

__all__ = ["ZygoteSpawner"]

log = logging.getLogger("pyfaas.provider.local")

ZYGOTE_MODULE = "pyfaas.watchdog.zygote_server"
# Started through ``-c`` so that everything the zygote imported is moved out of the garbage collector's
# reach (``gc.freeze``) before the first fork: otherwise the first full collection in each child walks, and
# so copies, every page of the inherited heap. Measured here: cold start p50 ~120 ms → ~40 ms.
_LAUNCH = (
    "import gc, sys\n"
    f"from {ZYGOTE_MODULE} import main\n"
    "gc.collect()\n"
    "gc.freeze()\n"
    "sys.exit(main(sys.argv[1:]))\n"
)
_MAX_UNIX_PATH = 100  # sun_path holds 108 bytes on Linux; keep a margin


class _ZygoteChild:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.record = ProcessRecord.of(pid)
        self._exit: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._poller: asyncio.Task[None] | None = None

    def exited(self, code: int | None) -> None:
        if not self._exit.done():
            self._exit.set_result(code)

    def watch_without_zygote(self) -> None:
        """The zygote is gone, so nobody reports our exit: poll for it."""
        if not self._exit.done() and self._poller is None:
            self._poller = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        # Nothing signals the exit of a process that is not our child: polling /proc is the only way.
        while self.record is not None and self.record.alive():  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        self.exited(None)

    async def wait(self) -> int | None:
        return await asyncio.shield(self._exit)

    def terminate(self) -> None:
        if not self._exit.done():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        kill_tree(self.pid)


class ZygoteSpawner:
    def __init__(
        self,
        *,
        python: str,
        socket_path: Path,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 20.0,
        wrapper: Sequence[str] = (),
    ) -> None:
        self._python = python
        self._wrapper = list(wrapper)
        """A command the zygote runs under (the function's sandbox: ``bwrap ... --``)."""
        self._env = dict(env) if env is not None else None
        self._log_path = log_path
        self._start_timeout = start_timeout
        self._own_tmp: Path | None = None
        if len(str(socket_path)) > _MAX_UNIX_PATH:
            self._own_tmp = Path(tempfile.mkdtemp(prefix="pyfaas-zygote-"))
            socket_path = self._own_tmp / "zygote.sock"
        self.socket_path = socket_path
        self._process: asyncio.subprocess.Process | None = None
        self._record: ProcessRecord | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: deque[asyncio.Future[dict[str, Any]]] = deque()
        self._children: dict[int, _ZygoteChild] = {}
        self._early_exits: dict[int, int | None] = {}
        self._lock = asyncio.Lock()
        self._read_task: asyncio.Task[None] | None = None
        self._alive = False

    @property
    def process_record(self) -> ProcessRecord | None:
        return self._record

    @property
    def alive(self) -> bool:
        return self._alive

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        try:
            log_fd = os.open(self._log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                self._process = await asyncio.create_subprocess_exec(
                    *self._wrapper,
                    self._python,
                    "-c",
                    _LAUNCH,
                    "--socket",
                    str(self.socket_path),
                    env=self._env,
                    # The zygote exits when this pipe closes, so it never outlives the provider.
                    stdin=asyncio.subprocess.PIPE,
                    stdout=log_fd,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                )
            finally:
                os.close(log_fd)
        except OSError as exc:
            raise ProcessSpawnError(f"cannot start the zygote: {exc}") from exc
        self._record = ProcessRecord.of(self._process.pid)
        try:
            await self._connect()
            await self._request({"op": "ping"})
        except ProcessSpawnError:
            await self.close()
            raise

    async def _connect(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self._start_timeout
        delay = 0.005
        while True:
            if self._process.returncode is not None:
                raise ProcessSpawnError(
                    f"the zygote exited with code {self._process.returncode} (see {self._log_path})"
                )
            try:
                self._reader, self._writer = await asyncio.open_unix_connection(
                    str(self.socket_path), limit=1 << 20
                )
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise ProcessSpawnError("the zygote did not open its socket in time") from None
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, 0.1)
        self._alive = True
        self._read_task = asyncio.create_task(self._read_loop())

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while line := await self._reader.readline():
                try:
                    message = json.loads(line)
                except ValueError:
                    log.warning("zygote sent a line that is not JSON: %r", line[:200])
                    continue
                if message.get("event") == "exit":
                    self._on_exit(int(message["pid"]), message.get("code"))
                elif self._pending:
                    if message.get("ok") and "pid" in message:
                        # Register before an exit event of the same child can be read.
                        pid = int(message["pid"])
                        child = _ZygoteChild(pid)
                        if pid in self._early_exits:
                            child.exited(self._early_exits.pop(pid))
                        self._children[pid] = child
                    future = self._pending.popleft()
                    if not future.done():
                        future.set_result(message)
        except (OSError, ValueError) as exc:
            log.warning("zygote connection failed: %s", exc)
        finally:
            self._lost()

    def _on_exit(self, pid: int, code: Any) -> None:
        exit_code = int(code) if isinstance(code, int) else None
        child = self._children.pop(pid, None)
        if child is None:
            self._early_exits[pid] = exit_code
        else:
            child.exited(exit_code)

    def _lost(self) -> None:
        if self._alive:
            log.warning("the zygote connection closed; running replicas are now watched through /proc")
        self._alive = False
        while self._pending:
            future = self._pending.popleft()
            if not future.done():
                future.set_exception(ProcessSpawnError("the zygote went away"))
        for child in self._children.values():
            child.watch_without_zygote()

    async def _request(self, body: dict[str, Any]) -> dict[str, Any]:
        async with self._lock:
            if not self._alive or self._writer is None:
                raise ProcessSpawnError("the zygote is not running")
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._pending.append(future)
            try:
                self._writer.write(json.dumps(body).encode() + b"\n")
                await self._writer.drain()
            except OSError as exc:
                raise ProcessSpawnError(f"cannot talk to the zygote: {exc}") from exc
        reply = await future
        if not reply.get("ok"):
            raise ProcessSpawnError(f"the zygote refused: {reply.get('error', reply)}")
        return reply

    async def spawn(self, *, env: Mapping[str, str], cwd: Path, log_path: Path) -> _ZygoteChild:
        reply = await self._request({"op": "spawn", "env": dict(env), "cwd": str(cwd), "log": str(log_path)})
        pid = int(reply["pid"])
        child = self._children.get(pid)
        if child is None:  # it exited already and was removed by its exit event
            child = _ZygoteChild(pid)
            child.exited(self._early_exits.pop(pid, None))
        return child

    async def close(self) -> None:
        """Stop the zygote itself; replicas it forked are left to their owner (the provider drains them)."""
        self._alive = False
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        if self._read_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._read_task
        if self._process is not None and self._process.returncode is None:
            if self._process.stdin is not None:
                self._process.stdin.close()
            kill_group(self._process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), 3.0)
            except TimeoutError:
                kill_group(self._process.pid, signal.SIGKILL)
                await self._process.wait()
        with contextlib.suppress(OSError):
            self.socket_path.unlink()
        if self._own_tmp is not None:
            shutil.rmtree(self._own_tmp, ignore_errors=True)
