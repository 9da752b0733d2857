"""Keeping the app's own windows out of what the model sees.

With the overlay over a captured game, the model would read its own captions.
Windows (``WDA_EXCLUDEFROMCAPTURE``) and macOS (a window's sharing type) can
leave a window out of every capture; the UI asks for that (``ui/live/capture_guard.py``).
X11 has no such flag, so there the UI publishes where its visible windows are,
in physical desktop pixels, and each grabbed frame has those rectangles
blanked (black) before it reaches the sampler. Capture runs in a worker thread
and the UI in its own, so the rectangles live in a small thread-safe holder,
:class:`OwnWindows`, that the UI writes and the sources read; this module
knows nothing of Qt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from app.sources.screen_source import Rect

#: What a source asks for the rectangles to blank: any callable, e.g. an :class:`OwnWindows`.
OwnWindowRects = Callable[[], Sequence["Rect"]]


class OwnWindows:
    """The rectangles (physical desktop pixels) of our windows that a capture must not show.

    ``publish`` from the UI thread; call the object from any thread for the current tuple.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rects: tuple[Rect, ...] = ()

    def publish(self, rects: Iterable[Rect]) -> None:
        with self._lock:
            self._rects = tuple(rects)

    def __call__(self) -> tuple[Rect, ...]:
        with self._lock:
            return self._rects


def blank_rects(rgb: np.ndarray, at: Rect, rects: Sequence[Rect]) -> np.ndarray:
    """Black out, in place, the parts of ``rects`` inside the grab ``rgb`` taken of desktop area ``at``."""
    for rect in rects:
        part = rect.clipped_to(at)
        if part is not None:
            top, left = part.top - at.top, part.left - at.left
            rgb[top : top + part.height, left : left + part.width] = 0
    return rgb
