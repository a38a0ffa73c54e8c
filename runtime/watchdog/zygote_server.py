"""Warm fork server ("zygote") for fast replica start:
``python -m pyfaas.watchdog.zygote_server --socket PATH``.

At start it imports the whole watchdog runtime (aiohttp, uvloop, prometheus-client, every mode) but starts
no event loop, thread or extra socket. It then serves newline-delimited JSON on a Unix stream socket with
blocking sockets and ``selectors``:

* ``{"op": "spawn", "env": {...}, "cwd": "/dir", "log": "/path/replica.log"}`` →
  ``{"ok": true, "pid": N}`` or ``{"ok": false, "error": "..."}``. The forked child leaves the zygote's
  sockets behind, starts a new session, chdirs to ``cwd``, reads stdin from ``/dev/null``, appends stdout
  and stderr to ``log``, replaces ``os.environ`` with ``env``, resets signal handlers and exits with
  ``run(env, ["pyfaas-watchdog"])``.
* ``{"op": "ping"}`` → ``{"ok": true}``.
* When a child exits, ``{"event": "exit", "pid": N, "code": C}`` (C = exit code or -signal) is sent on the
  connection that spawned it.

The zygote exits when its stdin (a pipe from its parent) reaches EOF, or when its socket file is removed
or replaced. Its children are separate sessions: whoever owns them stops them (``killpg``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import stat
import sys
import traceback
from collections.abc import Sequence
from typing import Any

# Warm imports: everything a replica needs, loaded once here and shared copy-on-write by every child.
import aiohttp  # noqa: F401
import multidict  # noqa: F401
import prometheus_client  # noqa: F401
import yarl  # noqa: F401
from aiohttp import web  # noqa: F401

from pyfaas.watchdog.modes import MODES
from pyfaas.watchdog.service import loop_factory, run

for _target in MODES.values():  # every registered mode: a forked replica may run any of them
    importlib.import_module(_target.partition(":")[0])

with contextlib.suppress(ImportError):
    import uvloop  # noqa: F401

__all__ = ["main", "serve"]

_WARM_LOOP_FACTORY = loop_factory()  # resolves the uvloop import now, not in every child


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(json.dumps(message).encode() + b"\n")


def _socket_identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def _watch_stdin() -> bool:
    """Only a pipe or socket on stdin means "a parent holds the other end"."""
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become a replica. Never returns."""
    code = 1
    try:
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd > 2:
                with contextlib.suppress(OSError):
                    os.close(fd)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setsid()
        env = {str(k): str(v) for k, v in dict(request.get("env") or {}).items()}
        os.chdir(str(request.get("cwd") or "/"))
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        log = os.open(str(request.get("log") or os.devnull), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.environ.clear()
        os.environ.update(env)
        code = run(env, ["pyfaas-watchdog"])
    except BaseException:
        with contextlib.suppress(BaseException):
            os.write(2, traceback.format_exc().encode())
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve(path: str) -> int:
    """Run the zygote on ``path`` until its parent goes away."""
    # Children share the imported runtime copy-on-write; frozen objects are never traversed by their
    # collector, so those pages stay shared.
    gc.collect()
    gc.freeze()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    identity = _socket_identity(path)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_read, selectors.EVENT_READ, "wake")
    if _watch_stdin():
        selector.register(0, selectors.EVENT_READ, "stdin")
    children: dict[int, _Connection] = {}
    running = True

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not pid:
                return
            owner = children.pop(pid, None)
            if owner is not None:
                owner.send({"event": "exit", "pid": pid, "code": os.waitstatus_to_exitcode(status)})

    def handle(connection: _Connection, line: bytes) -> None:
        try:
            request = json.loads(line)
            op = request.get("op")
        except (ValueError, AttributeError):
            connection.send({"ok": False, "error": "invalid JSON request"})
            return
        if op == "ping":
            connection.send({"ok": True})
        elif op == "spawn":
            sys.stdout.flush()
            sys.stderr.flush()
            try:
                pid = os.fork()
            except OSError as exc:
                connection.send({"ok": False, "error": f"fork failed: {exc}"})
                return
            if pid == 0:
                _child(request)
            children[pid] = connection
            connection.send({"ok": True, "pid": pid})
        else:
            connection.send({"ok": False, "error": f"unknown op {op!r}"})

    try:
        while running:
            for key, _ in selector.select(timeout=0.5):
                if key.data == "accept":
                    sock, _ = listener.accept()
                    selector.register(sock, selectors.EVENT_READ, _Connection(sock))
                elif key.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        while os.read(wake_read, 4096):
                            pass
                elif key.data == "stdin":
                    if not os.read(0, 4096):
                        running = False
                else:
                    connection: _Connection = key.data
                    try:
                        data = connection.sock.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        selector.unregister(connection.sock)
                        connection.sock.close()
                        continue
                    connection.buffer += data
                    while b"\n" in connection.buffer:
                        line, connection.buffer = connection.buffer.split(b"\n", 1)
                        if line.strip():
                            handle(connection, line)
            reap()
            if _socket_identity(path) != identity:
                running = False
    finally:
        signal.set_wakeup_fd(-1)
        selector.close()
        listener.close()
        if _socket_identity(path) == identity:
            with contextlib.suppress(OSError):
                os.unlink(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyfaas.watchdog.zygote_server")
    parser.add_argument("--socket", required=True, help="Unix socket path to listen on")
    args = parser.parse_args(argv)
    return serve(args.socket)


if __name__ == "__main__":
    sys.exit(main())
