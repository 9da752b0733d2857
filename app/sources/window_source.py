"""One application window, captured where it is on the screen, following it as it moves.

The approach, chosen to add no dependency: ask the window system where the
window is (X11: libX11 through ctypes, see ``x11_windows.py``; Windows: user32
through ctypes), then grab that rectangle with mss, as the screen source does.
What is captured is what the screen shows there, so a window covered by another
shows the other one, and a minimised window pauses the stream (frames are
skipped and a warning is kept). When the window is closed the source stops
with a message saying so.

macOS has no window listing without extra packages (Quartz via pyobjc); there
the user is told to capture the window's screen region instead.
"""

from __future__ import annotations

import ctypes
import platform
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from app.errors import SourceError
from app.sources.live import DEFAULT_CAPTURE_FPS, LiveSource
from app.sources.screen_source import Rect, grab_rgb, open_mss, wayland_warning
from models.engine.records import Frame

_MIN_SIDE = 28


@dataclass(frozen=True)
class WindowInfo:
    """A window the user can pick: system id, title, owning process id (0 if unknown)."""

    id: int
    title: str
    pid: int = 0


def window_capture_problem() -> str | None:
    """Why windows cannot be listed here, or ``None``."""
    system = platform.system()
    if system == "Darwin":
        return (
            'Capturing a single window is not available on macOS: choose "Region" and draw '
            "the window's area instead (allow Screen Recording in System Settings)."
        )
    if system not in ("Linux", "Windows"):
        return f"Capturing a single window is not available on {system}: capture a screen region instead."
    return None


# -- per platform: list windows, and where a window is -------------------------------


def _x11_list(exclude_pid: int | None) -> list[WindowInfo]:
    from app.sources.x11_windows import X11Display, X11Error

    try:
        with X11Display() as x:
            return [
                WindowInfo(w.id, w.title, w.pid)
                for w in x.windows()
                if w.viewable and (exclude_pid is None or w.pid != exclude_pid)
            ]
    except X11Error as exc:
        raise SourceError(f"Cannot list windows: {exc}.") from exc


def _x11_geometry(window_id: int) -> tuple[Rect, bool] | None:
    from app.sources.x11_windows import X11Display, X11Error

    try:
        with X11Display() as x:
            geo = x.geometry(window_id)
    except X11Error as exc:
        raise SourceError(f"Cannot follow the window: {exc}.") from exc
    if geo is None:
        return None
    left, top, width, height, viewable = geo
    return Rect(left, top, width, height), viewable


def _win32_list(exclude_pid: int | None) -> list[WindowInfo]:
    if sys.platform != "win32":  # never true (callers check the system); tells type checkers windll exists
        raise OSError("Windows only")
    from ctypes import wintypes

    user32 = ctypes.windll.user32
    found: list[WindowInfo] = []

    @ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.HWND, wintypes.LPARAM)
    def visit(hwnd, _param):
        if user32.IsWindowVisible(hwnd) and not user32.IsIconic(hwnd):
            length = user32.GetWindowTextLengthW(hwnd)
            if length:
                buf = ctypes.create_unicode_buffer(length + 1)
                user32.GetWindowTextW(hwnd, buf, length + 1)
                pid = wintypes.DWORD()
                user32.GetWindowThreadProcessId(hwnd, ctypes.byref(pid))
                if exclude_pid is None or pid.value != exclude_pid:
                    found.append(WindowInfo(int(hwnd), buf.value, int(pid.value)))
        return True

    user32.EnumWindows(visit, 0)
    return found


def _win32_geometry(window_id: int) -> tuple[Rect, bool] | None:
    if sys.platform != "win32":  # never true (callers check the system); tells type checkers windll exists
        raise OSError("Windows only")
    from ctypes import wintypes

    user32 = ctypes.windll.user32
    if not user32.IsWindow(window_id):
        return None
    rect = wintypes.RECT()
    user32.GetWindowRect(window_id, ctypes.byref(rect))
    visible = bool(user32.IsWindowVisible(window_id)) and not user32.IsIconic(window_id)
    return Rect(rect.left, rect.top, rect.right - rect.left, rect.bottom - rect.top), visible


