"""Functions in bubblewrap sandboxes (pyfaas.provider.local.sandbox): what a function can and cannot reach.

Laid out like ``pyfaas up`` run from a project folder with the default state directory inside it: the
admin password beside the provider's state, one function's handler folder is the project folder itself.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from pyfaas.cli.local.credentials import ensure_credentials
from pyfaas.core.models import Secret
from pyfaas.provider.local import sandbox
from pyfaas.system.processes import process_start_time
from tests.integration.provider.helpers import eventually, invoke, ready
from tests.support.providers import (
    local_provider,
    pyfaas_processes,
    python_function,
    wait_no_processes,
    write_handler,
)

pytestmark = pytest.mark.skipif(not sandbox.probe().available, reason=sandbox.probe().reason)

NS = "openfaas-fn"
ECHO = 'def handle(event, context):\n    return "echo:" + event.body.decode()\n'
PROBE = """
import json, os

def handle(event, context):
    asked = json.loads(event.body)
    out = {}
    for path in asked.get("read", []):
        try:
            with open(path, "rb") as f:
                out[path] = "read:" + f.read().decode()
        except OSError as exc:
            out[path] = "error:" + type(exc).__name__
    for path in asked.get("list", []):
        try:
            out[path] = "list:" + ",".join(sorted(os.listdir(path)))
        except OSError as exc:
            out[path] = "error:" + type(exc).__name__
    for path in asked.get("write", []):
        try:
            with open(path, "w") as f:
                f.write("x")
            out[path] = "wrote"
        except OSError as exc:
            out[path] = "error:" + type(exc).__name__
    return {"statusCode": 200, "body": json.dumps(out)}
