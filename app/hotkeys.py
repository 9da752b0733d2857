"""Global hotkeys: start/stop, overlay, click-through and voice while a game has the focus.

Qt's shortcuts only fire while the app has the focus; a streamer's game has it.
So each OS's own mechanism is used, in a small listener thread that calls
``on_hotkey(name)`` (from that thread: the UI turns it into a queued signal):

- **X11**: ``XGrabKey`` on the root window, through libX11 with ctypes, on the
  listener's own display connection (Xlib connections are not shared between
  threads). Each key is grabbed four times, with and without Caps Lock and Num
  Lock, so those locks do not disable it. A key another program already grabbed
  is reported, not fatal (Xlib's default error handler would exit the process).
- **Windows**: ``RegisterHotKey`` in the listener thread, which then runs a
  message loop for ``WM_HOTKEY``.
- **macOS** is not covered: it needs the Accessibility permission and a Carbon
  ``RegisterEventHotKey`` (or a Quartz event tap); there the shortcuts work while
  the app has the focus. Wayland has no global grabs for applications either.

Keys are written as Qt writes them (``"Ctrl+Shift+F8"``): modifiers ``Ctrl``,
``Shift``, ``Alt``, ``Meta`` (the Windows/Super key), then one key: a letter, a
digit, ``F1``–``F24``, or an X keysym name such as ``Pause`` or ``Scroll_Lock``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

ACTIONS = ("start_stop", "overlay", "click_through", "voice")


class HotkeyError(ValueError):
    """A key that cannot be understood or grabbed; the message says which and why."""


@dataclass(frozen=True)
class KeyCombo:
    """One key with its modifiers."""

    key: str
    ctrl: bool = False
    shift: bool = False
    alt: bool = False
    meta: bool = False


_MODIFIERS = {
    "ctrl": "ctrl",
    "control": "ctrl",
    "shift": "shift",
    "alt": "alt",
    "meta": "meta",
    "super": "meta",
    "win": "meta",
}


def parse_combo(text: str) -> KeyCombo:
    """``"Ctrl+Shift+F8"`` as a :class:`KeyCombo`; ``HotkeyError`` if it is not one key with modifiers."""
    parts = [p.strip() for p in text.split("+")]
    if not text.strip() or any(not p for p in parts):
        raise HotkeyError(f"{text!r} is not a key: write it like Ctrl+Shift+F8")
    *mods, key = parts
    flags = {}
    for mod in mods:
        name = _MODIFIERS.get(mod.lower())
        if name is None:
            raise HotkeyError(f"{text!r}: {mod!r} is not a modifier (Ctrl, Shift, Alt or Meta)")
        flags[name] = True
    if key.lower() in _MODIFIERS:
        raise HotkeyError(f"{text!r} has no key after its modifiers")
    return KeyCombo(key.upper() if len(key) == 1 else key, **flags)


class GlobalHotkeys:
    """Listens for ``bindings`` (action name -> key text) everywhere on the desktop.

    Args:
        bindings: e.g. ``{"overlay": "Ctrl+Shift+F8"}``; empty key texts are left out.
        on_hotkey: called with the action name, from the listener thread.

    ``problems`` lists the keys that could not be registered (taken by another
    program, unknown names) once :meth:`start` returns; ``unavailable`` says why
    this desktop allows no global hotkeys at all (empty when it does).
    """

    def __init__(self, bindings: Mapping[str, str], on_hotkey: Callable[[str], None]) -> None:
        self.bindings = {name: text for name, text in bindings.items() if text and text.strip()}
        self.on_hotkey = on_hotkey
        self.problems: list[str] = []
        self.unavailable = ""
        self._backend: _X11Backend | _WindowsBackend | None = None
        self._thread: threading.Thread | None = None

    @staticmethod
    def unsupported_reason() -> str | None:
        """Why global hotkeys cannot work on this desktop, or ``None``."""
        if sys.platform == "win32":
            return None
        if sys.platform == "darwin":
            return "Global hotkeys are not available on macOS yet: the shortcuts work while the app has the focus."
        if not os.environ.get("DISPLAY"):
            return (
                "Global hotkeys need X11 (this is not an X11 session): the shortcuts work while the app has the focus."
            )
        return None

    @property
    def listening(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Register the keys and start listening; ``problems`` then says which keys failed."""
        combos: dict[str, KeyCombo] = {}
        for name, text in self.bindings.items():
            try:
                combos[name] = parse_combo(text)
            except HotkeyError as exc:
                self.problems.append(str(exc))
        self.unavailable = self.unsupported_reason() or ""
        if self.unavailable or not combos:
            return
        backend: _X11Backend | _WindowsBackend = (
            _WindowsBackend(combos) if sys.platform == "win32" else _X11Backend(combos)
        )
        ready = threading.Event()
        self._backend = backend
        self._thread = threading.Thread(target=backend.run, args=(self.on_hotkey, ready), name="hotkeys", daemon=True)
        self._thread.start()
        ready.wait(10)
        self.problems.extend(backend.problems)

    def stop(self) -> None:
        if self._backend is not None:
            self._backend.stop()
        if self._thread is not None:
            self._thread.join(5)
        self._backend = self._thread = None


