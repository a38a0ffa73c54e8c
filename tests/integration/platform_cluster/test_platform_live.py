"""The whole platform inside the real test cluster, deployed as ``pulumi up`` deploys it.

The Pulumi program's objects are applied the way pulumi-kubernetes applies them, with the platform images
``pyfaas build`` makes from this checkout as stack config (:mod:`tests.support.kube_platform`); the pods
resolve Service names through the harness's resolver (:mod:`tests.support.kube_dns`), and NATS's claim is
met by a hostPath volume. Then, from the host, through the gateway's ClusterIP: a function folder built by
``pyfaas build`` is deployed with ``POST /system/functions`` and answers; ``pyfaas invoke --async`` with a
callback to a receiver on the pod bridge completes through the in-cluster NATS and queue worker, and its
status is readable with ``pyfaas async status``; the worker killed (SIGKILL) while calls run loses none
of them: the calls it held run again after their ack wait. Load above the alert threshold scales the
function up through Prometheus, AlertManager and ``/system/alert``, and back; a scale-to-zero function
sleeps and wakes; a gateway pod is deleted under steady load, with one replica (measured) and with two (at
most the calls in flight fail).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Pod

from pyfaas.build.oci import build_image, write_layout
from tests.support.async_calls import CallbackReceiver, eventually, until
from tests.support.cli import cli_env, run_pyfaas
from tests.support.kube_cluster import KubeCluster
from tests.support.kube_dns import ServiceDns
from tests.support.kube_image import import_archive, python_base_layer
from tests.support.kube_live import admin_client
from tests.support.kube_platform import Platform, PlatformImages, deployed_platform

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600), pytest.mark.asyncio(loop_scope="module")]

HANDLER = """import time


def handle(event, context):
    body = event.body.decode() if isinstance(event.body, bytes) else str(event.body or "")
    if body.startswith("sleep:"):
        time.sleep(float(body.split(":", 1)[1]))
    return {"statusCode": 200, "body": "hello " + body}
"""
STACK = """version: 1.0
provider: {{name: openfaas}}
functions:
  hello:
    lang: python3-http
    handler: ./hello
    image: {image}
"""
CONFIG = {
    # a killed worker's calls come back after ack_wait: short here so the test stays bounded
    "pyfaas:queueWorker": {"ackWait": "6s"},
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def admin(cluster: KubeCluster) -> AsyncIterator[AsyncClient]:
    async with admin_client(cluster.kubeconfig) as client:
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    admin: AsyncClient, cluster: KubeCluster, images: PlatformImages, dns: ServiceDns
) -> AsyncIterator[Platform]:
    async with deployed_platform(admin, cluster, images, CONFIG) as platform:
        timings = platform.timings
        print(f"\nplatform: applied in {timings['apply']:.1f} s, ready in {timings['ready']:.1f} s")
        yield platform


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-home")


def _cli(home: Path, cwd: Path, *args: str, timeout: float = 120) -> str:
    result = run_pyfaas(args, env=cli_env(home), cwd=cwd, timeout=timeout)
    assert result.code == 0, f"pyfaas {' '.join(args)}: {result.stderr}{result.stdout}"
    return result.stdout


@pytest.fixture(scope="module")
def function_image(cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory, home: Path) -> str:
    """``pyfaas build --tar`` of a python3-http folder on the suite's base, imported into containerd."""
    assert cluster.containerd_address is not None
    project = tmp_path_factory.mktemp("project")
    image = f"localhost/pyfaas-e2e/hello:{os.getpid()}"
    (project / "hello").mkdir()
    (project / "hello" / "handler.py").write_text(HANDLER)
    (project / "hello" / "requirements.txt").write_text("")
    (project / "stack.yml").write_text(STACK.format(image=image))
    base = project / "base"
    write_layout(build_image(None, [python_base_layer()]), base, "localhost/pyfaas-e2e/base:1")
    [built] = json.loads(_cli(home, project, "build", "--base", str(base), "--tar", "--json"))
    import_archive(cluster.containerd_address, Path(built["layout"]).parent / "hello.tar")
    return image


