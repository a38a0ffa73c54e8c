"""Each local function in a sandbox of its own: Linux namespaces through bubblewrap (``bwrap``).

One warm zygote per function runs inside ``bwrap`` with that function's view of the machine, and its replicas
are forks of it (so a scale from zero still costs a fork, not an interpreter start). The view, built from the
replica's environment:

* the system read-only: ``/usr``, ``/etc``, ``/bin``, ``/lib*``, the Python installation, the virtualenv and
  the ``pyfaas`` package;
* the function's own files read-only: its ``handler`` folder, its ``PYTHONPATH`` entries and the folder its
  command runs in (``env -C DIR``, what template builds produce); the folders on its ``PATH``;
* its own secrets read-only at ``secret_mount_path`` (only the secrets it lists), its own run directory
  (port, lock and log files of its replicas) writable, a private ``/tmp`` (also ``HOME`` and ``TMPDIR``);
* fresh ``/proc`` and ``/dev`` in new user, PID, IPC, UTS and cgroup namespaces; the network is shared
  (replicas listen on loopback, the gateway calls them there).

Nothing else exists inside: not the state directory (other functions' secrets, specs, logs), not the
gateway's credentials, not other functions' folders. Inside a PID namespace the zygote reports its children's
PIDs as it sees them; the provider needs host PIDs (to signal, to record), found by walking the sandbox's
process tree in ``/proc`` (``NSpid``).

Where ``bwrap`` is missing or the kernel refuses user namespaces, :func:`probe` says why; the provider then
runs replicas as before and logs the reason, and ``pyfaas up`` prints it once.

Each sandbox's zygote socket lives in a folder of the system's temporary directory named after the process
that made it (``pyfaas-sandbox-PID-START-xxxx``); a gateway that crashed leaves it behind, and the next start
removes those of owners that are gone (:func:`remove_stale_socket_dirs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyfaas.core.errors import ProcessSpawnError
from pyfaas.provider.local.spawner import ReplicaProcess
from pyfaas.provider.local.zygote_client import ZygoteSpawner
from pyfaas.system.processes import ProcessRecord, kill_tree

__all__ = ["SandboxProbe", "SandboxSpawner", "probe", "remove_stale_socket_dirs", "view_arguments"]

log = logging.getLogger("pyfaas.provider.local")

SANDBOX_TMP = "/tmp"
_SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
_NAMESPACES = ("--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try")
_PROBE_TIMEOUT = 10.0
_SOCKET_DIR_PREFIX = "pyfaas-sandbox-"
_ZYGOTE_SOCKET = "zygote.sock"


@dataclass(frozen=True, slots=True)
class SandboxProbe:
    available: bool
    reason: str
    """Why not, when not available (empty otherwise)."""


def probe(bwrap: str = "bwrap") -> SandboxProbe:
    """Whether ``bwrap`` can create the namespaces a sandbox needs on this machine (runs it once)."""
    program = shutil.which(bwrap)
    if program is None:
        return SandboxProbe(False, f"{bwrap} (bubblewrap) is not installed")
    command = [program, *_NAMESPACES, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=_PROBE_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return SandboxProbe(False, f"{program} could not run: {exc}")
    if done.returncode != 0:
        detail = (done.stderr.strip() or f"exit code {done.returncode}").splitlines()[-1]
        return SandboxProbe(False, f"{program} cannot create user namespaces here: {detail}")
    return SandboxProbe(True, "")


def _python_paths() -> list[Path]:
    """What the zygote's interpreter reads: the installation, the virtualenv and the pyfaas package."""
    package = Path(__file__).parents[2]  # the pyfaas package, as imported (a symlink in a checkout)
    return [Path(sys.base_prefix), Path(sys.prefix), package, package.resolve()]


_SYS_PATH_SCRIPT = "import json, sys; print(json.dumps([p for p in sys.path if p]))"


def interpreter_paths(python: str, env: Mapping[str, str]) -> list[Path]:
    """The import path of ``python`` started with ``env``, as that interpreter computes it.

    More than the prefixes: folders named by plain path lines of ``.pth`` files (dependencies kept in
    another virtualenv) and an installation outside ``sys.prefix`` all have to be readable in the sandbox,
    or the zygote cannot import. Run from ``/`` so that no working directory sneaks in."""
    try:
        done = subprocess.run(
            [python, "-c", _SYS_PATH_SCRIPT],
            env=dict(env),
            cwd="/",
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT,
            check=True,
        )
        entries = json.loads(done.stdout)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        log.warning(
            "cannot read the import path of %s (the sandbox shows only its prefixes): %s", python, exc
        )
        return []
    return [Path(e) for e in entries if isinstance(e, str) and os.path.isabs(e) and e != "/"]


