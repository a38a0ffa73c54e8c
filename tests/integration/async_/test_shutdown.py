"""Graceful SIGTERM of a real worker process: stop fetching, finish in-flight calls, exit 0; the rest stays
queued for the next worker and runs exactly once."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from pyfaas.core.models import AsyncCallRecord
from tests.integration.async_.conftest import Queue
from tests.support.async_calls import FakeGateway, eventually, submit, until
from tests.support.nats import NatsServer
from tests.support.worker_process import WorkerProcess


async def test_sigterm_finishes_in_flight_and_leaves_the_rest(
    queue: Queue, nats_server: NatsServer, gateway: FakeGateway, tmp_path: Path
) -> None:
    ids = [await submit(queue.js, queue.kv, queue.layout, "slow-0_8") for _ in range(12)]
    env = {
        "nats_url": nats_server.url,
        "gateway_url": str(gateway.server.make_url("")).rstrip("/") if gateway.server else "",
        "max_inflight": "4",
        "ack_wait": "5s",
        "discovery_interval": "50ms",
        "idle_poll": "1s",
        "metrics_port": "-1",
        "shutdown_timeout": "10s",
    }
    worker = WorkerProcess(env, tmp_path)
    worker.start()
    try:
        await until(lambda: gateway.concurrent == 4, limit=20, what=f"4 calls running\n{worker.logs()}")
        started = sum(gateway.calls[i] for i in ids)
        code = await asyncio.to_thread(worker.terminate, 20.0)
        assert code == 0, worker.logs()
        assert sum(gateway.calls[i] for i in ids) == started  # nothing new fetched after SIGTERM
        states = [
            AsyncCallRecord.model_validate_json((await queue.kv.get(i)).value or b"").state for i in ids
        ]
        assert states.count("succeeded") == started
        assert set(states) == {"succeeded", "queued"}

        worker.start()
        await until(lambda: all(gateway.calls[i] >= 1 for i in ids), limit=30, what="the rest")
        await until(lambda: gateway.concurrent == 0, limit=10, what="idle")
        assert all(gateway.calls[i] == 1 for i in ids)
    finally:
        worker.kill()


async def test_sigterm_while_nats_is_unreachable(tmp_path: Path) -> None:
    worker = WorkerProcess(
        {"nats_url": "nats://127.0.0.1:1", "gateway_url": "http://127.0.0.1:1", "metrics_port": "-1"},
        tmp_path,
    )
    worker.start()
    try:
        # Its first connection error is logged from the running loop, after the signal handlers are installed.
        await until(lambda: "nats:" in worker.logs(), limit=20, what=f"a failed connect\n{worker.logs()}")
        assert worker.process is not None and worker.process.poll() is None
        assert await asyncio.to_thread(worker.terminate, 10.0) == 0, worker.logs()
        assert worker.logs().count("nats:") <= 3, worker.logs()  # repeated errors are throttled
    finally:
        worker.kill()


async def test_call_cut_off_by_sigterm_runs_again_promptly(
    queue: Queue, nats_server: NatsServer, gateway: FakeGateway, tmp_path: Path
) -> None:
    """A call still running when shutdown_timeout ends is released before the worker exits, durably: it runs
    again as soon as the next worker starts, even when NATS was restarted in between (``pyfaas up`` stops
    the worker, then NATS), not one full ack wait (60 s by default) later. A call queued while the worker
    drains is not delivered to it (its open long poll is withdrawn) and runs promptly on the next one."""
    slow = await submit(queue.js, queue.kv, queue.layout, "slow-4")
    waiting = [await submit(queue.js, queue.kv, queue.layout, "echo") for _ in range(3)]
    env = {
        "nats_url": nats_server.url,
        "gateway_url": str(gateway.server.make_url("")).rstrip("/") if gateway.server else "",
        "discovery_interval": "50ms",
        "metrics_port": "-1",
        "shutdown_timeout": "2s",
    }  # ack_wait and idle_poll: the defaults (60 s, 5 s)
    worker = WorkerProcess(env, tmp_path)
    worker.start()
    try:
        await until(
            lambda: gateway.calls[slow] == 1, limit=20, what=f"the slow call running\n{worker.logs()}"
        )
        await until(lambda: all(gateway.calls[i] == 1 for i in waiting), limit=20, what="the echo calls")
        assert worker.process is not None
        worker.process.send_signal(signal.SIGTERM)
        await until(lambda: "draining 1 in-flight" in worker.logs(), limit=10, what="the worker draining")
        late = await submit(queue.js, queue.kv, queue.layout, "slow-4")
        code = await asyncio.to_thread(worker.terminate, 20.0)
        assert code == 0, worker.logs()
        assert gateway.calls[slow] == 1 and gateway.calls[late] == 0
        await asyncio.to_thread(nats_server.restart)

        worker.start()
        # well below the 60 s ack wait: only a release the server kept gets the call redelivered this soon
        await until(
            lambda: gateway.calls[slow] == 2 and gateway.calls[late] == 1,
            limit=10,
            what=f"the released call again and the late one\n{worker.logs()}",
        )

        async def succeeded() -> bool:
            entries = [await queue.kv.get(i) for i in (slow, late)]
            states = {AsyncCallRecord.model_validate_json(e.value or b"").state for e in entries}
            return states == {"succeeded"}

        await eventually(succeeded, limit=20, what="both calls succeeded")
        assert gateway.calls[slow] == 2 and gateway.calls[late] == 1
        assert all(gateway.calls[i] == 1 for i in waiting)
    finally:
        worker.kill()


async def test_callback_cut_off_by_sigterm_is_posted_again_promptly(
    queue: Queue, nats_server: NatsServer, gateway: FakeGateway, tmp_path: Path
) -> None:
    """A callback whose receiver has not answered when shutdown_timeout ends is released like a call: the
    next worker posts it again at once, not one ack wait (60 s by default) later."""
    posts: list[float] = []
    answer_first = asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        posts.append(asyncio.get_running_loop().time())
        if len(posts) == 1:
            await answer_first.wait()  # hangs until the test ends: the first worker is stopped meanwhile
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/cb", receive)
    receiver = TestServer(app, host="127.0.0.1")
    await receiver.start_server()
    call = await submit(queue.js, queue.kv, queue.layout, "echo", callback_url=str(receiver.make_url("/cb")))
    env = {
        "nats_url": nats_server.url,
        "gateway_url": str(gateway.server.make_url("")).rstrip("/") if gateway.server else "",
        "discovery_interval": "50ms",
        "metrics_port": "-1",
        "shutdown_timeout": "1s",
        "idle_poll": "1s",
    }  # ack_wait: the default (60 s)
    worker = WorkerProcess(env, tmp_path)
    worker.start()
    try:
        await until(lambda: len(posts) == 1, limit=20, what=f"the first callback\n{worker.logs()}")
        # it stops within shutdown_timeout (plus one idle poll), not after a fixed wait for the receiver
        assert await asyncio.to_thread(worker.terminate, 8.0) == 0, worker.logs()
        worker.start()
        await until(lambda: len(posts) == 2, limit=10, what=f"the callback posted again\n{worker.logs()}")

        async def recorded() -> bool:
            entry = await queue.kv.get(call)
            return AsyncCallRecord.model_validate_json(entry.value or b"").callbackStatus == 204

        await eventually(recorded, limit=10, what="the callback's answer recorded")
        assert gateway.calls[call] == 1
    finally:
        answer_first.set()
        worker.kill()
        await receiver.close()