# -- X11 ---------------------------------------------------------------------------------------

_SHIFT_MASK, _LOCK_MASK, _CONTROL_MASK, _MOD1_MASK, _MOD2_MASK, _MOD4_MASK = 1, 2, 4, 8, 16, 64
_KEY_PRESS = 2
_GRAB_MODE_ASYNC = 1
_NO_SYMBOL = 0


class _XKeyEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("root", ctypes.c_ulong),
        ("subwindow", ctypes.c_ulong),
        ("time", ctypes.c_ulong),
        ("x", ctypes.c_int),
        ("y", ctypes.c_int),
        ("x_root", ctypes.c_int),
        ("y_root", ctypes.c_int),
        ("state", ctypes.c_uint),
        ("keycode", ctypes.c_uint),
        ("same_screen", ctypes.c_int),
    ]


class _XEvent(ctypes.Union):
    _fields_ = [("type", ctypes.c_int), ("xkey", _XKeyEvent), ("pad", ctypes.c_long * 24)]


def _x11_lib():
    from app.sources.x11_windows import _xlib

    lib = _xlib()
    lib.XStringToKeysym.restype = ctypes.c_ulong
    lib.XStringToKeysym.argtypes = [ctypes.c_char_p]
    lib.XKeysymToKeycode.restype = ctypes.c_ubyte
    lib.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    lib.XGrabKey.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_ulong,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.XUngrabKey.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_ulong]
    lib.XSelectInput.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_long]
    lib.XConnectionNumber.argtypes = [ctypes.c_void_p]
    lib.XPending.argtypes = [ctypes.c_void_p]
    lib.XNextEvent.argtypes = [ctypes.c_void_p, ctypes.POINTER(_XEvent)]
    return lib