"""


async def _ask(replica: object, **asked: list[str]) -> dict[str, str]:
    response = await invoke(replica, json.dumps(asked).encode())  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    result: dict[str, str] = json.loads(response.text)
    return result


async def test_a_function_sees_only_its_own_secret_handler_and_tmp(tmp_path: Path) -> None:
    project = tmp_path / "project"
    up_root = project / ".pyfaas"  # pyfaas up's state directory: admin password + provider state
    up_root.mkdir(parents=True)
    ensure_credentials(up_root, "sandbox-admin-password")
    state = up_root / "provider"
    write_handler(project, PROBE)  # function a's handler folder contains the state directory
    other = write_handler(tmp_path / "b", PROBE)
    outside = tmp_path / "outside.txt"
    outside.write_text("host file")

    async with local_provider(state, sandbox=True, sandbox_hidden=(up_root,)) as provider:
        assert provider.spawner_kind == "sandbox"
        await provider.create_secret(Secret(name="a-key", namespace=NS, value="secret of a"))
        await provider.create_secret(Secret(name="b-key", namespace=NS, value="secret of b"))
        await provider.deploy(python_function("a", project, secrets=["a-key"]))
        await provider.deploy(python_function("b", other, secrets=["b-key"]))
        [a] = await ready(provider, "a", NS)
        await ready(provider, "b", NS)

        mounts = state / "mounts" / NS
        got = await _ask(
            a,
            read=[
                str(mounts / "a" / "a-key"),
                str(mounts / "b" / "b-key"),
                str(state / "secrets" / NS / "b-key"),
                str(up_root / "basic-auth-password"),
                str(outside),
                str(other / "handler.py"),
            ],
            list=[str(state), str(state / "functions" / NS), str(up_root), "/", "/proc/1/root/", "/proc"],
            write=["/tmp/mine", str(project / "new-file"), str(tmp_path / "x"), "/usr/x", "/etc/x"],
        )
        assert got[str(mounts / "a" / "a-key")] == "read:secret of a"
        for denied in (
            mounts / "b" / "b-key",
            state / "secrets" / NS / "b-key",
            up_root / "basic-auth-password",
            outside,
            other / "handler.py",
        ):
            assert got[str(denied)].startswith("error:"), (denied, got[str(denied)])
        # inside, the state directory holds only the folders leading to the function's own binds
        assert got[str(state)] == "list:mounts,run"
        assert got[str(up_root)] == "list:provider"
        assert got[str(state / "functions" / NS)].startswith("error:")
        # no process outside the sandbox is visible (so none of their /proc/PID/root or environ)
        assert got["/proc/1/root/"] == got["/"]
        pids = [int(p) for p in got["/proc"].removeprefix("list:").split(",") if p.isdigit()]
        assert os.getpid() not in pids and max(pids) < 100, pids
        assert got["/tmp/mine"] == "wrote"
        for path in (project / "new-file", Path("/usr/x"), Path("/etc/x")):
            assert got[str(path)].startswith("error:"), (path, got[str(path)])
            assert not path.exists()
        # the host's /tmp is not the function's: what it writes there stays in its own
        assert got[str(tmp_path / "x")] == "wrote" and not (tmp_path / "x").exists()
        # the host's copies are untouched and readable here, outside the sandbox
        assert (up_root / "basic-auth-password").read_text().strip() == "sandbox-admin-password"

        # a secret created after the deploy shows up for the function that lists it (bind of its folder)
        await provider.update_secret(Secret(name="a-key", namespace=NS, value="rotated"))
        again = await _ask(a, read=[str(mounts / "a" / "a-key")])
        assert again[str(mounts / "a" / "a-key")] == "read:rotated"
    assert await wait_no_processes(state, within=10) == []


async def test_replicas_are_signalled_by_host_pid_and_scale_from_zero(tmp_path: Path) -> None:
    handler = write_handler(tmp_path / "echo", ECHO)
    state = tmp_path / "state"
    async with local_provider(state, sandbox=True, restart_backoff=0.05) as provider:
        await provider.deploy(python_function("echo", handler))
        [first] = await ready(provider, "echo", NS)
        [info] = provider.runtime_status("echo", NS).replicas
        assert info.pid is not None and info.pid != os.getpid()
        assert process_start_time(info.pid) is not None  # a live PID of this machine, not the sandbox's
        os.kill(info.pid, signal.SIGKILL)  # a crash: noticed through the zygote and restarted
        [second] = await eventually(
            lambda: provider.ready_replicas("echo", NS), lambda rs: len(rs) == 1 and rs[0].id != first.id
        )
        assert (await invoke(second, b"hi")).text == "echo:hi"
        await provider.scale("echo", NS, 0)
        await eventually(lambda: provider.ready_replicas("echo", NS), lambda rs: rs == [])
        await provider.scale("echo", NS, 2)
        replicas = await eventually(lambda: provider.ready_replicas("echo", NS), lambda rs: len(rs) == 2)
        assert {(await invoke(r, b"x")).text for r in replicas} == {"echo:x"}
        # deleting the function stops its sandbox's zygote too (not only at the provider's close)
        sandboxes = _zygotes(state)
        assert sandboxes, "the function's zygote runs while the function is deployed"
        await provider.delete("echo", NS)
        await eventually(lambda: _alive(sandboxes), lambda alive: alive == [], within=15)
    assert await wait_no_processes(state, within=10) == []


async def test_a_handler_folder_replaced_on_the_host_is_seen_after_an_update(tmp_path: Path) -> None:
    folder = write_handler(tmp_path / "swap", 'def handle(event, context):\n    return "v1"\n')
    async with local_provider(tmp_path / "state", sandbox=True) as provider:
        spec = python_function("swap", folder)
        await provider.deploy(spec)
        [first] = await ready(provider, "swap", NS)
        assert (await invoke(first)).text == "v1"
        # what a rebuild or a store update does: a new folder renamed over the old path
        fresh = write_handler(tmp_path / "swap.new", 'def handle(event, context):\n    return "v2"\n')
        shutil.rmtree(folder)
        fresh.rename(folder)
        await provider.update(spec)
        [second] = await eventually(
            lambda: provider.ready_replicas("swap", NS), lambda rs: len(rs) == 1 and rs[0].id != first.id
        )
        assert (await invoke(second)).text == "v2"


def _zygotes(state: Path) -> list[int]:
    return [p for p in pyfaas_processes(state) if b"zygote" in Path(f"/proc/{p}/cmdline").read_bytes()]


async def _alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if process_start_time(pid) is not None]


def test_probe_says_why_when_bubblewrap_is_missing() -> None:
    found = sandbox.probe("no-such-bwrap-program")
    assert not found.available and "not installed" in found.reason
    refused = sandbox.probe("false")  # a program that fails as bwrap would where namespaces are refused
    assert not refused.available and "cannot create user namespaces" in refused.reason


def test_pyfaas_up_warns_when_functions_cannot_be_isolated() -> None:
    assert sandbox.startup_warning({}) is None
    assert "local_sandbox=false" in (sandbox.startup_warning({"local_sandbox": "false"}) or "")
    warning = sandbox.startup_warning({"PYFAAS_BWRAP": "false"})
    assert warning is not None and "not isolated" in warning and "user namespaces" in warning


def test_pyfaas_up_hands_the_sandbox_settings_to_its_gateway(tmp_path: Path) -> None:
    from pyfaas.cli.local.layout import StateLayout
    from pyfaas.cli.local.services import child_base_env

    env = child_base_env(
        {"local_sandbox": "false", "PYFAAS_BWRAP": "/opt/bwrap", "port": "1"}, StateLayout.at(tmp_path)
    )
    assert env["local_sandbox"] == "false" and env["PYFAAS_BWRAP"] == "/opt/bwrap" and "port" not in env
