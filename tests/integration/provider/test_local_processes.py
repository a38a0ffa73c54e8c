"""The local provider's processes: restarts of the provider, crashes of replicas, and nothing left behind."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from pyfaas.core.errors import StateStoreError
from pyfaas.provider.local import LocalProvider
from pyfaas.system.processes import process_start_time
from tests.integration.provider.helpers import eventually, invoke, ready
from tests.support.providers import (
    fork_function,
    local_provider,
    pyfaas_processes,
    python_function,
    replica_headers,
    wait_no_processes,
    write_handler,
)

NS = "openfaas-fn"
ECHO = 'def handle(event, context):\n    return "echo:" + event.body.decode()\n'


async def test_crash_loop_backs_off(tmp_path: Path) -> None:
    broken = write_handler(tmp_path / "broken", "raise RuntimeError('boom at import')\n")
    async with local_provider(tmp_path / "state", restart_backoff=0.1, restart_backoff_max=0.4) as provider:
        await provider.deploy(python_function("broken", broken))
        status = await eventually(lambda: _status(provider, "broken"), lambda s: s.restarts >= 3, within=30)
        assert status.last_exit is not None and status.last_exit.code not in (0, None)
        assert await provider.ready_replicas("broken", NS) == []
        assert (await provider.get_function("broken", NS)).availableReplicas == 0


async def _status(provider: LocalProvider, name: str):  # type: ignore[no-untyped-def]
    return provider.runtime_status(name, NS)


async def test_close_leaves_no_process_behind_even_mid_request(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with httpx.AsyncClient(timeout=30) as client:
        async with local_provider(state, drain_timeout=2.0) as provider:
            await provider.deploy(python_function("echo", write_handler(tmp_path / "echo", ECHO)))
            await provider.deploy(fork_function("slow", "sleep 30"))
            await provider.scale("echo", NS, 2)
            await ready(provider, "echo", NS, 2)
            [slow] = await ready(provider, "slow", NS)
            # A request in flight forks `sleep 30` inside the replica's process group.
            call = asyncio.create_task(client.post(slow.url + "/", headers=replica_headers(slow)))
            await eventually(lambda: _count(state), lambda n: n >= 4, within=10)
            pids = pyfaas_processes(state)
        assert await wait_no_processes(state, within=5) == []
        assert all(not _alive(pid) for pid in pids)
        [outcome] = await asyncio.gather(call, return_exceptions=True)
        # Killed mid-request: either the connection dropped or the watchdog saw its child die.
        assert isinstance(outcome, httpx.HTTPError) or (
            isinstance(outcome, httpx.Response) and outcome.status_code >= 500
        )


async def _count(state: Path) -> int:
    return len(pyfaas_processes(state))


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it has ended)."""
    return process_start_time(pid) is not None