class _X11Backend:
    def __init__(self, combos: dict[str, KeyCombo]) -> None:
        self.combos = combos
        self.problems: list[str] = []
        self._wake_r, self._wake_w = os.pipe()
        self._grabbed: dict[tuple[int, int], str] = {}  # (keycode, modifiers) -> action

    def stop(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    @staticmethod
    def _mask(combo: KeyCombo) -> int:
        return (
            (_CONTROL_MASK if combo.ctrl else 0)
            | (_SHIFT_MASK if combo.shift else 0)
            | (_MOD1_MASK if combo.alt else 0)
            | (_MOD4_MASK if combo.meta else 0)
        )

    def _grab(self, lib, dpy, root: int) -> None:
        """Grab every combo; keys another client holds are reported (BadAccess), not fatal."""
        from app.sources import x11_windows

        errors: list[int] = []

        def on_error(_dpy, _event) -> int:
            errors.append(1)
            return 0

        handler = x11_windows._ErrorHandler(on_error)
        with x11_windows._lock:  # Xlib's error handler is process-wide
            previous = lib.XSetErrorHandler(ctypes.cast(handler, ctypes.c_void_p))
            try:
                for name, combo in self.combos.items():
                    keysym = lib.XStringToKeysym(combo.key.encode())
                    if keysym == _NO_SYMBOL and len(combo.key) == 1:
                        keysym = lib.XStringToKeysym(combo.key.lower().encode())
                    keycode = lib.XKeysymToKeycode(dpy, keysym) if keysym != _NO_SYMBOL else 0
                    if not keycode:
                        self.problems.append(f"{_text(combo)}: no key {combo.key!r} on this keyboard")
                        continue
                    mask = self._mask(combo)
                    before = len(errors)
                    for extra in (0, _LOCK_MASK, _MOD2_MASK, _LOCK_MASK | _MOD2_MASK):
                        lib.XGrabKey(dpy, keycode, mask | extra, root, 1, _GRAB_MODE_ASYNC, _GRAB_MODE_ASYNC)
                    lib.XSync(dpy, 0)
                    if len(errors) > before:
                        for extra in (0, _LOCK_MASK, _MOD2_MASK, _LOCK_MASK | _MOD2_MASK):
                            lib.XUngrabKey(dpy, keycode, mask | extra, root)
                        lib.XSync(dpy, 0)
                        self.problems.append(
                            f"{_text(combo)} is already taken by another program: "
                            "choose another key in Settings › Hotkeys"
                        )
                        continue
                    self._grabbed[(keycode, mask)] = name
            finally:
                lib.XSync(dpy, 0)
                lib.XSetErrorHandler(previous)

    def run(self, on_hotkey: Callable[[str], None], ready: threading.Event) -> None:
        dpy = None
        try:
            lib = _x11_lib()
            dpy = lib.XOpenDisplay(os.environ["DISPLAY"].encode())
            if not dpy:
                self.problems.append(f"Global hotkeys: cannot open X11 display {os.environ['DISPLAY']}")
                return
            root = lib.XDefaultRootWindow(dpy)
            self._grab(lib, dpy, root)
            ready.set()
            if self._grabbed:
                self._listen(lib, dpy, on_hotkey)
        except Exception as exc:  # no libX11, a broken display: the shortcuts still work in the app
            self.problems.append(f"Global hotkeys are off: {exc}")
        finally:
            ready.set()
            if dpy:
                lib.XCloseDisplay(dpy)
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _listen(self, lib, dpy, on_hotkey: Callable[[str], None]) -> None:
        fd = lib.XConnectionNumber(dpy)
        event = _XEvent()
        ignore = ~(_LOCK_MASK | _MOD2_MASK)
        while True:
            while lib.XPending(dpy):
                lib.XNextEvent(dpy, ctypes.byref(event))
                if event.type == _KEY_PRESS:
                    name = self._grabbed.get((event.xkey.keycode, event.xkey.state & ignore & 0xFF))
                    if name is not None:
                        try:
                            on_hotkey(name)
                        except Exception:  # a failing listener must not end global hotkeys
                            log.exception("hotkey %s", name)
            readable, _, _ = select.select([fd, self._wake_r], [], [])
            if self._wake_r in readable:
                return


def _text(combo: KeyCombo) -> str:
    mods = [
        name
        for name, on in (("Ctrl", combo.ctrl), ("Shift", combo.shift), ("Alt", combo.alt), ("Meta", combo.meta))
        if on
    ]
    return "+".join([*mods, combo.key])


# -- Windows ----------------------------------------------------------------------------------

_MOD_ALT, _MOD_CONTROL, _MOD_SHIFT, _MOD_WIN, _MOD_NOREPEAT = 0x1, 0x2, 0x4, 0x8, 0x4000
_WM_HOTKEY, _WM_QUIT = 0x0312, 0x0012
_VK_NAMES = {
    "SPACE": 0x20,
    "PAUSE": 0x13,
    "SCROLL_LOCK": 0x91,
    "INSERT": 0x2D,
    "DELETE": 0x2E,
    "HOME": 0x24,
    "END": 0x23,
    "PAGE_UP": 0x21,
    "PRIOR": 0x21,
    "PAGE_DOWN": 0x22,
    "NEXT": 0x22,
}


def _virtual_key(key: str) -> int | None:
    upper = key.upper()
    if len(upper) == 1 and (upper.isalpha() or upper.isdigit()):
        return ord(upper)
    if upper.startswith("F") and upper[1:].isdigit() and 1 <= int(upper[1:]) <= 24:
        return 0x6F + int(upper[1:])
    return _VK_NAMES.get(upper.replace(" ", "_"))


class _WindowsBackend:
    def __init__(self, combos: dict[str, KeyCombo]) -> None:
        self.combos = combos
        self.problems: list[str] = []
        self._thread_id = 0

    def stop(self) -> None:
        if self._thread_id:
            ctypes.windll.user32.PostThreadMessageW(self._thread_id, _WM_QUIT, 0, 0)  # type: ignore[attr-defined]

    def run(self, on_hotkey: Callable[[str], None], ready: threading.Event) -> None:
        from ctypes import wintypes

        user32, kernel32 = ctypes.windll.user32, ctypes.windll.kernel32  # type: ignore[attr-defined]
        self._thread_id = kernel32.GetCurrentThreadId()
        ids: dict[int, str] = {}
        try:
            for number, (name, combo) in enumerate(self.combos.items(), start=1):
                vk = _virtual_key(combo.key)
                if vk is None:
                    self.problems.append(f"{_text(combo)}: no key {combo.key!r}")
                    continue
                mods = (
                    _MOD_NOREPEAT
                    | (_MOD_CONTROL if combo.ctrl else 0)
                    | (_MOD_SHIFT if combo.shift else 0)
                    | (_MOD_ALT if combo.alt else 0)
                    | (_MOD_WIN if combo.meta else 0)
                )
                if user32.RegisterHotKey(None, number, mods, vk):
                    ids[number] = name
                else:
                    self.problems.append(
                        f"{_text(combo)} is already taken by another program: choose another key in Settings › Hotkeys"
                    )
        finally:
            ready.set()
        msg = wintypes.MSG()
        while user32.GetMessageW(ctypes.byref(msg), None, 0, 0) > 0:
            if msg.message == _WM_HOTKEY and msg.wParam in ids:
                try:
                    on_hotkey(ids[msg.wParam])
                except Exception:
                    log.exception("hotkey %s", ids[msg.wParam])
        for number in ids:
            user32.UnregisterHotKey(None, number)
