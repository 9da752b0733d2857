"""Choosing what to commentate: a monitor, a region, a window, a webcam or a video file.

One page per kind, each asking only what that kind needs. Lists (monitors,
windows, cameras) are filled when the page is shown and on "Refresh". Probing
cameras can take seconds on some systems, so it runs in a worker thread and the
list arrives by signal. :meth:`SourcePicker.build_source` turns the choice into
a :class:`~app.sources.base.FrameSource`, or raises ``SourceError`` saying what
is missing.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.errors import SourceError
from app.settings import CaptureSettings
from app.sources.base import FrameSource
from app.sources.camera_source import CameraSource, list_cameras
from app.sources.file_source import FileSource
from app.sources.screen_source import Rect, ScreenSource, list_monitors
from app.sources.window_source import WindowSource, list_windows

KINDS = (
    ("screen", "Screen"),
    ("region", "Region of the screen"),
    ("window", "Window"),
    ("camera", "Webcam"),
    ("file", "Video file"),
)
VIDEO_FILTER = "Videos (*.mp4 *.mkv *.avi *.mov *.webm *.m4v *.ts *.flv);;All files (*)"


def _row(*widgets: QWidget) -> QWidget:
    box = QWidget()
    layout = QHBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        layout.addWidget(w, 1 if isinstance(w, (QComboBox, QLineEdit)) else 0)
    return box


class SourcePicker(QWidget):
    """The source chooser. ``changed`` fires when the choice changes."""

    changed = Signal()
    drawRegionRequested = Signal()
    camerasFound = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = QComboBox()
        for key, label in KINDS:
            self.kind.addItem(label, key)
        self.pages = QStackedWidget()
        self.problem = QLabel(wordWrap=True, objectName="sourceProblem")
        self.problem.hide()
        self.region: Rect | None = None

        self.monitors = QComboBox()
        self.pages.addWidget(_row(self.monitors))

        self.region_label = QLabel("No region drawn yet")
        # A lambda: ``clicked`` passes ``checked``, which a signal without arguments refuses.
        self.draw_region = QPushButton("Draw region…", clicked=lambda: self.drawRegionRequested.emit())
        self.pages.addWidget(_row(self.region_label, self.draw_region))

        self.windows = QComboBox()
        self.windows.setMinimumContentsLength(18)
        self.refresh_windows = QPushButton("Refresh", clicked=self.fill_windows)
        self.pages.addWidget(_row(self.windows, self.refresh_windows))

        self.cameras = QComboBox()
        self.refresh_cameras = QPushButton("Refresh", clicked=self.fill_cameras)
        self.pages.addWidget(_row(self.cameras, self.refresh_cameras))

        file_page = QWidget()
        form = QFormLayout(file_page)
        form.setContentsMargins(0, 0, 0, 0)
        self.file_path = QLineEdit(placeholderText="Choose a video file…")
        self.browse = QPushButton("Browse…", clicked=self.choose_file)
        form.addRow(_row(self.file_path, self.browse))
        self.start_at = QDoubleSpinBox(suffix=" s", decimals=1, maximum=10 * 3600.0)
        self.start_at.setToolTip("Start commentating this far into the file (resume after a stop).")
        form.addRow("Start at", self.start_at)
        self.pages.addWidget(file_page)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.kind)
        layout.addWidget(self.pages)
        layout.addWidget(self.problem)

        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.camerasFound.connect(self._show_cameras)
        for combo in (self.monitors, self.windows, self.cameras):
            combo.currentIndexChanged.connect(self.changed)
        self.file_path.textChanged.connect(self.changed)
        self._kind_changed()

    # -- pages ------------------------------------------------------------------------

    @property
    def current_kind(self) -> str:
        return self.kind.currentData()

    def set_kind(self, kind: str) -> None:
        index = self.kind.findData(kind)
        if index >= 0:
            self.kind.setCurrentIndex(index)

    def _kind_changed(self) -> None:
        self.pages.setCurrentIndex(self.kind.currentIndex())
        self._say("")
        kind = self.current_kind
        if kind == "screen" and self.monitors.count() == 0:
            self.fill_monitors()
        elif kind == "window":
            self.fill_windows()
        elif kind == "camera" and self.cameras.count() == 0:
            self.fill_cameras()
        self.changed.emit()

    def _say(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.setVisible(bool(text))

    def fill_monitors(self) -> None:
        self.monitors.clear()
        try:
            for m in list_monitors():
                self.monitors.addItem(m.label, m.index)
        except SourceError as exc:
            self._say(str(exc))

    def fill_windows(self) -> None:
        keep = self.windows.currentText()
        self.windows.clear()
        try:
            for w in list_windows(exclude_pid=os.getpid()):
                self.windows.addItem(w.title, w.id)
        except SourceError as exc:
            self._say(str(exc))
            return
        if self.windows.count() == 0:
            self._say("No windows found: open the game or program to commentate, then Refresh.")
        index = self.windows.findText(keep)
        if index >= 0:
            self.windows.setCurrentIndex(index)

    def fill_cameras(self) -> None:
        self.cameras.clear()
        self.cameras.addItem("Looking for cameras…", None)
        self.refresh_cameras.setEnabled(False)
        threading.Thread(target=lambda: self.camerasFound.emit(list_cameras()), daemon=True).start()

    def _show_cameras(self, cameras: list) -> None:
        self.refresh_cameras.setEnabled(True)
        self.cameras.clear()
        for cam in cameras:
            self.cameras.addItem(cam.label, cam)
        if not cameras:
            self._say("No camera found. Plug one in, then Refresh.")

    def choose_file(self) -> None:
        start = str(Path(self.file_path.text()).parent) if self.file_path.text() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open a video", start, VIDEO_FILTER)
        if path:
            self.file_path.setText(path)
            self.start_at.setValue(0.0)

    def set_region(self, rect: Rect) -> None:
        self.region = rect
        self.region_label.setText(f"{rect.width} × {rect.height} at {rect.left}, {rect.top}")
        self.changed.emit()

    # -- result ----------------------------------------------------------------------

    def build_source(self, capture_fps: float) -> FrameSource:
        """The chosen source, not yet opened; ``SourceError`` if the choice is incomplete."""
        kind = self.current_kind
        if kind == "screen":
            if self.monitors.currentData() is None:
                raise SourceError("No monitor to capture: " + (self.problem.text() or "none was found."))
            return ScreenSource(monitor=self.monitors.currentData(), capture_fps=capture_fps)
        if kind == "region":
            if self.region is None:
                raise SourceError("Draw the region to capture first (\u201cDraw region…\u201d).")
            return ScreenSource(region=self.region, capture_fps=capture_fps)
        if kind == "window":
            if self.windows.currentData() is None:
                raise SourceError("Choose a window to capture (Refresh the list if it is missing).")
            return WindowSource(self.windows.currentData(), self.windows.currentText(), capture_fps)
        if kind == "camera":
            cam = self.cameras.currentData()
            if cam is None:
                raise SourceError("Choose a camera (Refresh the list if yours is missing).")
            return CameraSource(cam.index, cam.name)
        path = self.file_path.text().strip()
        if not path:
            raise SourceError("Choose a video file to commentate (Browse…).")
        return FileSource(path, start=self.start_at.value())

    def describe(self) -> str:
        kind = self.current_kind
        detail = {
            "screen": self.monitors.currentText(),
            "region": self.region_label.text(),
            "window": self.windows.currentText(),
            "camera": self.cameras.currentText(),
            "file": Path(self.file_path.text()).name,
        }[kind]
        return f"{dict(KINDS)[kind]}: {detail}" if detail else dict(KINDS)[kind]

    def load_settings(self, capture: CaptureSettings) -> None:
        self.file_path.setText(capture.file_path)
        if capture.region[2] > 0 and capture.region[3] > 0:
            self.set_region(Rect(*capture.region))
        self.set_kind(capture.kind)
        if capture.kind == "screen":
            index = self.monitors.findData(capture.monitor)
            if index >= 0:
                self.monitors.setCurrentIndex(index)
        elif capture.kind == "window" and capture.window_title:
            index = self.windows.findText(capture.window_title)
            if index >= 0:
                self.windows.setCurrentIndex(index)

    def to_settings(self, capture: CaptureSettings) -> dict:
        """The choice as changes to ``CaptureSettings``."""
        changes = {"kind": self.current_kind, "file_path": self.file_path.text().strip()}
        if self.monitors.currentData() is not None:
            changes["monitor"] = int(self.monitors.currentData())
        if self.region is not None:
            r = self.region
            changes["region"] = (r.left, r.top, r.width, r.height)
        if self.windows.currentText():
            changes["window_title"] = self.windows.currentText()
        cam = self.cameras.currentData()
        if cam is not None:
            changes["camera"] = cam.index
        return changes
