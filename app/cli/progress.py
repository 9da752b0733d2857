"""Progress on the terminal: the one status-line routine, and the bar for model work.

:class:`StatusLine` and :func:`bar` draw every progress line of the CLI: this
module's :class:`ProgressLine` (downloads, conversion, quantization, hashing),
``app.cli.console.ProgressBar`` (one video) and ``app.cli.batch_progress``
(a batch of videos). A status line is one line on stderr redrawn in place, and
only on a terminal, so piped output and logs stay clean.

``ProgressLine`` draws ``models.progress.Progress`` records: on a terminal, one
line redrawn in place (bytes, speed, ETA, item i of n); when stderr is not a
terminal (a log file, CI), one plain line per item when it starts and when it
finishes, so logs stay readable.
"""

from __future__ import annotations

import shutil
import sys
from typing import TextIO

from app.timefmt import duration
from models.progress import Progress

_VERBS = {"download": "Downloading", "convert": "Converting", "quantize": "Quantizing", "hash": "Checking"}


def human_bytes(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def terminal_columns(default: int = 80) -> int:
    """The terminal's width in characters (``default`` when it cannot be told)."""
    return shutil.get_terminal_size((default, 20)).columns


def bar(fraction: float | None, width: int) -> str:
    """``[####------]`` with ``width`` cells between the brackets; all ``-`` when ``fraction`` is unknown."""
    filled = 0 if fraction is None else int(min(1.0, max(0.0, fraction)) * width)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


class StatusLine:
    """One line on ``err`` redrawn in place; writes nothing unless ``enabled`` (by default: a terminal)."""

    def __init__(self, err: TextIO | None = None, enabled: bool | None = None) -> None:
        self.err = err or sys.stderr
        self.enabled = self.err.isatty() if enabled is None else enabled
        self.shown = False

    def show(self, line: str) -> None:
        if not self.enabled:
            return
        self.err.write("\r\033[K" + line)
        self.err.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the line (before other output, and at the end)."""
        if self.enabled and self.shown:
            self.err.write("\r\033[K")
            self.err.flush()
        self.shown = False


class ProgressLine:
    """Callable sink for ``Progress``; call ``close()`` (or use as a context manager) at the end."""

    def __init__(self, err: TextIO | None = None, live: bool | None = None) -> None:
        self.err = err or sys.stderr
        self.live = self.err.isatty() if live is None else live
        self._line = StatusLine(self.err, self.live)
        self._key: tuple[str, str] | None = None

    def __call__(self, p: Progress) -> None:
        key = (p.stage, p.label)
        if self.live:
            self._draw(p)
        elif key != self._key:
            count = f" ({p.index}/{p.count})" if p.count > 1 else ""
            size = f", {'~' if p.estimated else ''}{human_bytes(p.total)}" if p.total else ""
            self.err.write(f"{_VERBS.get(p.stage, p.stage)} {p.label}{size}{count}\n")
            self.err.flush()
        self._key = key

    def _draw(self, p: Progress) -> None:
        width = terminal_columns(100)
        frac = p.fraction
        pct = "  ?%" if frac is None else f"{frac * 100:3.0f}%"
        amount = f"{human_bytes(p.done)}/{'~' if p.estimated else ''}{human_bytes(p.total)}"
        rate = f" {human_bytes(p.rate)}/s" if p.rate else ""
        count = f" ({p.index}/{p.count})" if p.count > 1 else ""
        label = p.label if len(p.label) <= 28 else "…" + p.label[-27:]
        head = f"{_VERBS.get(p.stage, p.stage)} {label}"
        tail = f" {pct} {amount}{rate} ETA {duration(p.eta_s)}{count}"
        bar_w = max(0, min(30, width - 1 - len(head) - len(tail) - 3))
        line = head + (" " + bar(frac, bar_w) if bar_w >= 5 else "") + tail
        self._line.show(line[: max(20, width - 1)])

    def close(self) -> None:
        self._line.clear()
        self._key = None

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
