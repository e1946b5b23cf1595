"""How much of a partner's X12 file we are willing to read, and for how long.

A hostile file must end in a typed result in bounded time and memory (DESIGN "Hostile input").
pyx12 validates about 0.33 MB/s on this hardware, so a large 834 legitimately takes minutes:
the time budget grows with the file's size (``seconds`` + ``seconds_per_mb`` * MB). Settings
may pass other limits; these defaults are safe for any worker.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass

from edi.errors import Refused

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    # Validation and translation hold every segment as objects: measured 1.19 GB peak for a
    # 19.7 MB 850 (600k segments), so this default keeps a worker under 1.5 GB. Larger feeds
    # raise it (settings) on a worker sized for it, until the reader is streamed set by set.
    max_file_bytes: int = 20 * MB
    # X12.6 caps no segment length, but no real segment comes near this (an 834 NM1 is < 200).
    max_segment_chars: int = 64 * 1024
    # pyx12 runs 0.33 MB/s on a quiet machine, but a dense 834 measured 0.035 MB/s with the
    # two cores shared: 60 s/MB leaves room for that. At the 20 MB default the budget (about
    # 20 min) stays inside edi.accept's 30 min start-to-close, so a slow file is refused, not
    # timed out and retried.
    seconds: float = 60.0
    seconds_per_mb: float = 60.0

    def budget_for(self, size: int) -> float:
        return self.seconds + self.seconds_per_mb * size / MB


class Budget:
    """A deadline checked at every point we (or pyx12, through :class:`TimedText`) take more
    input. ``tick`` (an activity heartbeat, say) is called at most every ``tick_every`` s."""

    def __init__(
        self,
        seconds: float,
        tick: Callable[[], None] | None = None,
        tick_every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self.deadline = clock() + seconds
        self._tick = tick
        self._tick_every = tick_every
        self._last_tick = clock()

    def check(self) -> None:
        now = self._clock()
        if now > self.deadline:
            raise Refused(
                "time_budget", f"validation took longer than its {self.seconds:.0f} s budget"
            )
        if self._tick is not None and now - self._last_tick >= self._tick_every:
            self._last_tick = now
            self._tick()


class TimedText(io.StringIO):
    """The text handed to pyx12, whose loops we do not own: each read it makes checks the
    budget, so a validation that runs too long stops with :class:`Refused` at the next read."""

    def __init__(self, text: str, budget: Budget | None) -> None:
        super().__init__(text)
        self._budget = budget

    def read(self, size: int | None = -1, /) -> str:
        if self._budget is not None:
            self._budget.check()
        return super().read(size)
