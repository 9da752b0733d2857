"""Keeps the app's own windows (main window, overlay) out of the frames the model sees.

- Windows 10 2004 and later: ``SetWindowDisplayAffinity(hwnd, WDA_EXCLUDEFROMCAPTURE)``
  leaves the window out of every capture (screen grabs show what is behind it).
- macOS: the window's ``sharingType`` is set to ``NSWindowSharingNone``, which the
  CoreGraphics capture mss uses honours.
- X11 (and wherever the above fails): no such flag exists, so the rectangles of
  the tracked windows that are visible are published, in physical pixels, to an
  :class:`~app.sources.own_windows.OwnWindows` that live sources read; each grab
  has them blanked before it reaches the sampler.

The rectangles follow the windows' show, hide, move and resize events, and are
looked at again a few times a second (a window manager adds its frame later,
without an event to the window). A window
is published before it is mapped (Qt sends the show event first), so a new
overlay never reaches a frame; while a window is dragged, a grab between the
move and its event may still see one frame of it at its new place.
"""

from __future__ import annotations

import ctypes
import logging
import sys

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget

from app.sources.own_windows import OwnWindows
from ui.live.region_selector import to_physical

log = logging.getLogger(__name__)

WDA_EXCLUDEFROMCAPTURE = 0x11
REFRESH_MS = 250
_EVENTS = {QEvent.Type.Show, QEvent.Type.Hide, QEvent.Type.Move, QEvent.Type.Resize, QEvent.Type.WinIdChange}


def exclude_from_capture(widget: QWidget) -> bool:
    """Ask the OS to leave ``widget``'s window out of screen captures; true if it agreed."""
    try:
        if sys.platform == "win32":
            user32 = ctypes.windll.user32  # type: ignore[attr-defined]
            user32.SetWindowDisplayAffinity.argtypes = (ctypes.c_void_p, ctypes.c_uint32)
            return bool(user32.SetWindowDisplayAffinity(ctypes.c_void_p(int(widget.winId())), WDA_EXCLUDEFROMCAPTURE))
        if sys.platform == "darwin":
            return _macos_sharing_none(int(widget.winId()))
    except Exception as exc:  # an OS too old for the flag: blanking takes over
        log.info("capture exclusion refused: %s", exc)
    return False


def _macos_sharing_none(view: int) -> bool:
    """``[[view window] setSharingType:NSWindowSharingNone]`` through the Objective-C runtime."""
    import ctypes.util

    objc = ctypes.cdll.LoadLibrary(ctypes.util.find_library("objc") or "libobjc.dylib")
    objc.sel_registerName.restype = ctypes.c_void_p
    objc.sel_registerName.argtypes = (ctypes.c_char_p,)
    send = objc.objc_msgSend
    send.restype = ctypes.c_void_p
    send.argtypes = (ctypes.c_void_p, ctypes.c_void_p)
    window = send(ctypes.c_void_p(view), objc.sel_registerName(b"window"))
    if not window:
        return False
    set_sharing = ctypes.cast(
        objc.objc_msgSend, ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong)
    )
    set_sharing(window, objc.sel_registerName(b"setSharingType:"), 0)  # NSWindowSharingNone
    return True


class CaptureGuard(QObject):
    """Tracks top-level windows and keeps them out of capture (see the module docstring).

    Args:
        own_windows: where the rectangles to blank are published; live sources read it.
    """

    def __init__(self, own_windows: OwnWindows, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.own_windows = own_windows
        self._widgets: list[QWidget] = []
        self._excluded: set[int] = set()  # ids of widgets the OS itself keeps out of capture
        self._refresh = QTimer(self, interval=REFRESH_MS)
        self._refresh.timeout.connect(self.publish)
        self._refresh.start()

    def track(self, widget: QWidget) -> None:
        self._widgets.append(widget)
        widget.installEventFilter(self)
        widget.destroyed.connect(lambda *_a, w=widget: self._forget(w))
        if widget.isVisible():
            self._exclude(widget)
        self.publish()

    def _forget(self, widget: QWidget) -> None:
        self._widgets = [w for w in self._widgets if w is not widget]
        self.publish()

    def _exclude(self, widget: QWidget) -> None:
        if id(widget) not in self._excluded and exclude_from_capture(widget):
            self._excluded.add(id(widget))

    def natively_excluded(self, widget: QWidget) -> bool:
        return id(widget) in self._excluded

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() in _EVENTS and obj in self._widgets:
            if event.type() == QEvent.Type.WinIdChange:
                self._excluded.discard(id(obj))  # a new native window starts without the flag
            if event.type() in (QEvent.Type.Show, QEvent.Type.WinIdChange):
                self._exclude(obj)
            self.publish()
        return False

    def publish(self) -> None:
        rects = []
        for widget in self._widgets:
            screen = widget.screen()
            if widget.isVisible() and screen is not None and id(widget) not in self._excluded:
                rects.append(to_physical(widget.frameGeometry(), screen))
        self.own_windows.publish(rects)