CRASHING_PROVIDER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from pyfaas.provider.local import LocalProvider, LocalProviderConfig
    from pyfaas.core.models import FunctionDeployment

    async def main():
        provider = LocalProvider(LocalProviderConfig(state_dir=Path(sys.argv[1])))
        await provider.start()
        spec = FunctionDeployment(service="cat", image="local", envProcess="cat", envVars={"mode": "fork"})
        await provider.deploy(spec)
        await provider.scale("cat", "openfaas-fn", 2)
        await provider.wait_for_replicas("cat", "openfaas-fn", count=2)
        print("ready", flush=True)
        await asyncio.sleep(120)  # the provider stays up until the test kills this process

    asyncio.run(main())
    """
)


async def test_processes_of_a_crashed_provider_are_stopped(tmp_path: Path) -> None:
    state = tmp_path / "state"
    crashing = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASHING_PROVIDER, str(state), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert crashing.stdout is not None
        line = await asyncio.wait_for(crashing.stdout.readline(), 60)
        assert line.strip() == b"ready"
    finally:
        crashing.kill()
        await crashing.wait()
    orphans = pyfaas_processes(state)
    assert len(orphans) >= 2  # the replicas (and zygote) outlive their provider

    async with local_provider(state) as provider:
        assert [pid for pid in orphans if _alive(pid)] == []
        replicas = await ready(provider, "cat", NS, 2)
        assert (await invoke(replicas[0], b"still here")).text == "still here"
    assert await wait_no_processes(state, within=5) == []


async def test_unwritable_state_raises_state_store_error(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with local_provider(state) as provider:
        # A file where the namespace directory should be: every write below it fails.
        (state / "functions" / NS).write_text("not a directory")
        with pytest.raises(StateStoreError):
            await provider.deploy(fork_function("cat", "cat"))
        with pytest.raises(Exception):  # noqa: B017 - the function was never created
            await provider.get_function("cat", NS)
        assert (state / "functions" / NS).read_text() == "not a directory"


async def test_relative_state_dir_works_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # as `pyfaas up` runs with state_dir=.pyfaas
    async with local_provider(Path(".pyfaas")) as provider:
        await provider.deploy(fork_function("cat", "cat"))
        [replica] = await ready(provider, "cat", NS)
        assert (await invoke(replica, b"rel")).text == "rel"


async def test_a_broken_update_keeps_the_old_replicas_serving(tmp_path: Path) -> None:
    async with local_provider(tmp_path / "state", restart_backoff=0.05, restart_backoff_max=0.2) as provider:
        await provider.deploy(python_function("echo", write_handler(tmp_path / "v1", ECHO)))
        [old] = await ready(provider, "echo", NS)
        broken = write_handler(tmp_path / "v2", "raise ImportError('v2 is broken')\n")
        await provider.update(python_function("echo", broken))
        await eventually(lambda: _status(provider, "echo"), lambda s: s.restarts >= 2)
        assert await provider.ready_replicas("echo", NS) == [old]
        assert (await invoke(old, b"still")).text == "echo:still"
        # Fixing the spec rolls forward.
        await provider.update(python_function("echo", tmp_path / "v1"))
        await eventually(
            lambda: provider.ready_replicas("echo", NS), lambda rs: len(rs) == 1 and rs[0] != old
        )


async def test_delete_empties_the_ready_set_for_good(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with local_provider(state) as provider:
        seen: list[int] = []
        provider.subscribe(lambda name, namespace, replicas: seen.append(len(replicas)))
        await provider.deploy(python_function("echo", write_handler(tmp_path / "echo", ECHO)))
        await provider.scale("echo", NS, 3)
        await ready(provider, "echo", NS, 3)
        await provider.delete("echo", NS)
        assert seen[-1] == 0
        run_dir = state / "run" / NS / "echo"
        await eventually(lambda: _pid_files(run_dir), lambda files: files == [], within=15)
        assert seen[-1] == 0 and seen.count(0) == 1  # draining replicas never reappear


async def _pid_files(directory: Path) -> list[str]:
    return [name for name in os.listdir(directory) if name.endswith(".pid")]


async def test_losing_the_zygote_falls_back_to_subprocesses(tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with local_provider(state, restart_backoff=0.05) as provider:
        assert provider.spawner_kind == "zygote"
        await provider.deploy(python_function("echo", write_handler(tmp_path / "echo", ECHO)))
        [forked] = await ready(provider, "echo", NS)
        zygote_pid = int((state / "run" / "zygote.pid").read_text().split()[0])
        os.kill(zygote_pid, signal.SIGKILL)

        # The forked replica keeps serving; its exit is now noticed through /proc.
        assert (await invoke(forked, b"alive")).text == "echo:alive"
        [info] = provider.runtime_status("echo", NS).replicas
        assert info.pid is not None
        os.kill(info.pid, signal.SIGKILL)
        [replacement] = await eventually(
            lambda: provider.ready_replicas("echo", NS), lambda rs: len(rs) == 1 and rs[0].id != forked.id
        )
        assert provider.spawner_kind == "subprocess"
        assert (await invoke(replacement, b"again")).text == "echo:again"
        assert provider.runtime_status("echo", NS).restarts == 1
    assert await wait_no_processes(state, within=5) == []
