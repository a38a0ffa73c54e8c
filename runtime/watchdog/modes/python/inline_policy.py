"""``python_inline=auto``: call a sync handler on the event loop while it proves to be CPU-trivial.

A sync handler starts in the thread pool. Once ``promote_after`` consecutive calls each took at most
``fast_seconds``, calls run inline on the loop (no thread hand-off, no GIL ping-pong between two threads,
which is what dominates tail latency for trivial handlers on a busy machine). The first inline call that
takes longer than ``demote_seconds`` sends the handler back to the pool; after ``max_demotions`` it stays
there. The cost of being wrong is bounded: one slow call stalls the loop once per demotion.
"""

from __future__ import annotations

from pyfaas.watchdog.logs import LogSink

__all__ = ["InlinePolicy"]


class InlinePolicy:
    def __init__(
        self,
        sink: LogSink,
        *,
        promote_after: int = 2000,
        fast_seconds: float = 0.0005,
        demote_seconds: float = 0.002,
        max_demotions: int = 3,
    ) -> None:
        self._sink = sink
        self._promote_after = promote_after
        self._fast = fast_seconds
        self._demote = demote_seconds
        self._max_demotions = max_demotions
        self._streak = 0
        self._demotions = 0
        self.inline = False

    def pooled_call(self, seconds: float) -> None:
        """A call that ran in the pool took ``seconds`` (called from pool threads; races only delay)."""
        if seconds > self._fast:
            self._streak = 0
            return
        self._streak += 1
        if self._streak >= self._promote_after and self._demotions < self._max_demotions and not self.inline:
            self.inline = True
            self._sink.line(
                f"python_inline: handler is CPU-trivial, now called on the event loop ({self._streak} "
                f"calls ≤ {self._fast * 1000:g} ms)"
            )

    def inline_call(self, seconds: float) -> None:
        """A call that ran on the loop took ``seconds``."""
        if seconds > self._demote:
            self.inline = False
            self._streak = 0
            self._demotions += 1
            self._sink.line(
                f"python_inline: a call took {seconds * 1000:.1f} ms, back to the thread pool "
                f"(demotion {self._demotions}/{self._max_demotions})"
            )
