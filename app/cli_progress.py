"""A one-line progress bar on stderr for downloads, conversion, quantization and hashing.

Draws ``models.progress.Progress`` records: on a terminal, one line redrawn in
place (bytes, speed, ETA, item i of n); when stderr is not a terminal (a log
file, CI), one plain line per item when it starts and when it finishes, so logs
stay readable.
"""

from __future__ import annotations

import shutil
import sys
from typing import TextIO

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


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressLine:
    """Callable sink for ``Progress``; call ``close()`` (or use as a context manager) at the end."""

    def __init__(self, err: TextIO | None = None, live: bool | None = None) -> None:
        self.err = err or sys.stderr
        self.live = self.err.isatty() if live is None else live
        self._key: tuple[str, str] | None = None
        self._shown = False

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
        width = shutil.get_terminal_size((100, 20)).columns
        frac = p.fraction
        pct = "  ?%" if frac is None else f"{frac * 100:3.0f}%"
        amount = f"{human_bytes(p.done)}/{'~' if p.estimated else ''}{human_bytes(p.total)}"
        rate = f" {human_bytes(p.rate)}/s" if p.rate else ""
        count = f" ({p.index}/{p.count})" if p.count > 1 else ""
        label = p.label if len(p.label) <= 28 else "…" + p.label[-27:]
        head = f"{_VERBS.get(p.stage, p.stage)} {label}"
        tail = f" {pct} {amount}{rate} ETA {human_duration(p.eta_s)}{count}"
        bar_w = max(0, min(30, width - 1 - len(head) - len(tail) - 3))
        bar = ""
        if bar_w >= 5:
            filled = 0 if frac is None else int(frac * bar_w)
            bar = " [" + "#" * filled + "-" * (bar_w - filled) + "]"
        line = head + bar + tail
        self.err.write("\r\033[K" + line[: max(20, width - 1)])
        self.err.flush()
        self._shown = True

    def close(self) -> None:
        if self.live and self._shown:
            self.err.write("\r\033[K")
            self.err.flush()
        self._shown = False
        self._key = None

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
