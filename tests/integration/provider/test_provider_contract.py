"""The provider contract: what every Provider implementation does, checked against each one.

Functions are real: python-mode handlers written into ``tmp_path`` and fork-mode commands, run by real
watchdog processes (local) or reached through a faas-provider HTTP API (remote).
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from pyfaas.core.errors import (
    Conflict,
    FunctionExists,
    FunctionNotFound,
    NamespaceNotFound,
    SecretExists,
    SecretNotFound,
    ValidationFailed,
)
from pyfaas.core.models import FunctionDeployment, FunctionNamespace, Secret
from pyfaas.provider.base import Provider, Replica
from pyfaas.provider.local import LocalProvider, ReplicaState
from pyfaas.system.processes import process_start_time
from tests.integration.provider.helpers import check_logs, eventually, invoke, ready
from tests.support.async_calls import until
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

ECHO = """
def handle(event, context):
    return {"statusCode": 200, "body": "echo:" + event.body.decode()}
"""


def _echo(tmp_path: Path, name: str = "echo", **fields: object) -> FunctionDeployment:
    return python_function(name, write_handler(tmp_path / name, ECHO), **fields)


# info, health, validation ---------------------------------------------------------------------------
async def test_info_and_health(any_provider: Provider) -> None:
    info = await any_provider.info()
    assert info.provider and info.orchestration
    await any_provider.health()


async def test_invalid_function_name_names_the_field(any_provider: Provider, tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as raised:
        await any_provider.deploy(_echo(tmp_path, "Not_A_Label"))
    assert raised.value.field == "service"


# functions CRUD -------------------------------------------------------------------------------------
async def test_deploy_get_list_update_delete(any_provider: Provider, tmp_path: Path) -> None:
    spec = fork_function("wc", "wc -c", labels={"team": "a"}, annotations={"note": "x"})
    await any_provider.deploy(spec)

    status = await any_provider.get_function("wc", NS)
    assert (status.name, status.image, status.envProcess) == ("wc", "local", "wc -c")
    assert status.labels == {"team": "a"} and status.annotations == {"note": "x"}
    assert status.replicas == 1 and status.namespace == NS
    assert status.createdAt > datetime(2000, 1, 1, tzinfo=UTC)
    assert [f.name for f in await any_provider.list_functions(NS)] == ["wc"]

    with pytest.raises(FunctionExists):
        await any_provider.deploy(spec)

    await any_provider.update(fork_function("wc", "cat", labels={"team": "b"}))
    status = await any_provider.get_function("wc", NS)
    assert status.envProcess == "cat" and status.labels == {"team": "b"}

    with pytest.raises(FunctionNotFound):
        await any_provider.update(fork_function("absent", "cat"))

    await any_provider.delete("wc", NS)
    with pytest.raises(FunctionNotFound):
        await any_provider.get_function("wc", NS)
    with pytest.raises(FunctionNotFound):
        await any_provider.delete("wc", NS)
    # Operator mode takes longer: a reconcile already under way can write the Deployment once more after the
    # delete, and routing knows it until the garbage collector has removed it with its terminating pods.
    await eventually(lambda: _ready_or_missing(any_provider, "wc"), lambda missing: missing, within=60)
    assert await any_provider.list_functions(NS) == []


async def _ready_or_missing(provider: Provider, name: str) -> bool:
    """True once routing knows the function is gone (a watch-based provider learns it a moment later)."""
    try:
        await provider.ready_replicas(name, NS)
    except FunctionNotFound:
        return True
    return False


async def test_scale_sets_desired_replicas(any_provider: Provider) -> None:
    await any_provider.deploy(fork_function("cat", "cat"))
    await any_provider.scale("cat", NS, 3)
    assert (await any_provider.get_function("cat", NS)).replicas == 3
    await any_provider.scale("cat", NS, 0)
    assert (await any_provider.get_function("cat", NS)).replicas == 0
    with pytest.raises(FunctionNotFound):
        await any_provider.scale("absent", NS, 1)


# invocation -----------------------------------------------------------------------------------------
@pytest.mark.invokes
async def test_invoke_python_and_fork_functions(any_provider: Provider, tmp_path: Path) -> None:
    await any_provider.deploy(_echo(tmp_path))
    await any_provider.deploy(fork_function("wc", "wc -c"))

    [echo] = await ready(any_provider, "echo", NS)
    [wc] = await ready(any_provider, "wc", NS)

    response = await invoke(echo, b"hi")
    assert (response.status_code, response.text) == (200, "echo:hi")
    response = await invoke(wc, b"hello")
    assert response.status_code == 200 and response.text.strip() == "5"
    assert (await any_provider.get_function("echo", NS)).availableReplicas == 1


@pytest.mark.local_processes
async def test_scale_up_down_and_zero(any_provider: Provider, tmp_path: Path) -> None:
    seen: list[list[str]] = []
    served_when_removed: dict[str, int] = {}

    def listener(name: str, namespace: str, replicas: list[Replica]) -> None:
        # Runs synchronously inside the provider: a removed replica must not have been signalled yet,
        # so it still answers healthy right now.
        previous = {r_id: url for r_id, url in urls.items()}
        for replica in replicas:
            urls[replica.id] = replica.url
        for gone in set(previous) - {r.id for r in replicas}:
            with urllib.request.urlopen(previous[gone] + "/_/health", timeout=5) as answer:
                served_when_removed[gone] = answer.status
            urls.pop(gone)
        seen.append(sorted(r.id for r in replicas))

    urls: dict[str, str] = {}
    any_provider.subscribe(listener)
    await any_provider.deploy(_echo(tmp_path))
    await ready(any_provider, "echo", NS, 1)

    await any_provider.scale("echo", NS, 3)
    three = await ready(any_provider, "echo", NS, 3)
    assert len({r.url for r in three}) == 3
    for replica in three:
        assert (await invoke(replica, b"x")).text == "echo:x"

    await any_provider.scale("echo", NS, 1)
    [survivor] = await ready(any_provider, "echo", NS, 1)
    assert survivor.id in {r.id for r in three}
    await any_provider.scale("echo", NS, 0)
    await ready(any_provider, "echo", NS, 0)
    status = await any_provider.get_function("echo", NS)
    assert (status.replicas, status.availableReplicas) == (0, 0)

    assert seen[-1] == [] and len(served_when_removed) == 3
    assert set(served_when_removed.values()) == {200}


@pytest.mark.local_processes
async def test_rolling_update_serves_every_request(any_provider: Provider, tmp_path: Path) -> None:
    v1 = write_handler(tmp_path / "v1", 'def handle(event, context):\n    return "v1"\n')
    v2 = write_handler(tmp_path / "v2", 'def handle(event, context):\n    return "v2"\n')
    current: list[Replica] = []

    def listener(name: str, namespace: str, replicas: list[Replica]) -> None:
        current[:] = replicas

    any_provider.subscribe(listener)
    await any_provider.deploy(python_function("roll", v1))
    await any_provider.scale("roll", NS, 2)
    await ready(any_provider, "roll", NS, 2)

    answers: list[str] = []
    failures: list[str] = []
    stop = asyncio.Event()

    async def load(client: httpx.AsyncClient) -> None:
        turn = 0
        while not stop.is_set():
            turn += 1
            if not current:
                failures.append("no ready replica")
                await asyncio.sleep(0.01)
                continue
            replica = current[turn % len(current)]
            try:
                response = await client.get(replica.url + "/", headers=replica_headers(replica))
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
                continue
            if response.status_code == 200:
                answers.append(response.text)
            else:
                failures.append(f"{response.status_code} {response.text}")

    old_ids = {r.id for r in current}
    async with httpx.AsyncClient(timeout=10) as client:
        workers = [asyncio.create_task(load(client)) for _ in range(4)]
        await until(lambda: answers.count("v1") >= 8, limit=30, what="calls served by v1")
        await any_provider.update(python_function("roll", v2))
        await eventually(
            lambda: any_provider.ready_replicas("roll", NS),
            lambda rs: len(rs) == 2 and not old_ids & {r.id for r in rs},
        )
        served = len(answers)
        await until(
            lambda: answers[served:].count("v2") >= 8, limit=30, what="calls served by v2 after the roll"
        )
        stop.set()
        await asyncio.gather(*workers)
    assert failures == []
    assert answers[0] == "v1" and answers[-1] == "v2"
    assert set(answers) == {"v1", "v2"}


# secrets --------------------------------------------------------------------------------------------
async def test_secret_crud(any_provider: Provider, tmp_path: Path) -> None:
    await any_provider.create_secret(Secret(name="api-key", namespace=NS, value="one"))
    await any_provider.create_secret(Secret(name="raw", namespace=NS, rawValue=b"\x00\x01"))
    listed = await any_provider.list_secrets(NS)
    assert sorted(s.name for s in listed) == ["api-key", "raw"]
    assert all(s.value is None and s.rawValue is None for s in listed)
    with pytest.raises(SecretExists):
        await any_provider.create_secret(Secret(name="api-key", namespace=NS, value="again"))
    await any_provider.update_secret(Secret(name="api-key", namespace=NS, value="two"))
    with pytest.raises(SecretNotFound):
        await any_provider.update_secret(Secret(name="absent", namespace=NS, value="x"))
    await any_provider.delete_secret("raw", NS)
    with pytest.raises(SecretNotFound):
        await any_provider.delete_secret("raw", NS)
    assert [s.name for s in await any_provider.list_secrets(NS)] == ["api-key"]
    with pytest.raises(ValidationFailed) as raised:
        await any_provider.deploy(fork_function("needs", "cat", secrets=["missing"]))
    assert raised.value.field == "secrets"


SECRET_READER = """
import os

