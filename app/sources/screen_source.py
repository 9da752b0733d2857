"""A monitor, or a rectangle of the desktop, captured with mss.

mss grabs in physical pixels, in the coordinates of the whole virtual desktop
(monitor 0 spans all monitors; 1, 2, ... are the monitors). A region drawn in Qt
is in logical pixels and must be multiplied by the screen's device pixel ratio
before it gets here (``ui/live/region_selector.py`` does that).

An mss object holds a connection to the display and must be used from the
thread that made it, so :meth:`frames` opens its own in the capture thread;
:meth:`open` only checks that the display can be captured at all.

Known limits (stated to the user in :func:`capture_problem`): on Wayland, X11
capture sees only XWayland windows (or black); on macOS the app needs the
Screen Recording permission, without which mss returns the desktop wallpaper.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from app.errors import SourceError
from app.sources.live import DEFAULT_CAPTURE_FPS, LiveSource
from models.engine.records import Frame


@dataclass(frozen=True)
class Rect:
    """A rectangle of the virtual desktop in physical pixels."""

    left: int
    top: int
    width: int
    height: int

    def as_mss(self) -> dict:
        return {"left": self.left, "top": self.top, "width": self.width, "height": self.height}

    def clipped_to(self, other: Rect) -> Rect | None:
        """The part of this rectangle inside ``other``; ``None`` if they do not overlap."""
        left, top = max(self.left, other.left), max(self.top, other.top)
        right = min(self.left + self.width, other.left + other.width)
        bottom = min(self.top + self.height, other.top + other.height)
        if right <= left or bottom <= top:
            return None
        return Rect(left, top, right - left, bottom - top)


@dataclass(frozen=True)
class MonitorInfo:
    """Monitor ``index`` (mss numbering, from 1) and where it lies on the desktop."""

    index: int
    rect: Rect

    @property
    def label(self) -> str:
        r = self.rect
        return f"Monitor {self.index} ({r.width}×{r.height} at {r.left},{r.top})"


def capture_problem() -> str | None:
    """Why screen capture cannot work in this session, or ``None`` when it may."""
    system = platform.system()
    if system == "Linux" and not os.environ.get("DISPLAY"):
        if os.environ.get("WAYLAND_DISPLAY"):
            return (
                "Screen capture needs X11, and this is a Wayland session without XWayland. "
                'Log in to an X11 session ("GNOME on Xorg") to capture the screen.'
            )
        return "Screen capture needs a display: no X11 display is set (DISPLAY is empty)."
    return None


def wayland_warning() -> str | None:
    if platform.system() == "Linux" and os.environ.get("XDG_SESSION_TYPE") == "wayland":
        return (
            "This is a Wayland session: capture sees only X11 (XWayland) windows; native Wayland "
            "windows may look black. Use an X11 session for full-screen games."
        )
    return None


def open_mss():
    """A new mss capture object for this thread (mss >= 10 names the class ``MSS``)."""
    import mss

    problem = capture_problem()
    if problem:
        raise SourceError(problem)
    try:
        factory = getattr(mss, "MSS", None) or mss.mss
        return factory()
    except Exception as exc:  # mss raises its own ScreenShotError / XError
        raise SourceError(f"Cannot capture the screen: {exc}") from exc


def grab_rgb(sct, rect: Rect) -> np.ndarray:
    """Pixels of ``rect`` as an RGB array."""
    shot = sct.grab(rect.as_mss())
    bgra = np.asarray(shot)
    return cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGB)


def list_monitors() -> list[MonitorInfo]:
    """The monitors mss sees (monitor 0, the whole desktop, is left out)."""
    with open_mss() as sct:
        return [MonitorInfo(i, _rect(m)) for i, m in enumerate(sct.monitors) if i > 0]


def _rect(m: dict) -> Rect:
    return Rect(int(m["left"]), int(m["top"]), int(m["width"]), int(m["height"]))


class ScreenSource(LiveSource):
    """Live frames of monitor ``monitor`` or of ``region`` of the desktop.

    Args:
        monitor: mss monitor number (1 is the first; 0 the whole desktop).
        region: a rectangle of the desktop in physical pixels; overrides ``monitor``.
        capture_fps: most grabs per second.
    """

    def __init__(self, monitor: int = 1, region: Rect | None = None, capture_fps: float = DEFAULT_CAPTURE_FPS) -> None:
        super().__init__(capture_fps)
        if region is not None and (region.width < 28 or region.height < 28):
            raise SourceError(
                f"The region {region.width}×{region.height} is too small: draw one of at least 28×28 pixels."
            )
        self.monitor = monitor
        self.region = region
        self.rect: Rect | None = None
        self._open = False

    def describe(self) -> str:
        if self.region is not None:
            r = self.region
            return f"region {r.width}×{r.height} at {r.left},{r.top}"
        return f"monitor {self.monitor}"

    def open(self) -> None:
        """Check the display, the monitor and the region; grab once."""
        if self._open:
            return
        warning = wayland_warning()
        if warning:
            self.warn(warning)
        with open_mss() as sct:
            self.rect = self._resolve(sct.monitors)
            try:
                grab_rgb(sct, self.rect)
            except Exception as exc:
                raise SourceError(f"Cannot capture {self.describe()}: {exc}") from exc
        self._open = True

    def _resolve(self, monitors: list[dict]) -> Rect:
        desktop = _rect(monitors[0])
        if self.region is not None:
            clipped = self.region.clipped_to(desktop)
            if clipped is None:
                raise SourceError(f"The {self.describe()} is outside the desktop: draw the region again.")
            return clipped
        if not 0 <= self.monitor < len(monitors):
            raise SourceError(
                f"Monitor {self.monitor} is not connected (there are {len(monitors) - 1}): choose another monitor."
            )
        return _rect(monitors[self.monitor])

    def frames(self) -> Iterator[Frame]:
        self.open()
        rect = self.rect
        assert rect is not None, "open() resolved the rectangle"
        with open_mss() as sct:
            self.start_clock()
            while self._open:
                self.wait_for_next_grab()
                t = self.stream_time()
                try:
                    rgb = grab_rgb(sct, rect)
                except Exception as exc:
                    raise SourceError(f"Screen capture of {self.describe()} stopped: {exc}") from exc
                yield Frame(t, self.hide_own_windows(rgb, rect))

    def close(self) -> None:
        self._open = False
