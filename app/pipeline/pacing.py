"""How chunks wait for the engine: the real-time drop policy, and its lag meter.

The capture side produces one chunk per second of stream; the engine takes a
chunk when it has finished the previous one. Between them sits a *pacer*:

* :class:`NewestChunkWins` (live sources): at most one chunk waits. A newer
  chunk replaces a waiting one, which is counted as dropped. So the engine
  always works on the most recent second it can, and the lag is bounded by one
  chunk's span plus about two chunks' processing time, whatever the stream's
  length. Dropping whole chunks (rather than frames inside a chunk) keeps every
  chunk a true LiveCC turn: two consecutive frames, one temporal patch.
* :class:`EveryChunk` (files): nothing is dropped; the producer blocks while
  a few chunks wait, so a file is read only as fast as the engine consumes it.

Both are thread-safe: the capture thread calls :meth:`offer`, the engine side
calls :meth:`take`. :class:`LagMeter` turns finished chunks into the figures the
status line shows.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from models.engine.records import ChunkDone, VideoChunk


class Pacer(Protocol):
    """The hand-over point between capture and engine; each implementation is one policy."""

    name: str
    #: Chunks offered so far, and how many of them were dropped unprocessed.
    offered: int
    dropped: int

    def offer(self, chunk: VideoChunk) -> None:
        """Hand over a finished chunk (may block or drop, by policy)."""
        ...

    def take(self) -> VideoChunk | None:
        """The next chunk to process, or ``None`` if none waits. Never blocks."""
        ...

    def close(self) -> None:
        """Stop accepting chunks and wake a blocked producer (a stop was asked)."""
        ...

    @property
    def pending(self) -> int:
        """How many chunks wait."""
        ...


class ChunkQueue:
    """The waiting line the pacers share; a subclass's :meth:`offer` is its policy."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiting: deque[VideoChunk] = deque()
        self._closed = False
        self.offered = 0
        self.dropped = 0

    def take(self) -> VideoChunk | None:
        """The next chunk to process, or ``None`` if none waits. Never blocks."""
        with self._cond:
            chunk = self._waiting.popleft() if self._waiting else None
            self._cond.notify_all()
            return chunk

    def close(self) -> None:
        """Stop accepting chunks and wake a blocked producer (a stop was asked)."""
        with self._cond:
            self._closed = True
            self._waiting.clear()
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._waiting)


class NewestChunkWins(ChunkQueue):
    """Live policy: one waiting slot; the newest chunk replaces an older one."""

    name = "newest chunk wins"

    def offer(self, chunk: VideoChunk) -> None:
        with self._cond:
            if self._closed:
                return
            self.offered += 1
            if self._waiting:
                self._waiting.clear()
                self.dropped += 1
            self._waiting.append(chunk)
            self._cond.notify_all()


class EveryChunk(ChunkQueue):
    """Offline policy: keep every chunk; block the producer while ``depth`` chunks wait."""

    name = "every chunk"

    def __init__(self, depth: int = 2) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.depth = depth

    def offer(self, chunk: VideoChunk) -> None:
        with self._cond:
            while len(self._waiting) >= self.depth and not self._closed:
                self._cond.wait(0.5)
            if self._closed:
                return
            self.offered += 1
            self._waiting.append(chunk)
            self._cond.notify_all()


@dataclass(frozen=True)
class LiveStats:
    """What the status line shows after each chunk.

    lag_s: stream seconds between now and the newest frame of the chunk just
        finished, i.e. how old the picture is that the words describe
        (``None`` for files, which are not real time).
    latency_s: wall seconds the engine spent on the chunk.
    tokens_per_s: generated tokens per second of generation.
    dropped: chunks dropped so far by the live policy.
    processed: chunks finished so far.
    position_s: stream time reached (the end of the last finished chunk).
    """

    lag_s: float | None
    latency_s: float
    tokens_per_s: float
    dropped: int
    processed: int
    position_s: float


class LagMeter:
    """Measures lag against a stream clock: ``clock()`` returns the stream time now.

    For live sources the stream clock is the capture clock (monotonic seconds
    since the source started, shifted by the session's time offset); for files
    there is no clock and lag is ``None``.
    """

    def __init__(self, clock: Callable[[], float] | None, frame_interval: float = 0.5) -> None:
        self.clock = clock
        self.frame_interval = frame_interval  # a chunk ends this long after its last frame (2 fps)
        self.processed = 0
        self.max_lag_s = 0.0

    def update(self, done: ChunkDone, dropped: int) -> LiveStats:
        self.processed += 1
        stats = done.stats
        lag = None
        if self.clock is not None:
            lag = max(0.0, self.clock() - (done.t1 - self.frame_interval))
            self.max_lag_s = max(self.max_lag_s, lag)
        tps = stats.generated_tokens / stats.generate_s if stats.generate_s > 0 else 0.0
        return LiveStats(lag, stats.wall_s, tps, dropped, self.processed, done.t1)
