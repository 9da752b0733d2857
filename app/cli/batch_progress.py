"""One progress line for a batch of videos: overall share done, and where the current one is.

``[#######-------------]  35%  video 2/5  game2.mp4  0:12.0/1:30.0  3.1x real time``

Like :class:`app.cli.console.ProgressBar` it draws through
:class:`app.cli.progress.StatusLine`: on stderr, and only when stderr is a
terminal, so piped output and logs stay clean. Each video counts as an
equal share of the batch (durations are not known before a file is opened).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from app.cli.progress import StatusLine, bar, terminal_columns
from app.timefmt import clock
from models.engine.records import ChunkDone, ChunkStarted


class BatchProgress:
    """Call :meth:`start_video` per video, then :meth:`update` with its engine events."""

    def __init__(self, total: int, err: TextIO = sys.stderr, enabled: bool | None = None) -> None:
        self.total = max(1, total)
        self._line = StatusLine(err, enabled)
        self.number, self.name, self.start = 0, "", 0.0
        self.end: float | None = None
        self._commentary_share = 1.0
        self._t0 = time.monotonic()

    def start_video(self, number: int, name: str, start: float, end: float | None, exporting: bool = False) -> None:
        """A new video begins; ``exporting``: a captioned MP4 follows (it takes the last tenth)."""
        self.number, self.name, self.start, self.end = number, name, start, end
        self._commentary_share = 0.9 if exporting else 1.0
        self._t0 = time.monotonic()

    def clear(self) -> None:
        self._line.clear()

    def fraction(self, within: float) -> float:
        """The batch's share done when the current video is ``within`` (0..1) done."""
        return min(1.0, (self.number + min(1.0, max(0.0, within))) / self.total)

    def _draw(self, within: float, detail: str) -> None:
        if not self._line.enabled:
            return
        overall = self.fraction(within)
        width = max(10, min(30, terminal_columns() - 60))
        self._line.show(
            f"{bar(overall, width)} {overall * 100:3.0f}%  "
            f"video {self.number + 1}/{self.total}  {self.name[:30]}  {detail}"
        )

    def update(self, event) -> None:
        if not isinstance(event, (ChunkStarted, ChunkDone)):
            return
        position = event.t1 if isinstance(event, ChunkDone) else event.t0
        speed = (position - self.start) / max(1e-6, time.monotonic() - self._t0)
        if self.end and self.end > self.start:
            within = (position - self.start) / (self.end - self.start)
            detail = f"{clock(position)}/{clock(self.end)}  {speed:4.1f}x real time"
        else:
            within, detail = 0.0, f"{clock(position)}  {speed:4.1f}x real time"
        self._draw(within * self._commentary_share, detail)

    def export(self, fraction: float, message: str) -> None:
        """Progress of the captioned-MP4 export, the last tenth of a video's share."""
        share = self._commentary_share
        self._draw(share + (1 - share) * fraction, f"MP4: {message}")
