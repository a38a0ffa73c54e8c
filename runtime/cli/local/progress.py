"""Start-up progress: what ``pyfaas up`` shows while it waits for each service, in one process or two.

A :class:`Reporter` receives events (a step starts, is done, is skipped or fails; a note). The foreground
``pyfaas up`` renders them at once with :class:`ConsoleReporter` (a rich spinner on a terminal, plain lines
when piped) and records them in ``status.json``. The detached supervisor only records them
(:class:`StatusFileReporter`), and the ``pyfaas up --detach`` command that waits for it replays the new ones
into a ``ConsoleReporter`` (:func:`replay`): the user sees the same progress either way.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal, Protocol

from rich.console import Console
from rich.status import Status

from pyfaas.cli.local.layout import StateLayout

__all__ = ["ConsoleReporter", "Event", "Reporter", "RunState", "StatusFileReporter", "TeeReporter", "replay"]

EventKind = Literal["start", "done", "skip", "fail", "note"]
Event = dict[str, str]
"""``{"kind": EventKind, "key": step key, "text": title or detail}``."""
RunState = Literal["starting", "ready", "failed", "stopping", "stopped"]


class Reporter(Protocol):
    def event(self, kind: EventKind, key: str, text: str) -> None: ...

    def state(self, state: RunState, *, summary: dict[str, Any] | None = None, error: str = "") -> None: ...


class ConsoleReporter:
    """Progress on stderr: a spinner per step on a terminal, one line per finished step."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._titles: dict[str, str] = {}
        self._started: dict[str, float] = {}
        self._status: Status | None = None

    def _stop_spinner(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def event(self, kind: EventKind, key: str, text: str) -> None:
        if kind == "start":
            self._titles[key] = text
            self._started[key] = time.monotonic()
            if self.console.is_terminal:
                self._stop_spinner()
                self._status = self.console.status(f"{text} …")
                self._status.start()
            return
        self._stop_spinner()
        title = self._titles.get(key, key)
        took = time.monotonic() - self._started.get(key, time.monotonic())
        detail = f" {text}" if text else ""
        if kind == "done":
            self.console.print(
                f"[green]✓[/] {title}{detail} [dim]({took:.1f}s)[/]", highlight=False, soft_wrap=True
            )
        elif kind == "skip":
            self.console.print(f"[yellow]-[/] {title}:{detail}", highlight=False, soft_wrap=True)
        elif kind == "fail":
            self.console.print(f"[red]✗[/] {title}:{detail}", highlight=False, soft_wrap=True)
        else:
            self.console.print(f"[dim]{text}[/]", highlight=False, soft_wrap=True)

    def state(self, state: RunState, *, summary: dict[str, Any] | None = None, error: str = "") -> None:
        self._stop_spinner()


class StatusFileReporter:
    """Events and the run state in ``status.json`` (rewritten atomically), tagged with this run's id."""

    def __init__(self, layout: StateLayout, run_id: str, *, echo: bool = True) -> None:
        self.layout = layout
        self.run_id = run_id
        self.echo = echo
        """Also print each event to stdout (the detached supervisor's log)."""
        self._events: list[Event] = []
        self._state: RunState = "starting"
        self._summary: dict[str, Any] | None = None
        self._error = ""
        self._write()

    def _write(self) -> None:
        self.layout.write_json(
            self.layout.status_file,
            {
                "run_id": self.run_id,
                "state": self._state,
                "events": self._events,
                "summary": self._summary,
                "error": self._error,
            },
        )

    def event(self, kind: EventKind, key: str, text: str) -> None:
        self._events.append({"kind": kind, "key": key, "text": text})
        if self.echo:
            print(f"[pyfaas up] {kind} {key}: {text}", flush=True)
        self._write()

    def state(self, state: RunState, *, summary: dict[str, Any] | None = None, error: str = "") -> None:
        self._state = state
        self._summary = summary if summary is not None else self._summary
        self._error = error or self._error
        if self.echo:
            print(f"[pyfaas up] state {state} {error}".rstrip(), flush=True)
        self._write()


class TeeReporter:
    """Every event to several reporters (the foreground command: the console and ``status.json``)."""

    def __init__(self, *reporters: Reporter) -> None:
        self.reporters = reporters

    def event(self, kind: EventKind, key: str, text: str) -> None:
        for reporter in self.reporters:
            reporter.event(kind, key, text)

    def state(self, state: RunState, *, summary: dict[str, Any] | None = None, error: str = "") -> None:
        for reporter in self.reporters:
            reporter.state(state, summary=summary, error=error)


def replay(
    status_file: Path, run_id: str, reporter: Reporter, shown: int
) -> tuple[dict[str, Any] | None, int]:
    """Feed the events of ``status_file`` after the first ``shown`` into ``reporter``.

    Returns (the status document of run ``run_id`` or None if it is not there yet, events shown so far).
    """
    data = StateLayout.read_json(status_file)
    if not isinstance(data, dict) or data.get("run_id") != run_id:
        return None, shown
    events = data.get("events") or []
    for event in events[shown:]:
        reporter.event(event.get("kind", "note"), event.get("key", ""), event.get("text", ""))
    return data, len(events)