def _command_folders(env: Mapping[str, str]) -> list[Path]:
    """Folders a replica's own files live in, as its environment names them."""
    folders: list[Path] = []
    # programs a command names without a path (python3, node ...): PATH's folders, never / or HOME itself
    home = env.get("HOME", "")
    for entry in env.get("PATH", "").split(os.pathsep):
        if entry and entry not in ("/", home) and entry.rstrip("/") != home.rstrip("/"):
            folders.append(Path(entry))
    if handler := env.get("handler"):
        folders.append(Path(handler))
    for entry in env.get("PYTHONPATH", "").split(os.pathsep):
        if entry:
            folders.append(Path(entry))
    for command in (env.get("fprocess", ""),):
        try:
            words = shlex.split(command)
        except ValueError:
            continue
        for index, word in enumerate(words[:-1]):
            if word == "-C" and index > 0 and Path(words[index - 1]).name == "env":
                folders.append(Path(words[index + 1]))
            elif word.startswith("PYTHONPATH="):
                folders += [Path(p) for p in word.partition("=")[2].split(os.pathsep) if p]
    return folders


def _unique_existing(paths: Iterable[Path]) -> list[Path]:
    seen: dict[str, Path] = {}
    for path in paths:
        if path.is_absolute() and path.exists():
            seen.setdefault(str(path), path)
    return list(seen.values())


def view_arguments(
    *,
    env: Mapping[str, str],
    run_dir: Path,
    socket_dir: Path,
    hidden: Sequence[Path],
    extra: Sequence[Path] = (),
) -> list[str]:
    """bwrap's arguments for one function (order matters: later mounts cover earlier ones).

    No ``--die-with-parent``: replicas must outlive a crashed gateway like unsandboxed ones (the next gateway
    stops them by PID record and state marker). bwrap's init in the PID namespace waits for every process in
    it, so the sandbox lasts exactly as long as its zygote and replicas; the zygote leaves when its stdin
    pipe from the gateway closes."""
    args = [*_NAMESPACES, "--proc", "/proc", "--dev", "/dev"]
    for directory in _SYSTEM_DIRS:
        args += ["--ro-bind-try", directory, directory]
    args += ["--tmpfs", SANDBOX_TMP]  # first: a function's folders under /tmp are bound over it
    readable = _unique_existing([*_python_paths(), *_command_folders(env), *extra])
    for path in readable:
        args += ["--ro-bind", str(path), str(path)]
    # A handler folder or the virtualenv may contain the state directory: cover it again.
    for path in hidden:
        if any(path == r or r in path.parents for r in readable):
            args += ["--tmpfs", str(path)]
    if (secrets := env.get("secret_mount_path")) and Path(secrets).is_dir():
        args += ["--ro-bind", secrets, secrets]
    args += ["--bind", str(run_dir), str(run_dir), "--bind", str(socket_dir), str(socket_dir)]
    args += ["--chdir", str(run_dir)]
    return args


