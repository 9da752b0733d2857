"""One progress record for every long model operation, and the rate meter behind it.

Downloading, converting, quantizing and hashing all report ``Progress``: the CLI
draws a bar from it and the GUI will bind it to a progress widget, without
either knowing which operation runs. Callbacks are called from the worker
thread that does the work; a GUI must hop to its own thread before touching
widgets.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """Where a long operation stands.

    stage: ``download``, ``convert``, ``quantize`` or ``hash``.
    label: what is being worked on (a file name, "text model", ...).
    done, total: units done and expected (bytes); ``total`` is ``None`` when unknown.
    rate: units per second over the last seconds; ``None`` until measurable.
    eta_s: seconds left at that rate; ``None`` when unknown.
    index, count: this item's place among the operation's items (file 2 of 7).
    estimated: ``total`` is an estimate (quantization), so the bar is approximate.
    """

    stage: str
    label: str
    done: int
    total: int | None
    rate: float | None = None
    eta_s: float | None = None
    index: int = 1
    count: int = 1
    estimated: bool = False

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, max(0.0, self.done / self.total))


ProgressCallback = Callable[[Progress], None]


class RateMeter:
    """Units per second over a sliding window (5 s), robust to bursty updates."""

    def __init__(self, window_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window_s
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def update(self, done: int) -> float | None:
        now = self._clock()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > self._window:
            self._samples.popleft()
        t0, d0 = self._samples[0]
        if now - t0 < 0.2:
            return None
        return max(0.0, (done - d0) / (now - t0))

    @staticmethod
    def eta(done: int, total: int | None, rate: float | None) -> float | None:
        if not total or not rate:
            return None
        return max(0.0, (total - done) / rate)


class Throttle:
    """Lets at most one report through every ``interval_s`` (the last one always passes)."""

    def __init__(self, interval_s: float = 0.1, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval_s
        self._clock = clock
        self._last = float("-inf")

    def ready(self, final: bool = False) -> bool:
        now = self._clock()
        if final or now - self._last >= self._interval:
            self._last = now
            return True
        return False
