"""Function logs from the pods' log subresource (``faas_function=<name>``, container = function name).

Lines are requested with ``timestamps=true``; each begins with the kubelet's RFC3339Nano time, which becomes
the message's timestamp. Without ``follow`` the lines of all pods are merged by time and ``tail`` applies to
the merge. With ``follow`` every pod streams concurrently, and pods that start meanwhile (scale-up, rollout)
join the stream through a pod watch, as faas-netes does with its pod informer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from lightkube import AsyncClient
from lightkube.core.client import LabelSelector
from lightkube.resources.core_v1 import Pod

from pyfaas.core.labels import LABEL_FUNCTION
from pyfaas.core.models import LogMessage
from pyfaas.provider.base import LogRequest

__all__ = ["parse_log_line", "stream_logs"]

log = logging.getLogger("pyfaas.provider.kubernetes")

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")
_RETRY_NOT_RUNNING = 0.2


def _parse_stamp(text: str) -> datetime | None:
    match = _STAMP.match(text)
    if not match:
        return None
    base, fraction, zone = match.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    zone = "+00:00" if zone == "Z" else zone
    try:
        return datetime.fromisoformat(f"{base}.{micro}{zone}")
    except ValueError:
        return None


def parse_log_line(line: str, *, name: str, namespace: str, instance: str) -> LogMessage:
    """One ``timestamps=true`` log line as a LogMessage (a line without a stamp is timed now)."""
    line = line.rstrip("\n")
    stamp_text, _, text = line.partition(" ")
    stamp = _parse_stamp(stamp_text)
    if stamp is None:
        stamp, text = datetime.now(UTC), line
    return LogMessage(name=name, namespace=namespace, instance=instance, timestamp=stamp, text=text)


def _since_seconds(request: LogRequest) -> int | None:
    if request.since is None:
        return None
    since = request.since if request.since.tzinfo else request.since.replace(tzinfo=UTC)
    return max(1, math.ceil((datetime.now(UTC) - since).total_seconds()))


def _selector(request: LogRequest) -> LabelSelector:
    return {LABEL_FUNCTION: request.name}


async def _pod_names(client: AsyncClient, request: LogRequest) -> list[str]:
    pods = [pod async for pod in client.list(Pod, namespace=request.namespace, labels=_selector(request))]
    names = sorted(p.metadata.name for p in pods if p.metadata is not None and p.metadata.name)
    return [n for n in names if request.instance in (None, "", n)]


async def _pod_lines(
    client: AsyncClient, request: LogRequest, pod: str, *, follow: bool
) -> AsyncIterator[LogMessage]:
    lines = client.log(
        pod,
        namespace=request.namespace,
        container=request.name,
        follow=follow,
        since=_since_seconds(request),
        tail_lines=request.tail if request.tail > 0 else None,
        timestamps=True,
        newlines=False,
    )
    since = (
        request.since if request.since is None or request.since.tzinfo else request.since.replace(tzinfo=UTC)
    )
    async for line in lines:
        if line:
            message = parse_log_line(line, name=request.name, namespace=request.namespace, instance=pod)
            # sinceSeconds is whole seconds (and cannot point at the future): the exact cut is made here.
            if since is None or message.timestamp >= since:
                yield message


async def _kept(client: AsyncClient, request: LogRequest, pods: list[str]) -> list[LogMessage]:
    async def one(pod: str) -> list[LogMessage]:
        try:
            return [m async for m in _pod_lines(client, request, pod, follow=False)]
        except Exception as exc:  # a pod that went away meanwhile has no logs to give
            log.debug("logs of pod %s unavailable: %r", pod, exc)
            return []

    merged = [m for chunk in await asyncio.gather(*(one(p) for p in pods)) for m in chunk]
    merged.sort(key=lambda m: m.timestamp)
    return merged[-request.tail :] if request.tail > 0 else merged


async def stream_logs(client: AsyncClient, request: LogRequest) -> AsyncIterator[LogMessage]:
    """The function's log lines as LogRequest asks (namespace already resolved)."""
    pods = await _pod_names(client, request)
    if not request.follow:
        for message in await _kept(client, request, pods):
            yield message
        return
    queue: asyncio.Queue[LogMessage] = asyncio.Queue(maxsize=1024)
    streams: dict[str, asyncio.Task[None]] = {}

    async def follow(pod: str) -> None:
        for _ in range(50):  # a new pod's container may not be running yet (API answers 400 until it is)
            try:
                async for message in _pod_lines(client, request, pod, follow=True):
                    await queue.put(message)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("following pod %s: %r", pod, exc)
                await asyncio.sleep(_RETRY_NOT_RUNNING)

    def add(pod: str) -> None:
        if pod not in streams and request.instance in (None, "", pod):
            streams[pod] = asyncio.create_task(follow(pod))

    async def watch_new_pods() -> None:
        async for event, pod in client.watch(Pod, namespace=request.namespace, labels=_selector(request)):
            if event == "ADDED" and pod.metadata is not None and pod.metadata.name:
                add(pod.metadata.name)

    for pod in pods:
        add(pod)
    watcher = asyncio.create_task(watch_new_pods())
    try:
        while True:
            yield await queue.get()
    finally:
        for task in [watcher, *streams.values()]:
            task.cancel()
        for task in [watcher, *streams.values()]:
            with contextlib.suppress(BaseException):
                await task
