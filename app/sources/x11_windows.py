"""Top-level windows of an X11 display, through libX11 with ctypes (no extra package).

Only three questions are asked: which windows are there (with titles), where is
window W now, and is it still open. With a window manager the list comes from
``_NET_CLIENT_LIST`` (EWMH), which every current desktop maintains; without one
(a bare X server such as Xvfb) the viewable children of the root window are
used. A window's position is its origin translated to root coordinates, so it
is right under reparenting window managers too.

Xlib's default error handler exits the process on an error such as BadWindow
(a window closed between two calls). Every request here runs under a handler
that only records the error, installed for the call and removed after it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from dataclasses import dataclass

_Window = ctypes.c_ulong
_Atom = ctypes.c_ulong
_IS_VIEWABLE = 2
_ANY_PROPERTY_TYPE = 0
_SUCCESS = 0


class _XWindowAttributes(ctypes.Structure):
    _fields_ = [
        ("x", ctypes.c_int),
        ("y", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("border_width", ctypes.c_int),
        ("depth", ctypes.c_int),
        ("visual", ctypes.c_void_p),
        ("root", _Window),
        ("c_class", ctypes.c_int),
        ("bit_gravity", ctypes.c_int),
        ("win_gravity", ctypes.c_int),
        ("backing_store", ctypes.c_int),
        ("backing_planes", ctypes.c_ulong),
        ("backing_pixel", ctypes.c_ulong),
        ("save_under", ctypes.c_int),
        ("colormap", ctypes.c_ulong),
        ("map_installed", ctypes.c_int),
        ("map_state", ctypes.c_int),
        ("all_event_masks", ctypes.c_long),
        ("your_event_mask", ctypes.c_long),
        ("do_not_propagate_mask", ctypes.c_long),
        ("override_redirect", ctypes.c_int),
        ("screen", ctypes.c_void_p),
    ]


_ErrorHandler = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


@dataclass(frozen=True)
class X11Window:
    """A top-level window: id, title, owning process (0 if unknown), and whether it is shown."""

    id: int
    title: str
    pid: int
    viewable: bool


class X11Error(RuntimeError):
    pass


_lib = None
_lock = threading.Lock()  # the error handler is process-wide; one request at a time


def _xlib():
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("X11")
        if not name:
            raise X11Error("libX11 is not installed")
        lib = ctypes.CDLL(name)
        lib.XOpenDisplay.restype = ctypes.c_void_p
        lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
        lib.XDefaultRootWindow.restype = _Window
        lib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        lib.XInternAtom.restype = _Atom
        lib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        lib.XGetWindowProperty.argtypes = [
            ctypes.c_void_p,
            _Window,
            _Atom,
            ctypes.c_long,
            ctypes.c_long,
            ctypes.c_int,
            _Atom,
            ctypes.POINTER(_Atom),
            ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ctypes.c_ulong),
            ctypes.POINTER(ctypes.c_ulong),
            ctypes.POINTER(ctypes.c_void_p),
        ]
        lib.XQueryTree.argtypes = [
            ctypes.c_void_p,
            _Window,
            ctypes.POINTER(_Window),
            ctypes.POINTER(_Window),
            ctypes.POINTER(ctypes.POINTER(_Window)),
            ctypes.POINTER(ctypes.c_uint),
        ]
        lib.XGetWindowAttributes.argtypes = [ctypes.c_void_p, _Window, ctypes.POINTER(_XWindowAttributes)]
        lib.XTranslateCoordinates.argtypes = [
            ctypes.c_void_p,
            _Window,
            _Window,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(_Window),
        ]
        lib.XFetchName.argtypes = [ctypes.c_void_p, _Window, ctypes.POINTER(ctypes.c_char_p)]
        lib.XFree.argtypes = [ctypes.c_void_p]
        lib.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.XSetErrorHandler.restype = ctypes.c_void_p
        lib.XSetErrorHandler.argtypes = [ctypes.c_void_p]
        _lib = lib
    return _lib


class X11Display:
    """A connection to the X server named by ``DISPLAY``; use with ``with``."""

    def __init__(self, name: str | None = None) -> None:
        self.lib = _xlib()
        display = name or os.environ.get("DISPLAY")
        if not display:
            raise X11Error("no X11 display (DISPLAY is not set)")
        self.dpy = self.lib.XOpenDisplay(display.encode())
        if not self.dpy:
            raise X11Error(f"cannot open X11 display {display}")
        self.root = self.lib.XDefaultRootWindow(self.dpy)
        self._errors = 0
        self._handler = _ErrorHandler(self._on_error)
        self._atoms: dict[str, int] = {}

    def _on_error(self, _dpy, _event) -> int:
        self._errors += 1
        return 0

    def __enter__(self) -> X11Display:
        _lock.acquire()
        self._previous = self.lib.XSetErrorHandler(ctypes.cast(self._handler, ctypes.c_void_p))
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.lib.XSync(self.dpy, 0)
            self.lib.XSetErrorHandler(self._previous)
            self.lib.XCloseDisplay(self.dpy)
        finally:
            _lock.release()

    def _atom(self, name: str) -> int:
        if name not in self._atoms:
            self._atoms[name] = self.lib.XInternAtom(self.dpy, name.encode(), 0)
        return self._atoms[name]

    def _property(self, window: int, name: str) -> tuple[int, bytes, int] | None:
        """(format, raw bytes, item count) of a window property, ``None`` if absent."""
        actual_type, actual_format = _Atom(), ctypes.c_int()
        nitems, after, data = ctypes.c_ulong(), ctypes.c_ulong(), ctypes.c_void_p()
        status = self.lib.XGetWindowProperty(
            self.dpy,
            window,
            self._atom(name),
            0,
            1 << 20,
            0,
            _ANY_PROPERTY_TYPE,
            ctypes.byref(actual_type),
            ctypes.byref(actual_format),
            ctypes.byref(nitems),
            ctypes.byref(after),
            ctypes.byref(data),
        )
        if status != _SUCCESS or not data.value:
            return None
        try:
            fmt, n = actual_format.value, nitems.value
            if fmt == 0 or n == 0:
                return None
            # Xlib returns 32-bit items as C longs.
            size = n * (ctypes.sizeof(ctypes.c_long) if fmt == 32 else fmt // 8)
            return fmt, ctypes.string_at(data.value, size), n
        finally:
            self.lib.XFree(data)

    def _ids(self, window: int, name: str) -> list[int] | None:
        prop = self._property(window, name)
        if prop is None or prop[0] != 32:
            return None
        return list((ctypes.c_ulong * prop[2]).from_buffer_copy(prop[1]))

    def title(self, window: int) -> str:
        prop = self._property(window, "_NET_WM_NAME")
        if prop is not None and prop[0] == 8:
            return prop[1].decode("utf-8", "replace")
        name = ctypes.c_char_p()
        if self.lib.XFetchName(self.dpy, window, ctypes.byref(name)) and name.value is not None:
            text = name.value.decode("latin-1")
            self.lib.XFree(ctypes.cast(name, ctypes.c_void_p))
            return text
        return ""

    def pid(self, window: int) -> int:
        ids = self._ids(window, "_NET_WM_PID")
        return int(ids[0]) if ids else 0

    def _children(self, window: int) -> list[int]:
        root, parent = _Window(), _Window()
        children, count = ctypes.POINTER(_Window)(), ctypes.c_uint()
        if not self.lib.XQueryTree(
            self.dpy, window, ctypes.byref(root), ctypes.byref(parent), ctypes.byref(children), ctypes.byref(count)
        ):
            return []
        try:
            return [children[i] for i in range(count.value)]
        finally:
            if children:
                self.lib.XFree(children)

    def attributes(self, window: int) -> _XWindowAttributes | None:
        attrs = _XWindowAttributes()
        before = self._errors
        ok = self.lib.XGetWindowAttributes(self.dpy, window, ctypes.byref(attrs))
        self.lib.XSync(self.dpy, 0)
        return attrs if ok and self._errors == before else None

    def windows(self) -> list[X11Window]:
        """Top-level application windows, in stacking order where the WM gives it."""
        ids = self._ids(self.root, "_NET_CLIENT_LIST_STACKING") or self._ids(self.root, "_NET_CLIENT_LIST")
        managed = ids is not None
        if ids is None:
            ids = self._children(self.root)
        found = []
        for wid in ids:
            attrs = self.attributes(wid)
            if attrs is None or (not managed and (attrs.override_redirect or attrs.c_class == 2)):
                continue  # gone, a menu or tooltip, or an input-only window
            viewable = attrs.map_state == _IS_VIEWABLE
            title = self.title(wid)
            if not title or (not managed and not viewable):
                continue
            found.append(X11Window(int(wid), title, self.pid(wid), viewable))
        return found

    def geometry(self, window: int) -> tuple[int, int, int, int, bool] | None:
        """(left, top, width, height, viewable) in root coordinates; ``None`` if the window is gone."""
        attrs = self.attributes(window)
        if attrs is None:
            return None
        x, y, child = ctypes.c_int(), ctypes.c_int(), _Window()
        before = self._errors
        ok = self.lib.XTranslateCoordinates(
            self.dpy, window, self.root, 0, 0, ctypes.byref(x), ctypes.byref(y), ctypes.byref(child)
        )
        self.lib.XSync(self.dpy, 0)
        if not ok or self._errors != before:
            return None
        return x.value, y.value, attrs.width, attrs.height, attrs.map_state == _IS_VIEWABLE
