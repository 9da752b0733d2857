"""A video player for review: play, pause, seek, step and slow motion, with burned-in captions.

No QtMultimedia (it would pull in platform media backends that differ per OS and
bloat the bundle): frames come from :class:`~app.sources.file_source.FileSource`
(the decoder and true timestamps the model saw, accurate seeking included) in a
reader thread that paces playback by the wall clock. Each picture is scaled
for display and gets the same captions and drawings the MP4 export burns in
(:mod:`app.export.captions`, :mod:`app.review.drawings`), so what the coach sees is what the team will get. Only
the newest picture waits for the UI: a slow machine skips frames while playing,
never falls behind.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QWidget

from app.export.captioned_video import nominal_fps
from app.export.captions import CaptionRenderer, CaptionStyle, CaptionTrack
from app.review.drawings import DrawingTrack, render_shapes
from app.sources.file_source import FileSource
from models.errors import LiveCCError

DISPLAY_MAX_WIDTH = 960


class FrameReader(QObject):
    """Decodes ``path`` in its own thread; all commands return at once.

    ``frameShown`` carries the picture with captions, the frame's time and the
    raw frame (RGB, display size) for tests and snapshots.
    """

    frameShown = Signal(QImage, float, object)
    playingChanged = Signal(bool)
    failed = Signal(str)

    def __init__(self, path: str | Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.fps = nominal_fps(self.path)
        probe = FileSource(self.path)
        probe.open()  # fails here, in the caller, if the file cannot be played
        self.duration = probe.duration_hint or 0.0
        probe.close()
        self.position = 0.0
        self.rate = 1.0
        self.track = CaptionTrack([])
        self.notes = CaptionTrack([])
        self.style = CaptionStyle()
        self.drawings = DrawingTrack()
        self.playing = False
        self._cond = threading.Condition()
        self._seek: float | None = 0.0
        self._steps = 0
        self._refresh = False
        self._stopping = False
        self._pending = False
        self._source: FileSource | None = None
        self._frames = None
        self._raw: np.ndarray | None = None
        self._renderers: tuple[CaptionRenderer, CaptionRenderer] | None = None
        self._thread = threading.Thread(target=self._run, name="review-player", daemon=True)
        self._thread.start()

    # -- commands (UI thread) --------------------------------------------------------------
    def _command(self, **changes) -> None:
        with self._cond:
            for name, value in changes.items():
                setattr(self, name, value)
            self._cond.notify_all()

    def seek(self, t: float) -> None:
        """Show the first frame at or after ``t``; the newest seek wins."""
        self._command(_seek=max(0.0, float(t)), _steps=0)

    def step(self, frames: int) -> None:
        """Pause and move ``frames`` frames forward (or back, if negative)."""
        self.pause()
        with self._cond:
            self._steps += frames
            self._cond.notify_all()

    def play(self) -> None:
        if not self.playing:
            self._command(playing=True)
            self.playingChanged.emit(True)

    def pause(self) -> None:
        if self.playing:
            self._command(playing=False)
            self.playingChanged.emit(False)

    def set_rate(self, rate: float) -> None:
        self._command(rate=max(0.05, float(rate)))

    def set_tracks(self, captions: CaptionTrack, notes: CaptionTrack) -> None:
        """Draw these captions (bottom) and notes (top) from now on; redraws the picture shown."""
        self._command(track=captions, notes=notes, _refresh=True)

    def set_drawings(self, drawings: DrawingTrack) -> None:
        """Burn these drawings into the picture (under the captions) from now on; redraws it."""
        self._command(drawings=drawings, _refresh=True)

    def set_style(self, style: CaptionStyle) -> None:
        """Draw captions and notes this way from now on (size, place, lines, shown); redraws the picture."""
        self._command(style=style, _refresh=True)

    @property
    def current_frame(self) -> np.ndarray | None:
        """The picture at :attr:`position` (RGB, display size, without captions)."""
        return self._raw

    def shown(self) -> None:
        """The UI painted the last picture: the next one may come."""
        self._pending = False

    def close(self) -> None:
        self._command(_stopping=True, playing=False)
        self._thread.join(5)

    # -- the reader thread ------------------------------------------------------------------
    def _open_at(self, t: float) -> None:
        if self._source is not None:
            self._source.close()
        self._source = FileSource(self.path, start=t)
        self._frames = self._source.frames()

    def _next(self):
        if self._frames is None:
            return None
        try:
            return next(self._frames)
        except (StopIteration, LiveCCError):  # the end, or a seek past the last frame
            self._frames = None
            return None

    def _last_frame_before(self, t: float):
        """The last frame before ``t`` (a seek to the very end shows the last picture, not nothing)."""
        self._open_at(max(0.0, min(t, self.duration or t) - 1.0))
        last = None
        while (frame := self._next()) is not None:
            last = frame
        return last

    def _run(self) -> None:
        try:
            self._loop()
        except LiveCCError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a decoder bug must not pass silently
            self.failed.emit(f"Playback failed ({type(exc).__name__}: {exc}).")
        finally:
            if self._source is not None:
                self._source.close()

    def _loop(self) -> None:
        clock_start = frame_start = None
        while True:
            with self._cond:
                while not (self._stopping or self._seek is not None or self._steps or self._refresh or self.playing):
                    self._cond.wait()
                if self._stopping:
                    return
                seek, self._seek = self._seek, None
                steps, self._steps = self._steps, 0
                refresh, self._refresh = self._refresh, False
                playing = self.playing
            if seek is not None or steps < 0:
                target = seek if seek is not None else max(0.0, self.position + (steps - 0.5) / self.fps)
                self._open_at(target)
                frame = self._next()
                if frame is None and target > 0:  # at or past the end (End key, slider's far right)
                    frame = self._last_frame_before(target)
                if frame is not None:
                    self._show(frame, force=True)
                clock_start = None
                continue
            if steps > 0:
                for _ in range(steps):
                    frame = self._next()
                    if frame is None:
                        break
                    self._show(frame, force=True)
                continue
            if refresh and self._raw is not None:
                self._show(None, force=True)
            if not playing:
                clock_start = None
                continue
            frame = self._next()
            if frame is None:
                self._command(playing=False)
                self.playingChanged.emit(False)
                continue
            if clock_start is None:
                clock_start, frame_start = time.monotonic(), frame.t
            due = clock_start + (frame.t - frame_start) / self.rate
            with self._cond:
                while not (self._stopping or self._seek is not None or self._steps or not self.playing):
                    left = due - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                interrupted = self._seek is not None or self._steps or not self.playing or self._stopping
            if not interrupted:
                self._show(frame, force=False)

    def _show(self, frame, force: bool) -> None:
        if frame is not None:
            rgb = frame.rgb
            if rgb.shape[1] > DISPLAY_MAX_WIDTH:
                size = (DISPLAY_MAX_WIDTH, round(rgb.shape[0] * DISPLAY_MAX_WIDTH / rgb.shape[1]))
                rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            self._raw, self.position = rgb, frame.t
        if self._pending and not force:
            return  # the UI is behind: drop this picture, keep time
        raw = self._raw
        h, w = raw.shape[:2]
        style, made = self.style, self._renderers
        if made is None or (made[0].width, made[0].height, made[0].style) != (w, h, style):
            self._renderers = (CaptionRenderer(w, h, style), CaptionRenderer(w, h, style, position="top"))
        shown = raw.copy()
        render_shapes(shown, self.drawings.at(self.position))
        self._renderers[0].draw(shown, self.track.text_at(self.position))
        self._renderers[1].draw(shown, self.notes.text_at(self.position))
        image = QImage(shown.data, w, h, shown.strides[0], QImage.Format.Format_RGB888).copy()
        self._pending = True
        self.frameShown.emit(image, self.position, raw)


class FrameView(QWidget):
    """Paints the newest picture, scaled to fit, on black."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 180)
        self.image: QImage | None = None
        self.message = "Open a video to review it."

    def show_image(self, image: QImage) -> None:
        self.image = image
        self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#000000"))
        if self.image is None or self.image.isNull():
            p.setPen(QColor("#6e7681"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.message)
            return
        size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x, y = (self.width() - size.width()) / 2, (self.height() - size.height()) / 2
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(QRectF(x, y, size.width(), size.height()), self.image)
