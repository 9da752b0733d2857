"""Scenarios that need a real X server; ``test_xvfb.py`` runs them under Xvfb.

Qt picks its platform once per process, and the other GUI tests run offscreen,
so each scenario runs in its own process:

    DISPLAY=:N python tests/ui/xvfb_scenarios.py capture MODEL MMPROJ OUT_JSON
    DISPLAY=:N python tests/ui/xvfb_scenarios.py screenshots MODEL MMPROJ OUT_DIR

``own_windows``: the real app captures a region with its overlay (bright green
and magenta) over it; the frames handed to the engine must not hold the overlay.
``capture``: a Qt window shows a moving pattern with its time stamped in pixels
(``app.sources.synthetic.draw_frame``); the window and screen sources capture it
through mss, the stamps read back must advance, and a session streams the
window into the engine until chunks come back. Closing the window ends capture
with a message. ``screenshots``: the real app commentates a generated clip; the
main window and the overlay are captured (PNG files) with facts about them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ["QT_QPA_PLATFORM"] = "xcb"

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PySide6.QtCore import QObject, QPoint, Qt, QTimer, Signal  # noqa: E402
from PySide6.QtGui import QImage, QPainter, QRegion  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from app.sources.synthetic import draw_frame, read_stamp, write_test_video  # noqa: E402


class PatternWindow(QWidget):
    """Paints ``draw_frame(t)`` for the time since it opened, about 25 times a second."""

    def __init__(self, title: str) -> None:
        super().__init__()
        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.t0 = time.monotonic()
        self.timer = QTimer(self, interval=40, timeout=self.update)
        self.timer.start()
        self.setGeometry(100, 80, 480, 360)

    def paintEvent(self, _event) -> None:
        rgb = cv2.cvtColor(draw_frame(time.monotonic() - self.t0, (self.width(), self.height())), cv2.COLOR_BGR2RGB)
        image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888)
        QPainter(self).drawImage(0, 0, image)


class Relay(QObject):
    """Lets the worker thread ask the UI thread to do things."""

    call = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.call.connect(self._run)

    @staticmethod
    def _run(fn) -> None:
        fn()


def _pump(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def _stamps(source, n: int) -> list[float | None]:
    out = []
    for frame in source.frames():
        out.append(read_stamp(frame.rgb))
        if len(out) >= n:
            break
    source.close()
    return out


def capture(model: str, mmproj: str, out: str) -> None:
    from app.engine.host import EngineHost
    from app.engine.process import Load
    from app.errors import SourceError
    from app.settings import Settings, engine_options
    from app.sources.screen_source import Rect, ScreenSource, list_monitors
    from app.sources.window_source import WindowSource, list_windows
    from models.engine.records import ChunkDone

    app = QApplication([])
    app.setQuitOnLastWindowClosed(False)  # the pattern window is closed on purpose
    relay = Relay()
    title = f"LiveCC pattern {os.getpid()}"
    window = PatternWindow(title)
    window.show()
    _pump(app, 1.0)
    results: dict = {"monitors": [m.label for m in list_monitors()]}

    def work() -> None:
        try:
            info = WindowSource.wait_until_listed(title)
            results["listed"] = info is not None and info.title == title
            results["own_pid_excluded"] = all(w.title != title for w in list_windows(exclude_pid=os.getpid()))
            results["window_stamps"] = _stamps(WindowSource(info.id, info.title, capture_fps=8), 8)
            g = window.geometry()
            results["region_stamps"] = _stamps(ScreenSource(region=Rect(g.x(), g.y(), g.width(), g.height())), 6)

            done, ready = [], threading.Event()
            finished = threading.Event()

            class Listener:
                def __getattr__(self, name):
                    return lambda *a: None

                def on_loaded(self, _):
                    ready.set()

                def on_event(self, event):
                    if isinstance(event, ChunkDone):
                        done.append((event.t0, event.t1))

                def on_finished(self, ended):
                    results["session_end"] = ended.reason
                    finished.set()

            listener = Listener()
            host = EngineHost(listener)
            options = engine_options(
                Settings().replace("model", n_ctx=4096, n_threads=1).replace("commentary", greedy=True)
            )
            host.load(Load(model, mmproj, options, "Describe."))
            ready.wait(120)
            session = host.start_session(
                WindowSource(info.id, info.title),
                listener,
                query="Describe.",
                transcript_path=None,
                max_pixels=200 * 28 * 28,
            )
            deadline = time.monotonic() + 120
            while len(done) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            session.stop()
            finished.wait(60)
            results["chunks"] = done
            results["max_lag_s"] = round(session.meter.max_lag_s, 2)
            host.shutdown()

            source = WindowSource(info.id, info.title)
            frames = 0
            try:
                for _frame in source.frames():
                    frames += 1
                    if frames == 2:
                        relay.call.emit(window.close)
                results["after_close"] = "no error"
            except SourceError as exc:
                results["after_close"] = str(exc)
            results["frames_before_close"] = frames
        except Exception as exc:  # reported to the test, which fails with it
            results["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            relay.call.emit(app.quit)

    threading.Thread(target=work, daemon=True).start()
    app.exec()
    Path(out).write_text(json.dumps(results))


def _not_blank(image: np.ndarray) -> dict:
    return {"std": float(image.std()), "colours": int(len(np.unique(image.reshape(-1, image.shape[-1])[::97], axis=0)))}


def screenshots(model: str, mmproj: str, out_dir: str) -> None:
    import mss

    from app.settings import Settings, SettingsStore
    from models.engine.records import ChunkDone
    from ui.engine_bridge import EngineBridge
    from ui.main_window import MainWindow
    from ui.style import apply_theme

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="livecc-shots-"))
    (work / "Videos").mkdir()
    clip = write_test_video(work / "Videos" / "match.mp4", 30.0, fps=10, size=(640, 360))
    app = QApplication([])
    apply_theme(app)
    s = Settings().replace("model", model_path=model, mmproj_path=mmproj, n_ctx=4096, n_threads=1)
    s = s.replace("commentary", greedy=False, query="Commentate the match like a TV caster.")
    s = s.replace("capture", kind="file", file_path=str(clip), transcript_dir=str(work / "transcripts"))
    s = s.replace("overlay", fade_after_s=0.0, font_size=26)
    store = SettingsStore(work / "config")
    store.save(s)
    window = MainWindow(store, store.load(), EngineBridge(work / "logs"))
    window.setGeometry(0, 0, 1240, 760)
    window.show()
    chunks = []

    def keep(event) -> None:
        if isinstance(event, ChunkDone):
            chunks.append(event)

    window.bridge.engineEvent.connect(keep)
    window.load_model(window.model_panel.current())
    _pump_until(app, lambda: window.bridge.state.value == "ready", 120)
    window.start()
    _pump_until(app, lambda: len(chunks) >= 12, 240)
    _pump(app, 0.5)
    facts = {
        "chunks": len(chunks),
        "running": window.running,
        "start_text": window.start_action.text(),
        "state": window.status.state.text(),
        "preview_frames": window.preview.frames_shown,
        "transcript_chars": len(window.transcript.toPlainText()),
        "widgets_visible": all(
            w.isVisible()
            for w in (window.start_button, window.preview, window.transcript, window.source, window.model_panel)
        ),
    }
    g = window.frameGeometry()
    with mss.MSS() if hasattr(mss, "MSS") else mss.mss() as sct:
        shot = np.asarray(sct.grab({"left": g.x(), "top": g.y(), "width": g.width(), "height": g.height()}))
    main = cv2.cvtColor(shot, cv2.COLOR_BGRA2BGR)
    cv2.imwrite(str(out / "main-window.png"), main)
    p = window.preview.geometry()
    origin = window.preview.mapTo(window, QPoint(0, 0))
    preview = main[origin.y() : origin.y() + p.height(), origin.x() : origin.x() + p.width()]
    facts["main"] = _not_blank(main)
    facts["preview_region"] = _not_blank(preview)
    grabbed = window.grab().toImage()
    facts["grab_size"] = [grabbed.width(), grabbed.height()]

    # The overlay as a compositor shows it over a game: rendered onto a game frame.
    frame = cv2.cvtColor(draw_frame(7.3, (1280, 720)), cv2.COLOR_BGR2RGB)
    scene = QImage(frame.data, 1280, 720, frame.strides[0], QImage.Format.Format_RGB888).copy()
    overlay = window.overlay
    overlay.resize(820, overlay.preferred_height())
    if not overlay.text:
        overlay.show_text(" ".join(c.text.strip() for c in chunks if not c.silent)[-200:])
    painter = QPainter(scene)
    overlay.render(
        painter,
        QPoint((1280 - overlay.width()) // 2, 720 - overlay.height() - 130),
        QRegion(),
        QWidget.RenderFlag.DrawWindowBackground,
    )  # no resize grip
    painter.end()
    scene.save(str(out / "overlay.png"))
    facts["overlay_lines"] = overlay.visible_lines()
    window.stop()
    _pump_until(app, lambda: not window.running, 60)
    window.close()
    shutil.rmtree(work, ignore_errors=True)
    (out / "facts.json").write_text(json.dumps(facts, indent=2))


def _pump_until(app: QApplication, condition, seconds: float) -> None:
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def _overlay_pixels(rgb: np.ndarray) -> int:
    """Pixels of the overlay's box (pure blue) or text (magenta) in an RGB picture.

    Neither colour is in the pattern, nor can resizing make it: the pattern's green
    (60, 220, 60) rings past g = 235 next to black under bicubic resizing, so green
    would be a false alarm.
    """
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    blue = (b > 200) & (r < 60) & (g < 60)
    magenta = (r > 200) & (b > 200) & (g < 60)
    return int((blue | magenta).sum())


def own_windows(model: str, mmproj: str, out: str) -> None:
    """The real app captures a region with its overlay over it; record what the engine is given."""
    import mss

    from app.engine.process import Chunk
    from app.settings import Settings, SettingsStore
    from app.sources.screen_source import Rect
    from ui.engine_bridge import EngineBridge
    from ui.main_window import MainWindow

    work = Path(tempfile.mkdtemp(prefix="livecc-own-"))
    app = QApplication([])
    pattern = PatternWindow(f"LiveCC pattern {os.getpid()}")
    pattern.show()
    s = Settings().replace("model", model_path=model, mmproj_path=mmproj, n_ctx=4096, n_threads=1)
    s = s.replace("commentary", greedy=True)
    s = s.replace("capture", transcript_dir=str(work / "transcripts"))
    s = s.replace(
        "overlay",
        text_color="#FF00FF",
        background_color="#0000FF",
        background_opacity=1.0,
        outline_width=0.0,
        shadow=False,
        fade_after_s=0.0,
        font_size=30,
    )
    store = SettingsStore(work / "config")
    store.save(s)
    window = MainWindow(store, store.load(), EngineBridge(work / "logs"))
    window.setGeometry(600, 0, 680, 780)  # beside the captured region, not over it
    window.show()
    window.set_overlay_visible(True)
    overlay = window.overlay
    overlay.show_text("OWN CAPTIONS OWN CAPTIONS")
    overlay.setGeometry(150, 300, 380, 100)  # over the captured region
    pattern.raise_()
    overlay.raise_()
    _pump(app, 1.0)
    region = Rect(100, 80, 480, 360)
    with mss.MSS() if hasattr(mss, "MSS") else mss.mss() as sct:
        raw = cv2.cvtColor(np.asarray(sct.grab(region.as_mss())), cv2.COLOR_BGRA2RGB)
    results: dict = {
        "overlay_visible": overlay.isVisible(),
        "raw_overlay_pixels": _overlay_pixels(raw),
        "published": [list(vars(r).values()) for r in window.own_windows()],
    }
    window.source.set_kind("region")
    window.source.set_region(region)
    window.load_model(window.model_panel.current())
    _pump_until(app, lambda: window.bridge.state.value == "ready", 120)
    chunks: list = []
    window.start()
    session = window.bridge.session
    results["started"] = session is not None
    if session is not None:
        send = session.engine.send

        def record(message) -> None:
            if isinstance(message, Chunk):
                chunks.append(message.chunk)
            send(message)

        session.engine.send = record
        _pump_until(app, lambda: len(chunks) >= 2, 120)
        window.stop()
        _pump_until(app, lambda: not window.running, 60)
        session.engine.send = send
    frames = [f.rgb for c in chunks for f in c.frames]
    results["frames"] = len(frames)
    results["frame_overlay_pixels"] = [_overlay_pixels(rgb) for rgb in frames]
    results["frame_std"] = [float(rgb.std()) for rgb in frames]
    if frames:
        cv2.imwrite(str(Path(out).with_suffix(".png")), cv2.cvtColor(frames[-1], cv2.COLOR_RGB2BGR))
    window.close()
    shutil.rmtree(work, ignore_errors=True)
    Path(out).write_text(json.dumps(results))


def other_app(title: str) -> None:
    """Another application (its own X client): a text field that takes the focus."""
    from PySide6.QtWidgets import QLineEdit

    app = QApplication([])
    field = QLineEdit()
    field.setWindowTitle(title)
    field.setGeometry(300, 300, 400, 60)
    field.show()
    app.exec()


def _xdotool(*args: str) -> str:
    import subprocess

    return subprocess.run(["xdotool", *args], capture_output=True, text=True, timeout=30).stdout.strip()


def hotkeys(model: str, mmproj: str, out: str) -> None:
    """Global hotkeys typed (xdotool, XTEST) while another application has the focus."""
    import subprocess

    from app.settings import Settings, SettingsStore
    from app.sources.screen_source import Rect
    from ui.engine_bridge import EngineBridge
    from ui.main_window import MainWindow

    work = Path(tempfile.mkdtemp(prefix="livecc-keys-"))
    app = QApplication([])
    s = Settings().replace("model", model_path=model, mmproj_path=mmproj, n_ctx=4096, n_threads=1)
    s = s.replace("commentary", greedy=True).replace("capture", transcript_dir=str(work / "transcripts"))
    store = SettingsStore(work / "config")
    store.save(s)
    window = MainWindow(
        store,
        store.load(),
        EngineBridge(work / "logs"),
        speaker_factory=lambda *a, **k: type(
            "Quiet", (), {"clear": lambda self: None, "close": lambda self: None, "available": True}
        )(),
    )
    window.setGeometry(0, 0, 900, 700)
    window.show()
    window.source.set_kind("region")
    window.source.set_region(Rect(0, 0, 320, 240))
    window.load_model(window.model_panel.current())
    _pump_until(app, lambda: window.bridge.state.value == "ready", 120)
    results: dict = {
        "listening": window.hotkeys is not None and window.hotkeys.listening,
        "problems": window.hotkeys.problems if window.hotkeys else None,
    }
    title = f"Other app {os.getpid()}"
    other = subprocess.Popen([sys.executable, __file__, "other_app", title])
    try:
        wid = ""
        for _ in range(100):
            wid = _xdotool("search", "--name", title)
            if wid:
                break
            _pump(app, 0.1)
        wid = wid.splitlines()[0] if wid else ""
        _xdotool("windowfocus", "--sync", wid)
        _pump(app, 0.3)
        results["other_has_focus"] = bool(wid) and _xdotool("getwindowfocus") == wid

        def press(combo: str, condition) -> bool:
            _xdotool("key", combo)
            _pump_until(app, condition, 10)
            return bool(condition())

        results["overlay_on"] = press("ctrl+shift+F8", lambda: window.overlay_action.isChecked())
        results["overlay_off"] = press("ctrl+shift+F8", lambda: not window.overlay_action.isChecked())
        results["click_through_on"] = press("ctrl+shift+F9", lambda: window.click_through_action.isChecked())
        results["voice_on"] = press("ctrl+shift+F10", lambda: window.voice_action.isChecked())
        results["started"] = press("ctrl+shift+F5", lambda: window.running)
        results["stopped"] = press("ctrl+shift+F5", lambda: not window.running)
        results["other_still_has_focus"] = _xdotool("getwindowfocus") == wid
        results["plain_f8_ignored"] = not press("F8", lambda: window.overlay_action.isChecked())
    finally:
        other.terminate()
        other.wait(10)
    window.close()
    results["stopped_listening"] = window.hotkeys is None
    shutil.rmtree(work, ignore_errors=True)
    Path(out).write_text(json.dumps(results))


if __name__ == "__main__":
    {
        "capture": capture,
        "screenshots": screenshots,
        "own_windows": own_windows,
        "hotkeys": hotkeys,
        "other_app": other_app,
    }[sys.argv[1]](*sys.argv[2:])
