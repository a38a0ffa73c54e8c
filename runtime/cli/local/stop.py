"""``pyfaas down``: stop the platform of a state directory and make sure none of its processes is left."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass

from pyfaas.cli.local.layout import StateLayout
from pyfaas.cli.local.platform import sweep_leftovers
from pyfaas.system.processes import kill_tree

__all__ = ["StopResult", "stop_platform"]


@dataclass(frozen=True)
class StopResult:
    was_running: bool
    """A live supervisor was found and signalled."""
    forced: bool
    """It did not exit within the timeout and was killed with its children."""
    leftovers: int
    """Processes of the platform that were still running after it and had to be killed."""


def stop_platform(layout: StateLayout, timeout: float = 60.0) -> StopResult:
    """SIGTERM the recorded supervisor and wait up to ``timeout`` seconds for its clean shutdown; then
    SIGKILL whatever of the platform is still running (recorded children, marked processes)."""
    supervisor = layout.supervisor_record()
    forced = False
    if supervisor is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(supervisor.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while supervisor.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if supervisor.alive():
            forced = True
            kill_tree(supervisor.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(supervisor.pid, signal.SIGKILL)
    leftovers = 0
    for record in layout.child_records().values():
        if record.alive():
            leftovers += 1
            kill_tree(record.pid)
    leftovers += len(sweep_leftovers(layout))
    if forced:
        layout.pid_file.unlink(missing_ok=True)
    return StopResult(was_running=supervisor is not None, forced=forced, leftovers=leftovers)