def _identity(env: Mapping[str, str], run_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """Which folders (by device and inode) the paths a sandbox binds name right now."""
    paths = [*_command_folders(env), run_dir]
    if secrets := env.get("secret_mount_path"):
        paths.append(Path(secrets))
    found = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            found.append((str(path), 0, 0))
        else:
            found.append((str(path), info.st_dev, info.st_ino))
    return tuple(found)


def _socket_dir_prefix(owner: ProcessRecord | None) -> str:
    if owner is None:
        return _SOCKET_DIR_PREFIX
    return f"{_SOCKET_DIR_PREFIX}{owner.pid}-{owner.start_time}-"


def _answers(path: Path) -> bool:
    """Whether something listens on the Unix socket ``path`` (a zygote still running)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe_socket:
        try:
            probe_socket.connect(str(path))
        except OSError:
            return False
    return True


def remove_stale_socket_dirs(root: Path | None = None) -> list[Path]:
    """Remove the socket folders of sandboxes whose owner process is gone (a gateway that crashed skipped its
    cleanup): only this user's, only when empty or holding just a zygote socket nobody listens on. Folders
    of an older name, without the owner, are left alone (whose they are cannot be told)."""
    removed: list[Path] = []
    for path in Path(root or tempfile.gettempdir()).glob(_SOCKET_DIR_PREFIX + "*"):
        parts = path.name[len(_SOCKET_DIR_PREFIX) :].split("-")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            continue
        if ProcessRecord(int(parts[0]), int(parts[1])).alive():
            continue
        try:
            info = path.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                continue
            entries = list(path.iterdir())
            if any(entry.name != _ZYGOTE_SOCKET or _answers(entry) for entry in entries):
                continue
            for entry in entries:
                entry.unlink(missing_ok=True)
            path.rmdir()
        except OSError as exc:
            log.debug("left %s: %s", path, exc)
            continue
        removed.append(path)
    return removed


def _read_children(pid: int) -> list[int]:
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                children += [int(c) for c in handle.read().split()]
    return children


def _namespace_pids(pid: int) -> list[int]:
    with contextlib.suppress(OSError, ValueError), open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("NSpid:"):
                return [int(p) for p in line.split()[1:]]
    return []


def host_pid(root: int, inner: int, depth: int = 4) -> int | None:
    """The host PID of the process under ``root`` (bwrap) whose PID in the sandbox is ``inner``."""
    level = [root]
    for _ in range(depth):
        level = [child for pid in level for child in _read_children(pid)]
        for pid in level:
            ids = _namespace_pids(pid)
            if len(ids) > 1 and ids[-1] == inner:
                return pid
    return None


class _SandboxedReplica:
    """A replica forked by a sandboxed zygote, addressed by its host PID."""

    def __init__(self, pid: int, inner: ReplicaProcess, zygote: ZygoteSpawner) -> None:
        self.pid = pid
        self._inner = inner
        self._zygote = zygote
        self._record = ProcessRecord.of(pid)

    async def wait(self) -> int | None:
        inner = asyncio.ensure_future(self._inner.wait())
        try:
            # The zygote reports the exit; if it is gone (and with it the sandbox), watch /proc instead.
            while not inner.done():
                await asyncio.wait({inner}, timeout=0.5)
                gone = self._record is None or not self._record.alive()
                if not inner.done() and not self._zygote.alive and gone:
                    return None
            return inner.result()
        finally:
            inner.cancel()

    def terminate(self) -> None:
        if self._record is not None and self._record.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        kill_tree(self.pid)


@dataclass(slots=True)
class _Sandbox:
    view: tuple[str, ...]
    identity: tuple[tuple[str, int, int], ...]
    zygote: ZygoteSpawner
    socket_dir: Path
    replicas: set[int]


class SandboxSpawner:
    """A ``Spawner`` that starts each function's replicas from a zygote in that function's sandbox."""

    def __init__(
        self, *, python: str, bwrap: str, zygote_env: Mapping[str, str], hidden: Sequence[Path] = ()
    ) -> None:
        self._python = python
        self._bwrap = shutil.which(bwrap) or bwrap
        self._zygote_env = dict(zygote_env)
        self._hidden = [Path(p) for p in hidden]
        self._sandboxes: dict[tuple[str, str], _Sandbox] = {}
        self._retired: list[_Sandbox] = []
        self._lock = asyncio.Lock()
        self._import_path: list[Path] = []
        self._socket_prefix = _socket_dir_prefix(ProcessRecord.of(os.getpid()))

    async def start(self) -> None:
        self._import_path = await asyncio.to_thread(interpreter_paths, self._python, self._zygote_env)
        removed = await asyncio.to_thread(remove_stale_socket_dirs)
        if removed:
            log.info("removed %d sandbox socket folder(s) left by a gateway that is gone", len(removed))

    @property
    def process_record(self) -> ProcessRecord | None:
        return None  # one zygote per function, each ends when its stdin pipe from the provider closes

    @property
    def alive(self) -> bool:
        return True

    def _view(self, env: Mapping[str, str], run_dir: Path, socket_dir: Path) -> tuple[str, ...]:
        # the zygote's own PYTHONPATH (inherited by the provider) must be readable for its imports
        extra = [Path(p) for p in self._zygote_env.get("PYTHONPATH", "").split(os.pathsep) if p]
        extra += self._import_path
        arguments = view_arguments(
            env=env, run_dir=run_dir, socket_dir=socket_dir, hidden=self._hidden, extra=extra
        )
        return tuple(arguments)

    async def _sandbox(self, env: Mapping[str, str], run_dir: Path) -> _Sandbox:
        key = (env.get("OPENFAAS_NAMESPACE", ""), env.get("OPENFAAS_NAME", ""))
        current = self._sandboxes.get(key)
        socket_dir = current.socket_dir if current else Path(tempfile.mkdtemp(prefix=self._socket_prefix))
        view = self._view(env, run_dir, socket_dir)
        identity = _identity(env, run_dir)
        same = current is not None and (current.view, current.identity) == (view, identity)
        if current is not None and same and current.zygote.alive:
            return current
        # New or replaced folders (a bind shows the folder that was there when the sandbox began, so a folder
        # replaced on the host by a rebuild or a store update needs a new sandbox), or other secrets: the old
        # sandbox goes once its replicas have.
        if current is not None:
            socket_dir = Path(tempfile.mkdtemp(prefix=self._socket_prefix))
            view = self._view(env, run_dir, socket_dir)
            self._retired.append(current)
            await self._close_idle_retired()
        zygote = ZygoteSpawner(
            python=self._python,
            socket_path=socket_dir / "zygote.sock",
            log_path=run_dir.parent.parent / f"sandbox-{key[0]}-{key[1]}.log",
            env=self._zygote_env,
            wrapper=[self._bwrap, *view, "--"],
        )
        try:
            await zygote.start()
        except ProcessSpawnError:
            shutil.rmtree(socket_dir, ignore_errors=True)
            raise
        sandbox = _Sandbox(view=view, identity=identity, zygote=zygote, socket_dir=socket_dir, replicas=set())
        self._sandboxes[key] = sandbox
        return sandbox

    async def spawn(self, *, env: Mapping[str, str], cwd: Path, log_path: Path) -> ReplicaProcess:
        inside = {**env, "TMPDIR": SANDBOX_TMP, "HOME": SANDBOX_TMP}
        async with self._lock:
            sandbox = await self._sandbox(env, cwd)
        child = await sandbox.zygote.spawn(env=inside, cwd=cwd, log_path=log_path)
        record = sandbox.zygote.process_record
        pid = host_pid(record.pid, child.pid) if record is not None else None
        if pid is None:
            raise ProcessSpawnError(f"replica exited at once (see {log_path})")
        sandbox.replicas.add(pid)
        replica = _SandboxedReplica(pid, child, sandbox.zygote)
        return _Tracked(replica, sandbox, self)

    async def forget(self, namespace: str, name: str) -> None:
        """The function is gone: close its sandbox once its last replica has exited (now, usually)."""
        async with self._lock:
            sandbox = self._sandboxes.pop((namespace, name), None)
            if sandbox is not None:
                self._retired.append(sandbox)
            await self._close_idle_retired()

    async def _close_idle_retired(self) -> None:
        for sandbox in [s for s in self._retired if not s.replicas]:
            self._retired.remove(sandbox)
            await sandbox.zygote.close()
            shutil.rmtree(sandbox.socket_dir, ignore_errors=True)

    async def close(self) -> None:
        sandboxes, self._sandboxes = [*self._sandboxes.values(), *self._retired], {}
        self._retired = []
        for sandbox in sandboxes:
            await sandbox.zygote.close()
            shutil.rmtree(sandbox.socket_dir, ignore_errors=True)


class _Tracked:
    """Forgets the replica in its sandbox when it exits, so that a superseded sandbox can be closed."""

    def __init__(self, replica: _SandboxedReplica, sandbox: _Sandbox, owner: SandboxSpawner) -> None:
        self.pid = replica.pid
        self._replica = replica
        self._sandbox = sandbox
        self._owner = owner

    async def wait(self) -> int | None:
        try:
            return await self._replica.wait()
        finally:
            self._sandbox.replicas.discard(self.pid)
            if self._sandbox in self._owner._retired and not self._sandbox.replicas:
                await self._owner._close_idle_retired()

    def terminate(self) -> None:
        self._replica.terminate()

    def kill(self) -> None:
        self._replica.kill()


def startup_warning(environ: Mapping[str, str]) -> str | None:
    """What ``pyfaas up`` prints once when its functions will not be isolated (None when they will be)."""
    from pyfaas.core.booleans import parse_bool

    try:
        wanted = parse_bool(environ.get("local_sandbox", "true"))
    except ValueError:
        return None  # the gateway refuses the setting itself, naming it
    if not wanted:
        return "local_sandbox=false: functions are not isolated from each other"
    found = probe(environ.get("PYFAAS_BWRAP", "bwrap"))
    if found.available:
        return None
    return (
        f"functions are not isolated from each other: {found.reason}; install bubblewrap and allow "
        "unprivileged user namespaces (docs/reliability.md 'Function isolation')"
    )