def list_windows(exclude_pid: int | None = None) -> list[WindowInfo]:
    """Windows that can be captured, leaving out those of process ``exclude_pid`` (our own)."""
    problem = window_capture_problem()
    if problem:
        raise SourceError(problem)
    if platform.system() == "Windows":
        return _win32_list(exclude_pid)
    return _x11_list(exclude_pid)


def window_geometry(window_id: int) -> tuple[Rect, bool] | None:
    """(where the window is, whether it is shown), or ``None`` when it no longer exists."""
    if platform.system() == "Windows":
        return _win32_geometry(window_id)
    return _x11_geometry(window_id)


# -- the source ---------------------------------------------------------------------


class WindowSource(LiveSource):
    """Live frames of one window, chosen by ``window_id`` or, failing that, by ``title``.

    Args:
        window_id: the system's window id (from :func:`list_windows`).
        title: find the first window whose title contains this text (case-insensitive).
        capture_fps: most grabs per second.
    """

    def __init__(self, window_id: int | None = None, title: str = "", capture_fps: float = DEFAULT_CAPTURE_FPS) -> None:
        super().__init__(capture_fps)
        if window_id is None and not title.strip():
            raise SourceError("Choose a window to capture.")
        self.window_id = window_id
        self.title = title
        self._open = False
        self._hidden_since: float | None = None

    def describe(self) -> str:
        return f"window \u201c{self.title}\u201d" if self.title else f"window {self.window_id}"

    def open(self) -> None:
        if self._open:
            return
        problem = window_capture_problem()
        if problem:
            raise SourceError(problem)
        warning = wayland_warning()
        if warning:
            self.warn(warning)
        if self.window_id is None:
            wanted = self.title.strip().lower()
            match = next((w for w in list_windows() if wanted in w.title.lower()), None)
            if match is None:
                raise SourceError(
                    f"No open window has \u201c{self.title}\u201d in its title: "
                    "open it, or refresh the window list and choose again."
                )
            self.window_id, self.title = match.id, match.title
        if window_geometry(self.window_id) is None:
            raise SourceError(f"The {self.describe()} is closed: choose another window.")
        self._open = True

    def frames(self) -> Iterator[Frame]:
        self.open()
        window_id = self.window_id
        assert window_id is not None, "open() found the window"
        with open_mss() as sct:
            desktop = Rect(**{k: int(sct.monitors[0][k]) for k in ("left", "top", "width", "height")})
            self.start_clock()
            while self._open:
                self.wait_for_next_grab()
                t = self.stream_time()
                geo = window_geometry(window_id)
                if geo is None:
                    raise SourceError(f"The {self.describe()} was closed; capture stopped.")
                rect, shown = geo
                visible = rect.clipped_to(desktop) if shown else None
                if visible is None or visible.width < _MIN_SIDE or visible.height < _MIN_SIDE:
                    self._note_hidden(t)
                    continue
                self._hidden_since = None
                try:
                    rgb = grab_rgb(sct, visible)
                except Exception as exc:
                    raise SourceError(f"Capture of the {self.describe()} stopped: {exc}") from exc
                yield Frame(t, self.hide_own_windows(rgb, visible))

    def _note_hidden(self, t: float) -> None:
        if self._hidden_since is None:
            self._hidden_since = t
            self.warn(
                f"The {self.describe()} was minimised or moved off screen at {t:.1f} s; "
                "commentary pauses while it is not visible."
            )

    def close(self) -> None:
        self._open = False

    @staticmethod
    def wait_until_listed(title: str, timeout: float = 5.0) -> WindowInfo | None:
        """The first window whose title contains ``title``, waiting for it to appear (tests, scripts)."""
        deadline = time.monotonic() + timeout
        while True:
            match = next((w for w in list_windows() if title.lower() in w.title.lower()), None)
            if match is not None or time.monotonic() > deadline:
                return match
            time.sleep(0.1)
