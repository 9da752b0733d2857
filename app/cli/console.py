"""Terminal output for the CLI: commentary lines as they come, and a progress bar.

Commentary goes to stdout (so it can be piped); the progress bar goes to stderr
and only when stderr is a terminal. On a terminal words appear as they are
decoded; when piped, each chunk's line is written once it is complete.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from app.cli.progress import StatusLine, bar, terminal_columns
from app.timefmt import clock
from models.engine.records import ChunkDone, ChunkStarted, CommentaryDelta


def one_line(text: str) -> str:
    """A delta as it can be printed on the chunk's one line: the model's line breaks become spaces."""
    return text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


class CommentaryPrinter:
    """Prints ``[t0-t1s] text`` per non-silent chunk."""

    def __init__(self, out: TextIO = sys.stdout, *, live: bool | None = None, show_silence: bool = False) -> None:
        self.out = out
        self.live = out.isatty() if live is None else live
        self.show_silence = show_silence
        self._open = False

    def handle(self, event, before_write=lambda: None) -> None:
        if isinstance(event, CommentaryDelta) and self.live:
            if not self._open:
                before_write()
                self.out.write(f"[{event.t0:7.1f}-{event.t1:7.1f}s]")
                self._open = True
            self.out.write(one_line(event.text))
            self.out.flush()
        elif isinstance(event, ChunkDone):
            if self._open:
                self.out.write("\n")
                self._open = False
            elif not self.live and (event.text or self.show_silence):
                self.out.write(f"[{event.t0:7.1f}-{event.t1:7.1f}s] {' '.join(event.text.split()) or '...'}\n")
            elif self.live and self.show_silence and not event.text:
                before_write()
                self.out.write(f"[{event.t0:7.1f}-{event.t1:7.1f}s] ...\n")
            self.out.flush()


class ProgressBar:
    """``[#####-----]  42%  0:12.0/0:30.0  3.1x real time`` on one stderr line."""

    def __init__(self, start: float, end: float | None, err: TextIO = sys.stderr, enabled: bool | None = None) -> None:
        self.start, self.end = start, end
        self._line = StatusLine(err, enabled)
        self._t0 = time.monotonic()

    def clear(self) -> None:
        self._line.clear()

    def update(self, event) -> None:
        if not self._line.enabled or not isinstance(event, (ChunkStarted, ChunkDone)):
            return
        position = event.t1 if isinstance(event, ChunkDone) else event.t0
        elapsed = max(1e-6, time.monotonic() - self._t0)
        speed = (position - self.start) / elapsed
        width = max(10, min(40, terminal_columns() - 50))
        if self.end and self.end > self.start:
            frac = min(1.0, max(0.0, (position - self.start) / (self.end - self.start)))
            line = f"{bar(frac, width)} {frac * 100:3.0f}%  {clock(position)}/{clock(self.end)}"
        else:
            line = clock(position)
        self._line.show(f"{line}  {speed:4.1f}x real time")