def handle(event, context):
    name = event.body.decode()
    path = os.path.join(os.environ["secret_mount_path"], name)
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return {"statusCode": 404, "body": "absent"}
"""


@pytest.mark.invokes
async def test_function_reads_only_its_secrets_as_files(any_provider: Provider, tmp_path: Path) -> None:
    await any_provider.create_secret(Secret(name="api-key", namespace=NS, value="one"))
    await any_provider.create_secret(Secret(name="other", namespace=NS, value="not yours"))
    handler = write_handler(tmp_path / "reader", SECRET_READER)
    await any_provider.deploy(python_function("reader", handler, secrets=["api-key"]))
    [replica] = await ready(any_provider, "reader", NS)

    assert (await invoke(replica, b"api-key")).text == "one"
    assert (await invoke(replica, b"other")).status_code == 404

    await any_provider.update_secret(Secret(name="api-key", namespace=NS, value="two"))
    assert (await invoke(replica, b"api-key")).text == "two"


@pytest.mark.local_processes
async def test_secret_files_are_private(any_provider: Provider, state_dir: Path) -> None:
    await any_provider.create_secret(Secret(name="api-key", namespace=NS, value="one"))
    await any_provider.deploy(fork_function("cat", "cat", secrets=["api-key"]))
    for path in (state_dir / "secrets" / NS / "api-key", state_dir / "mounts" / NS / "cat" / "api-key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text() == "one"


# logs -----------------------------------------------------------------------------------------------
LOGGER = """
def handle(event, context):
    print("line " + event.body.decode(), flush=True)
    return "ok"
