"""What every real-time source shares: a stream clock and a capture rate.

A live frame's time is the monotonic clock at the moment it was grabbed,
counted from the moment the source started, so dropped or late grabs never
shift later frames. The capture rate only needs to be a few times the model's
2 fps: the sampler takes the first frame at or after each half second, so at
8 fps a chosen frame is at most 1/8 s late, and the preview stays smooth.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from app.sources.base import SourceMixin
from app.sources.own_windows import OwnWindowRects, blank_rects

if TYPE_CHECKING:
    import numpy as np

    from app.sources.screen_source import Rect

DEFAULT_CAPTURE_FPS = 8.0


class LiveSource(SourceMixin):
    """A source that runs in real time; subclasses grab, this class keeps time.

    Args:
        capture_fps: most grabs per second.
    """

    is_live = True
    #: The app's own windows to blank in every grab (X11); set by the UI, ``None`` for none.
    own_windows: OwnWindowRects | None = None

    def __init__(self, capture_fps: float = DEFAULT_CAPTURE_FPS) -> None:
        super().__init__()
        if not capture_fps > 0:
            raise ValueError(f"capture_fps must be positive, got {capture_fps}")
        self.capture_fps = float(capture_fps)
        self._origin: float | None = None
        self._next_grab = 0.0

    def start_clock(self) -> None:
        """Time zero of the stream is now (called when frames start)."""
        self._origin = time.monotonic()
        self._next_grab = self._origin

    def hide_own_windows(self, rgb: np.ndarray, at: Rect) -> np.ndarray:
        """``rgb`` (a grab of desktop rectangle ``at``) with the app's own windows blanked."""
        rects = self.own_windows() if self.own_windows is not None else ()
        return blank_rects(rgb, at, rects) if rects else rgb

    def stream_time(self) -> float:
        """Seconds since the stream started (0 before it starts)."""
        return 0.0 if self._origin is None else time.monotonic() - self._origin

    def wait_for_next_grab(self) -> None:
        """Sleep until the next grab is due, keeping a steady rate without drift."""
        now = time.monotonic()
        if self._next_grab > now:
            time.sleep(self._next_grab - now)
            now = self._next_grab
        # A late grab does not make the next ones early: skip missed slots.
        period = 1.0 / self.capture_fps
        self._next_grab = max(self._next_grab + period, now)
