"""The log collector: lines from raw replica files into a bounded ring, filters, follow, raw truncation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from pyfaas.core.models import LogMessage
from pyfaas.provider.base import LogRequest
from pyfaas.provider.local.logs import LogCollector, last_lines
from tests.support.async_calls import until


def _collector(tmp_path: Path, **options: int) -> LogCollector:
    return LogCollector(
        tmp_path / "logs",
        cap_bytes=options.get("cap", 1 << 20),
        poll_interval=0.01,
        raw_truncate_bytes=options.get("truncate", 1 << 20),
    )


async def _read(collector: LogCollector, **options: object) -> list[LogMessage]:
    request = LogRequest(name="fn", namespace="ns", **options)  # type: ignore[arg-type]
    return [m async for m in collector.read(request)]


async def test_lines_are_collected_with_the_watchdog_timestamp(tmp_path: Path) -> None:
    collector = _collector(tmp_path)
    raw = tmp_path / "r1.log"
    raw.write_text("2026-01-02T03:04:05.5Z stdout: hello\nno stamp here\npartial")
    collector.watch(namespace="ns", name="fn", instance="r1", path=raw)
    messages = await _read(collector)
    assert [m.text for m in messages] == ["stdout: hello", "no stamp here"]
    assert messages[0].timestamp == datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)
    assert messages[1].timestamp.year >= 2026 and messages[1].instance == "r1"

    with raw.open("a") as handle:
        handle.write(" line\n")
    collector.release(raw)  # the replica exited: the rest is read and the raw file removed
    assert [m.text for m in await _read(collector)][-1] == "partial line"
    assert not raw.exists()


async def test_tail_since_and_instance_filters(tmp_path: Path) -> None:
    collector = _collector(tmp_path)
    for instance in ("r1", "r2"):
        raw = tmp_path / f"{instance}.log"
        raw.write_text("".join(f"2026-01-01T00:00:0{i}Z {instance}-{i}\n" for i in range(5)))
        collector.watch(namespace="ns", name="fn", instance=instance, path=raw)
    assert len(await _read(collector)) == 10
    assert [m.text for m in await _read(collector, tail=2)] == ["r2-3", "r2-4"]
    assert [m.text for m in await _read(collector, instance="r1", tail=1)] == ["r1-4"]
    since = datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC)
    assert {m.text for m in await _read(collector, since=since)} == {"r1-3", "r1-4", "r2-3", "r2-4"}


async def test_ring_is_bounded(tmp_path: Path) -> None:
    collector = _collector(tmp_path, cap=8192)
    raw = tmp_path / "r1.log"
    collector.watch(namespace="ns", name="fn", instance="r1", path=raw)
    for batch in range(20):
        with raw.open("a") as handle:
            handle.write("".join(f"batch {batch} line {i} {'x' * 40}\n" for i in range(10)))
        collector.flush()
    ring = sorted((tmp_path / "logs" / "ns").iterdir())
    assert [p.name for p in ring] == ["fn.log", "fn.log.1"]
    assert sum(p.stat().st_size for p in ring) <= 8192 + 4096  # two halves, each at most one batch over
    kept = await _read(collector)
    assert kept[-1].text.startswith("batch 19 line 9") and not any(
        m.text.startswith("batch 0 ") for m in kept
    )


async def test_raw_file_is_truncated_once_read(tmp_path: Path) -> None:
    collector = _collector(tmp_path, truncate=100)
    raw = tmp_path / "r1.log"
    collector.watch(namespace="ns", name="fn", instance="r1", path=raw)
    with raw.open("a") as writer:  # an O_APPEND writer, as a replica's stdout is
        writer.write("a" * 150 + "\n")
        writer.flush()
        collector.flush()
        assert raw.stat().st_size == 0
        writer.write("after truncation\n")
        writer.flush()
        collector.flush()
    assert [m.text for m in await _read(collector)][-1] == "after truncation"


async def test_follow_gets_new_lines_and_ends_when_the_function_goes(tmp_path: Path) -> None:
    collector = _collector(tmp_path)
    collector.start()
    raw = tmp_path / "r1.log"
    raw.write_text("old\n")
    collector.watch(namespace="ns", name="fn", instance="r1", path=raw)
    received: list[str] = []

    async def follow() -> None:
        async for message in collector.read(LogRequest(name="fn", namespace="ns", follow=True)):
            received.append(message.text)

    task = asyncio.create_task(follow())
    try:
        with raw.open("a") as handle:
            handle.write("new\n")
        await until(lambda: received == ["old", "new"], 5, "the appended line followed")
        collector.forget("ns", "fn")
        await asyncio.wait_for(task, 5)
    finally:
        task.cancel()
        await collector.close()


async def test_a_line_without_end_is_cut_into_pieces(tmp_path: Path) -> None:
    collector = _collector(tmp_path)
    raw = tmp_path / "r1.log"
    raw.write_bytes(b"y" * (200 << 10))
    collector.watch(namespace="ns", name="fn", instance="r1", path=raw)
    collector.flush()
    pieces = await _read(collector)
    assert pieces and sum(len(m.text) for m in pieces) == 200 << 10


def test_last_lines_of_a_raw_file_without_time_prefixes(tmp_path: Path) -> None:
    raw = tmp_path / "crashed.log"
    assert last_lines(raw, 3) == ""  # gone
    lines = [f"2026-01-02T03:04:05.123456Z line {n}" for n in range(50)]
    frozen = '  File "<frozen importlib._bootstrap>", line 1204, in _gcd_import'
    raw.write_text("\n".join([*lines, frozen, "", "SyntaxError: expected ':'", ""]))
    assert last_lines(raw, 3).splitlines() == ["line 48", "line 49", "SyntaxError: expected ':'"]
    cut = last_lines(raw, 100, max_bytes=120)  # the tail only, without the line it cut through
    assert cut.splitlines()[-1] == "SyntaxError: expected ':'"
    assert all(line.startswith(("line ", "SyntaxError")) for line in cut.splitlines())