"""


@pytest.mark.invokes
async def test_logs_tail_since_and_follow(any_provider: Provider, tmp_path: Path) -> None:
    await any_provider.deploy(python_function("talk", write_handler(tmp_path / "talk", LOGGER)))
    [replica] = await ready(any_provider, "talk", NS)
    for word in ("a", "b", "c"):
        await invoke(replica, word.encode())

    await check_logs(
        any_provider, "talk", NS, line="line ", say=lambda word: invoke(replica, word.encode()), within=10
    )


# namespaces -----------------------------------------------------------------------------------------
async def test_namespaces(any_provider: Provider) -> None:
    assert NS in await any_provider.list_namespaces()
    assert (await any_provider.get_namespace(NS)).name == NS

    await any_provider.create_namespace(FunctionNamespace(name="dev", labels={"team": "a"}))
    assert set(await any_provider.list_namespaces()) >= {NS, "dev"}
    assert (await any_provider.get_namespace("dev")).labels == {"team": "a"}
    with pytest.raises(Conflict):
        await any_provider.create_namespace(FunctionNamespace(name="dev"))
    await any_provider.update_namespace(FunctionNamespace(name="dev", annotations={"owner": "me"}))
    assert (await any_provider.get_namespace("dev")).annotations == {"owner": "me"}

    await any_provider.deploy(fork_function("cat", "cat", namespace="dev"))
    assert [f.name for f in await any_provider.list_functions("dev")] == ["cat"]
    assert await any_provider.list_functions(NS) == []
    await any_provider.delete("cat", "dev")

    await any_provider.delete_namespace("dev")
    assert "dev" not in await any_provider.list_namespaces()
    with pytest.raises(NamespaceNotFound):
        await any_provider.get_namespace("dev")
    with pytest.raises(NamespaceNotFound):
        await any_provider.delete_namespace("dev")
    with pytest.raises(ValidationFailed):
        await any_provider.deploy(fork_function("cat", "cat", namespace="nowhere"))


# processes of the local provider: restarts, crashes, cleanup -----------------------------------------
@pytest.mark.local_processes
async def test_provider_restart_keeps_functions_and_replica_counts(
    any_provider: Provider, state_dir: Path, tmp_path: Path
) -> None:
    await any_provider.deploy(_echo(tmp_path))
    await any_provider.deploy(fork_function("idle", "cat"))
    await any_provider.scale("echo", NS, 2)
    await any_provider.scale("idle", NS, 0)
    before = {r.id for r in await ready(any_provider, "echo", NS, 2)}
    created = (await any_provider.get_function("echo", NS)).createdAt
    await any_provider.close()

    async with local_provider(state_dir) as again:
        status = await again.get_function("echo", NS)
        assert (status.replicas, status.createdAt) == (2, created)
        assert (await again.get_function("idle", NS)).replicas == 0
        replicas = await ready(again, "echo", NS, 2)
        assert before.isdisjoint(r.id for r in replicas)
        assert (await invoke(replicas[0], b"again")).text == "echo:again"


@pytest.mark.local_processes
async def test_killed_replica_is_restarted_and_counted(any_provider: Provider, tmp_path: Path) -> None:
    assert isinstance(any_provider, LocalProvider)
    await any_provider.deploy(_echo(tmp_path))
    [first] = await ready(any_provider, "echo", NS)
    [info] = any_provider.runtime_status("echo", NS).replicas
    assert info.pid is not None and info.state is ReplicaState.READY

    os.kill(info.pid, signal.SIGKILL)
    [second] = await eventually(
        lambda: any_provider.ready_replicas("echo", NS), lambda rs: len(rs) == 1 and rs[0].id != first.id
    )
    assert (await invoke(second, b"x")).text == "echo:x"
    status = any_provider.runtime_status("echo", NS)
    assert status.restarts == 1
    assert status.last_exit is not None and status.last_exit.replica == first.id
    assert status.last_exit.code == -signal.SIGKILL


@pytest.mark.local_processes
async def test_close_leaves_no_process_behind(
    any_provider: Provider, state_dir: Path, tmp_path: Path
) -> None:
    await any_provider.deploy(_echo(tmp_path))
    await any_provider.deploy(fork_function("wc", "wc -c"))
    await any_provider.scale("echo", NS, 2)
    await ready(any_provider, "echo", NS, 2)
    [wc] = await ready(any_provider, "wc", NS)
    assert (await invoke(wc, b"abc")).text.strip() == "3"
    pids = pyfaas_processes(state_dir)
    assert len(pids) >= 3  # two echo replicas and a wc replica (and the zygote)

    await any_provider.close()
    assert await wait_no_processes(state_dir, within=5) == []
    assert [pid for pid in pids if process_start_time(pid) is not None] == []
