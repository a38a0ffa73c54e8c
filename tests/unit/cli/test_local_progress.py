"""Progress through ``status.json``: what the detached supervisor writes, the waiting command replays."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rich.console import Console

from pyfaas.cli.local.layout import StateLayout
from pyfaas.cli.local.progress import ConsoleReporter, EventKind, RunState, StatusFileReporter, replay


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, kind: EventKind, key: str, text: str) -> None:
        self.events.append((kind, key, text))

    def state(self, state: RunState, *, summary: dict[str, Any] | None = None, error: str = "") -> None:
        pass


def test_events_are_replayed_once_and_only_for_this_run(tmp_path: Path) -> None:
    layout = StateLayout.at(tmp_path)
    writer = StatusFileReporter(layout, "run-1", echo=False)
    recorder = Recorder()
    assert replay(layout.status_file, "run-2", recorder, 0) == (None, 0)

    writer.event("start", "nats", "NATS JetStream")
    writer.event("done", "nats", "nats://127.0.0.1:4222")
    status, shown = replay(layout.status_file, "run-1", recorder, 0)
    assert shown == 2 and status is not None and status["state"] == "starting"
    writer.event("note", "monitoring", "not installed")
    writer.state("failed", error="gateway did not start")
    writer.state("stopped")
    status, shown = replay(layout.status_file, "run-1", recorder, shown)
    assert shown == 3 and recorder.events[-1] == ("note", "monitoring", "not installed")
    assert status is not None and status["state"] == "stopped" and status["error"] == "gateway did not start"
    assert len(recorder.events) == 3


def test_console_lines_when_piped() -> None:
    out = io.StringIO()
    reporter = ConsoleReporter(Console(file=out, force_terminal=False, width=200))
    reporter.event("start", "gateway", "gateway")
    reporter.event("done", "gateway", "http://127.0.0.1:8080")
    reporter.event("fail", "worker", "exited with code 2")
    text = out.getvalue()
    assert "✓ gateway http://127.0.0.1:8080" in text and "✗ worker: exited with code 2" in text
