"""The README's Quickstart, run verbatim: its start command (with ``--detach`` appended, as the README
allows), then its curl lines; ``pyfaas down`` afterwards, and no process of the platform may be left.

The platform uses the README's state directory, ``examples/.pyfaas``. Port 8080 as written when it is free;
otherwise the README's documented override (``PYFAAS_PORT``) with the URLs changed to match.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess

import pytest

from pyfaas.cli.local.layout import RunLock
from tests.support.platform import ROOT, LocalPlatform, marked_processes, pyfaas

STATE = ROOT / "examples" / ".pyfaas"
DEFAULT_URL = "127.0.0.1:8080"


def quickstart_blocks(readme: str) -> list[list[str]]:
    """The command lines of each ```sh block of the ``## Quickstart`` section."""
    section = readme.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    return [[line for line in block.splitlines() if line.strip()] for block in blocks]


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_quickstart_commands_work_verbatim() -> None:
    blocks = quickstart_blocks((ROOT / "README.md").read_text())
    start, *rest = blocks
    assert start == ["bash scripts/up.sh"]
    assert rest[-1] == ["bash scripts/test.sh"]  # the test command is listed, not run from a test
    curls = [line for block in rest[:-1] for line in block]
    if RunLock.is_held(STATE / "up.lock"):
        pytest.skip("a platform started from the Quickstart is running in examples/.pyfaas")

    env = {**os.environ}
    env.pop("PYFAAS_ADMIN_PASSWORD", None)
    # A new user's shell: scripts/up.sh installs into .venv, whose bin folder is not on their PATH.
    venv_bin = str(ROOT / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p.rstrip("/") != venv_bin
    )
    env.pop("VIRTUAL_ENV", None)
    if not _free(8080):
        port = _free_port()
        env["PYFAAS_PORT"] = str(port)  # the README's documented port override
        curls = [line.replace(DEFAULT_URL, f"127.0.0.1:{port}") for line in curls]

    platform = LocalPlatform(state_dir=STATE, cwd=ROOT, up_output="")
    try:
        started = subprocess.run(
            ["bash", "-c", f"{start[0]} --detach"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert started.returncode == 0, started.stdout + started.stderr
        assert "pyfaas is up" in started.stdout
        platform.snapshot()

        script = "set -euo pipefail\n" + "\n".join(f"{line}\necho" for line in curls)
        ran = subprocess.run(
            ["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        output = ran.stdout
        assert ran.returncode == 0, output + ran.stderr
        assert re.search(r'"body":\s*"Hello, pyfaas"', output)  # echo
        assert "\n3\n" in output  # wc: the words of 'one two three'
        assert "202 Accepted" in output and "x-call-id" in output.lower()  # async submission
        # its status (succeeded after the README's `sleep 3`, unless the machine is very busy)
        assert re.search(r'"state":\s*"(succeeded|running|queued)"', output)
        assert re.search(r'"name":\s*"echo"', output)  # the function list, authenticated

        # the summary's stop command works as printed, from another folder, without pyfaas on PATH
        stop = re.search(r"^\s*Stop\s+(.+)$", started.stdout, flags=re.MULTILINE)
        assert stop and "down" in stop[1], started.stdout
        stopped_as_told = subprocess.run(
            ["bash", "-c", stop[1]], cwd=ROOT.parent, env=env, capture_output=True, text=True, timeout=120
        )
        assert stopped_as_told.returncode == 0, stop[1] + "\n" + stopped_as_told.stderr
        assert not RunLock.is_held(STATE / "up.lock")
    finally:
        stopped = pyfaas("down", "--state-dir", str(STATE), cwd=ROOT)
        survivors = platform.survivors()
        assert stopped.returncode == 0, stopped.stderr
        assert not survivors and not marked_processes(STATE), f"left running: {survivors}"
