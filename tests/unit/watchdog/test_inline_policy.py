from __future__ import annotations

import os
from pathlib import Path

from pyfaas.watchdog.logs import LogSink
from pyfaas.watchdog.modes.python.inline_policy import InlinePolicy


def policy(tmp_path: Path) -> InlinePolicy:
    fd = os.open(tmp_path / "log", os.O_WRONLY | os.O_CREAT)
    return InlinePolicy(
        LogSink(fd), promote_after=3, fast_seconds=0.001, demote_seconds=0.005, max_demotions=2
    )


def test_promotes_after_a_streak_of_fast_calls(tmp_path: Path) -> None:
    p = policy(tmp_path)
    p.pooled_call(0.0001)
    p.pooled_call(0.0001)
    p.pooled_call(0.01)  # a slow call resets the streak
    p.pooled_call(0.0001)
    p.pooled_call(0.0001)
    assert not p.inline
    p.pooled_call(0.0001)
    assert p.inline
    p.inline_call(0.004)
    assert p.inline


def test_demotes_on_a_slow_inline_call_and_gives_up_after_max_demotions(tmp_path: Path) -> None:
    p = policy(tmp_path)
    for _ in range(2):
        for _ in range(3):
            p.pooled_call(0.0001)
        assert p.inline
        p.inline_call(0.05)
        assert not p.inline
    for _ in range(10):
        p.pooled_call(0.0001)
    assert not p.inline
    assert "back to the thread pool (demotion 2/2)" in (tmp_path / "log").read_text()