async def _function_ready(api: httpx.AsyncClient, name: str, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while True:
        answer = await api.get(f"/system/function/{name}")
        if answer.status_code == 200 and answer.json().get("availableReplicas", 0) >= 1:
            return
        assert time.monotonic() < deadline, f"{name} not available in {within}s: {answer.text}"
        await asyncio.sleep(0.3)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(stack: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, auth=stack.auth, timeout=30, trust_env=False
    ) as client:
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def receiver(cluster: KubeCluster) -> AsyncIterator[CallbackReceiver]:
    assert cluster.pod_gateway is not None
    callbacks = CallbackReceiver(host=cluster.pod_gateway)
    await callbacks.start()
    try:
        yield callbacks
    finally:
        await callbacks.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hello(stack: Platform, gateway: httpx.AsyncClient, function_image: str) -> str:
    """The ``pyfaas build`` function, deployed through the gateway once for the module and ready: each test
    that calls it asks for it, so any one test runs alone too."""
    deployed = await gateway.post("/system/functions", json={"service": "hello", "image": function_image})
    assert deployed.status_code in (200, 202), deployed.text
    await _function_ready(gateway, "hello")
    return "hello"


async def test_a_function_from_pyfaas_build_deploys_through_the_gateway_and_answers(
    stack: Platform, gateway: httpx.AsyncClient, function_image: str, hello: str
) -> None:
    answer = await gateway.post(f"/function/{hello}", content=b"world")
    assert answer.status_code == 200, answer.text
    assert answer.text == "hello world"
    # the function's pod is where the gateway deployed it, with the image pyfaas build made
    listed = (await gateway.get("/system/functions")).json()
    assert [(f["name"], f["image"], f["namespace"]) for f in listed] == [
        ("hello", function_image, stack.functions)
    ]


async def test_an_async_call_completes_through_nats_and_the_worker_with_a_callback(
    stack: Platform,
    gateway: httpx.AsyncClient,
    receiver: CallbackReceiver,
    home: Path,
    tmp_path: Path,
    hello: str,
) -> None:
    await _function_ready(gateway, hello)  # still ready after the previous test
    await asyncio.to_thread(
        _cli, home, tmp_path, "login", "-g", stack.gateway_url, "-u", "admin", "-p", stack.password
    )
    out = await asyncio.to_thread(
        _cli,
        home,
        tmp_path,
        "invoke",
        "hello",
        "--async",
        "-g",
        stack.gateway_url,
        "--callback-url",
        receiver.url,
        "--json",
    )
    call_id = json.loads(out)["callId"]
    await until(lambda: receiver.delivered(call_id) >= 1, 60, "the callback")
    headers, body = receiver.received[call_id][0]
    assert body == b"hello " and headers["X-Function-Status"] == "200"
    status = json.loads(
        await asyncio.to_thread(
            _cli, home, tmp_path, "async", "status", call_id, "-g", stack.gateway_url, "--json"
        )
    )
    assert status["state"] == "succeeded", status


async def test_killing_the_worker_pod_mid_run_loses_no_accepted_call(
    stack: Platform, gateway: httpx.AsyncClient, admin: AsyncClient, receiver: CallbackReceiver, hello: str
) -> None:
    await _function_ready(gateway, hello)  # still ready after the previous test
    calls = []
    for _ in range(6):
        answer = await gateway.post(
            "/async-function/hello", content=b"sleep:3", headers={"X-Callback-Url": receiver.url}
        )
        assert answer.status_code == 202, answer.text
        calls.append(answer.headers["X-Call-Id"])

    async def running() -> int:
        states = [(await gateway.get(f"/system/async/{c}")).json().get("state") for c in calls]
        return sum(state == "running" for state in states)

    deadline = time.monotonic() + 60
    while await running() == 0:
        assert time.monotonic() < deadline, "no call started"
        await asyncio.sleep(0.2)
    [worker] = [
        p
        async for p in admin.list(
            Pod, namespace=stack.control, labels={"app.kubernetes.io/name": "queue-worker"}
        )
    ]
    assert worker.metadata is not None and worker.metadata.uid and worker.metadata.name
    killed_pids = _kill(worker.metadata.uid, b"pyfaas-worker")
    assert killed_pids, "the worker's process was not found"
    killed = time.monotonic()
    await until(lambda: all(receiver.delivered(c) >= 1 for c in calls), 120, "every call's callback")
    print(f"\nall {len(calls)} calls answered {time.monotonic() - killed:.1f} s after the worker was killed")
    attempts = []
    for call in calls:
        headers, body = receiver.received[call][-1]
        assert headers["X-Function-Status"] == "200" and body == b"hello sleep:3"
        attempts.append(int(headers["X-Function-Attempts"]))
    assert max(attempts) >= 2, attempts  # a call that was running when the worker died ran again
    # the kubelet restarted the worker's container in the same pod
    pod = await admin.get(Pod, worker.metadata.name, namespace=stack.control)
    assert pod.status is not None and pod.status.containerStatuses
    assert pod.status.containerStatuses[0].restartCount >= 1


def _kill(pod_uid: str, command: bytes) -> list[int]:
    """SIGKILL the pod's processes whose command line holds ``command`` (the host sees every container's
    processes; the kubelet's cgroupfs paths name the pod's UID)."""
    killed = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (
                f"pod{pod_uid}" in (proc / "cgroup").read_text()
                and command in (proc / "cmdline").read_bytes()
            ):
                os.kill(int(proc.name), signal.SIGKILL)
                killed.append(int(proc.name))
        except (OSError, ProcessLookupError):
            continue
    return killed


async def _replicas(admin: AsyncClient, name: str, namespace: str) -> int:
    deployment = await admin.get(Deployment, name, namespace=namespace)
    assert deployment.spec is not None
    return deployment.spec.replicas or 0


async def _until_replicas(
    admin: AsyncClient, name: str, namespace: str, check: Callable[[int], bool], within: float, what: str
) -> float:
    """Seconds until ``check(spec.replicas)`` holds; fails after ``within``."""
    started = time.monotonic()
    while not check(await _replicas(admin, name, namespace)):
        assert time.monotonic() - started < within, f"{name}: {what} not reached in {within}s"
        await asyncio.sleep(0.5)
    return time.monotonic() - started


async def test_load_above_the_alert_threshold_scales_the_function_up_and_back(
    stack: Platform, gateway: httpx.AsyncClient, admin: AsyncClient, hello: str
) -> None:
    await _function_ready(gateway, hello)  # still ready after the previous test
    assert await _replicas(admin, "hello", stack.functions) == 1
    stop = asyncio.Event()
    answers: list[int] = []

    async def load() -> None:  # ~20 calls/s in all: above the rule's 5/s
        while not stop.is_set():
            answers.append((await gateway.post("/function/hello", content=b"load")).status_code)
            await asyncio.sleep(0.1)

    clients = [asyncio.create_task(load()) for _ in range(2)]
    try:
        # Prometheus fires APIHighInvocationRate, AlertManager posts /system/alert, the gateway scales
        up = await _until_replicas(admin, "hello", stack.functions, lambda n: n > 1, 120, "scale up")
    finally:
        stop.set()
        await asyncio.gather(*clients)
    assert set(answers) == {200}
    # the alert resolves once the rate drops; the resolved post sets com.openfaas.scale.min (1) again
    down = await _until_replicas(admin, "hello", stack.functions, lambda n: n == 1, 180, "scale back")
    print(
        f"\nscaled up {up:.1f} s after the load began ({len(answers)} calls), back to 1 {down:.1f} s after it"
    )


async def _until_no_pods(admin: AsyncClient, name: str, namespace: str, within: float) -> None:
    async def none_left() -> bool:
        return not [pod async for pod in admin.list(Pod, namespace=namespace, labels={"faas_function": name})]

    await eventually(none_left, within, f"{name}'s pods to be gone")


async def test_a_function_labelled_for_scale_to_zero_sleeps_when_idle_and_wakes_on_a_call(
    stack: Platform, gateway: httpx.AsyncClient, admin: AsyncClient, function_image: str
) -> None:
    labels = {"com.openfaas.scale.zero": "true", "com.openfaas.scale.zero-duration": "5s"}
    deployed = await gateway.post(
        "/system/functions", json={"service": "sleepy", "image": function_image, "labels": labels}
    )
    assert deployed.status_code in (200, 202), deployed.text
    await _function_ready(gateway, "sleepy")
    assert (await gateway.post("/function/sleepy", content=b"once")).status_code == 200
    idle = await _until_replicas(admin, "sleepy", stack.functions, lambda n: n == 0, 120, "scale to zero")
    # Asleep means no pod left: until its pod is gone (and out of the EndpointSlice the gateway watches), a
    # call may still be answered by the terminating pod, with no wake-up to observe.
    await _until_no_pods(admin, "sleepy", stack.functions, 90)
    started = time.monotonic()
    woken = await gateway.post("/function/sleepy", content=b"again", timeout=90)
    assert woken.status_code == 200 and woken.text == "hello again"
    assert await _replicas(admin, "sleepy", stack.functions) == 1
    wake = time.monotonic() - started
    print(f"\nat zero {idle:.1f} s after the call; woken by a call answered in {wake:.1f} s")


LANGUAGES = {
    # template -> (request body, expected response body) of its skeleton handler, unchanged
    "python3": ("hi", "hi"),
    "bash-streaming": ("hi\n", "you said: hi\n"),
    "golang-http": ("hi", "Hello from pyfaas, you said: hi"),
    "node20": ("hi", '{"message":"Hello from pyfaas","method":"POST","body":"hi"}'),
    "dockerfile": ("hi", "hi"),
}


@pytest.fixture(scope="module")
def language_images(
    cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory, home: Path
) -> dict[str, str]:
    """One ``pyfaas build --tar`` of every language's skeleton on the suite's base, imported into containerd:
    template name -> image."""
    assert cluster.containerd_address is not None
    project = tmp_path_factory.mktemp("languages")
    stack = "version: 1.0\nprovider: {name: openfaas}\nfunctions:\n"
    images: dict[str, str] = {}
    for language in LANGUAGES:
        name = f"lang-{language}"
        images[language] = f"localhost/pyfaas-e2e/{name}:{os.getpid()}"
        skeleton = Path(__file__).resolve().parents[3] / "templates" / language / "function"
        shutil.copytree(
            skeleton, project / name, ignore=shutil.ignore_patterns("__pycache__", "node_modules")
        )
        stack += f"  {name}:\n    lang: {language}\n    handler: ./{name}\n    image: {images[language]}\n"
    (project / "stack.yml").write_text(stack)
    base = project / "base"
    write_layout(build_image(None, [python_base_layer()]), base, "localhost/pyfaas-e2e/base:1")
    started = time.monotonic()
    built = json.loads(_cli(home, project, "build", "--base", str(base), "--tar", "--json", timeout=600))
    print(f"\n{len(built)} language images built in {time.monotonic() - started:.1f} s")
    for item in built:
        import_archive(cluster.containerd_address, Path(item["layout"]).parent / f"{item['name']}.tar")
    return images


async def test_a_function_in_each_language_built_by_pyfaas_build_answers_through_the_gateway(
    stack: Platform, gateway: httpx.AsyncClient, language_images: dict[str, str]
) -> None:
    names = {language: f"lang-{language}" for language in LANGUAGES}
    try:
        for language, name in names.items():
            deployed = await gateway.post(
                "/system/functions", json={"service": name, "image": language_images[language]}
            )
            assert deployed.status_code in (200, 202), deployed.text
        for language, name in names.items():
            await _function_ready(gateway, name)
            body, expected = LANGUAGES[language]
            answer = await gateway.post(f"/function/{name}", content=body.encode())
            assert (language, answer.status_code, answer.text) == (language, 200, expected)
    finally:
        for name in names.values():
            await gateway.request("DELETE", "/system/functions", json={"functionName": name})


async def _replace_a_gateway_pod_under_load(
    platform: Platform, admin: AsyncClient
) -> tuple[dict[str, int], float, float]:
    """Delete one gateway pod while 4 clients call the function in a loop, until a new pod is Ready and
    calls answer again. Returns the outcomes after the deletion ("ok", "refused": never reached a gateway,
    "in-flight": sent, then the connection broke, "status NNN"), the seconds until the new pod was Ready
    and until the last failure."""
    gateway_pods: dict[str, Any] = {"app.kubernetes.io/name": "gateway"}
    before = [p async for p in admin.list(Pod, namespace=platform.control, labels=gateway_pods)]
    names = {p.metadata.name for p in before if p.metadata and p.metadata.name}
    victim = sorted(names)[0]
    stop = asyncio.Event()
    log: list[tuple[float, str]] = []

    async def client() -> None:
        async with httpx.AsyncClient(
            base_url=platform.gateway_url, auth=platform.auth, timeout=30, trust_env=False
        ) as own:
            while not stop.is_set():
                try:
                    answer = await own.post("/function/hello", content=b"steady")
                    outcome = "ok" if answer.status_code == 200 else f"status {answer.status_code}"
                except (httpx.ConnectError, httpx.ConnectTimeout):
                    outcome = "refused"
                except httpx.HTTPError:
                    outcome = "in-flight"
                log.append((time.monotonic(), outcome))
                await asyncio.sleep(0.05)

    clients = [asyncio.create_task(client()) for _ in range(4)]
    try:
        await until(lambda: sum(o == "ok" for _, o in log) >= 20, 60, "steady load")
        deleted = time.monotonic()
        await admin.delete(Pod, victim, namespace=platform.control)
        ready = await _new_gateway_ready(admin, platform.control, names) - deleted
        await until(lambda: [o for _, o in log[-8:]] == ["ok"] * 8, 120, "steady answers again")
    finally:
        stop.set()
        await asyncio.gather(*clients)
    after = [(t - deleted, o) for t, o in log if t > deleted]
    outcomes = {o: sum(1 for _, x in after if x == o) for o in {o for _, o in after}}
    last_failure = max((t for t, o in after if o != "ok"), default=0.0)
    return outcomes, ready, last_failure


async def test_deleting_the_only_gateway_pod_under_steady_load(
    stack: Platform, gateway: httpx.AsyncClient, admin: AsyncClient, hello: str
) -> None:
    """Measured: one gateway replica (the default) replaced; until the new pod is Ready the Service has no
    endpoint, so new calls are refused at connect (they never reach a gateway)."""
    await _function_ready(gateway, hello)  # still ready after the previous test
    outcomes, ready, last_failure = await _replace_a_gateway_pod_under_load(stack, admin)
    print(
        f"\nthe only gateway pod deleted under load (4 clients): {outcomes}; new pod Ready {ready:.1f} s "
        f"after the deletion, last failure {last_failure:.2f} s after it"
    )
    assert not [o for o in outcomes if o.startswith("status")], outcomes  # no error answers
    assert outcomes.get("in-flight", 0) <= 4, outcomes  # at most the calls in flight broke


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def two_gateways(
    admin: AsyncClient,
    cluster: KubeCluster,
    images: PlatformImages,
    dns: ServiceDns,
    function_image: str,
    stack: Platform,  # torn down after this one; set up first so the module's earlier tests keep their order
) -> AsyncIterator[Platform]:
    async with deployed_platform(admin, cluster, images, {"pyfaas:gateway": {"replicas": 2}}) as platform:
        async with httpx.AsyncClient(
            base_url=platform.gateway_url, auth=platform.auth, timeout=30, trust_env=False
        ) as http:
            deployed = await http.post(
                "/system/functions", json={"service": "hello", "image": function_image}
            )
            assert deployed.status_code in (200, 202), deployed.text
            await _function_ready(http, "hello")
        yield platform


async def test_with_two_gateway_replicas_deleting_one_fails_at_most_the_calls_in_flight(
    two_gateways: Platform, admin: AsyncClient
) -> None:
    outcomes, ready, last_failure = await _replace_a_gateway_pod_under_load(two_gateways, admin)
    print(
        f"\none of two gateway pods deleted under load (4 clients): {outcomes}; its replacement Ready "
        f"{ready:.1f} s after the deletion, last failure {last_failure:.2f} s after it"
    )
    failed = sum(n for o, n in outcomes.items() if o != "ok")
    assert failed <= 4, outcomes  # 4 clients: at most 4 calls in flight when the pod went


async def _new_gateway_ready(admin: AsyncClient, namespace: str, old: set[str], within: float = 120) -> float:
    """The monotonic time at which a gateway pod not in ``old`` was first seen Ready."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async for pod in admin.list(Pod, namespace=namespace, labels={"app.kubernetes.io/name": "gateway"}):
            if pod.metadata is None or pod.metadata.name in old or pod.status is None:
                continue
            if any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []):
                return time.monotonic()
        await asyncio.sleep(0.2)
    raise AssertionError(f"no new gateway pod Ready in {within}s")
