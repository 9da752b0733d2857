"""Drawing a capture region on the screen, the way screenshot tools do.

One dimmed, frameless window covers each screen; the user drags a rectangle on
any of them (Esc or a right-click cancels). Qt works in logical pixels, mss in
physical ones, so the rectangle is converted with that screen's device pixel
ratio. Qt 6 keeps each screen's top-left corner in native (physical)
coordinates and scales only sizes, so a point ``p`` on screen ``s`` is at
``s.topLeft + (p - s.topLeft) * dpr`` in physical pixels.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPoint, QRect, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPainter, QPen
from PySide6.QtWidgets import QWidget

from app.sources.screen_source import Rect

MIN_SIDE = 28


def to_physical(rect: QRect, screen) -> Rect:
    """``rect`` (global logical pixels on ``screen``) in mss's physical desktop pixels."""
    origin = screen.geometry().topLeft()
    dpr = screen.devicePixelRatio()
    left = origin.x() + round((rect.left() - origin.x()) * dpr)
    top = origin.y() + round((rect.top() - origin.y()) * dpr)
    return Rect(left, top, round(rect.width() * dpr), round(rect.height() * dpr))


class _ScreenCover(QWidget):
    """The dimmed cover of one screen, with the rubber band."""

    drawn = Signal(QRect, object)  # global logical rect, QScreen
    cancelled = Signal()

    def __init__(self, screen) -> None:
        super().__init__(
            None, Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint | Qt.WindowType.Tool
        )
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setWindowTitle("Draw the capture region")
        self._screen = screen
        self._start: QPoint | None = None
        self._end: QPoint | None = None
        self.setGeometry(screen.geometry())

    def selection(self) -> QRect | None:
        if self._start is None or self._end is None:
            return None
        return QRect(self._start, self._end).normalized()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(0, 0, 0, 110))
        sel = self.selection()
        p.setPen(QColor(255, 255, 255))
        if sel is None:
            p.drawText(
                self.rect(), Qt.AlignmentFlag.AlignCenter, "Drag to draw the region to commentate · Esc to cancel"
            )
            return
        p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Clear)
        p.fillRect(sel, Qt.GlobalColor.transparent)
        p.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
        p.setPen(QPen(QColor("#3daee9"), 2))
        p.drawRect(sel)
        phys = to_physical(sel.translated(self.geometry().topLeft()), self._screen)
        p.setPen(QColor(255, 255, 255))
        p.drawText(sel.topLeft() + QPoint(4, -6), f"{phys.width} × {phys.height}")

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.RightButton:
            self.cancelled.emit()
            return
        self._start = self._end = event.position().toPoint()
        self.update()

    def mouseMoveEvent(self, event) -> None:
        if self._start is not None:
            self._end = event.position().toPoint()
            self.update()

    def mouseReleaseEvent(self, event) -> None:
        sel = self.selection()
        if event.button() != Qt.MouseButton.LeftButton or sel is None:
            return
        if sel.width() < MIN_SIDE or sel.height() < MIN_SIDE:
            self._start = self._end = None
            self.update()
            return
        self.drawn.emit(sel.translated(self.geometry().topLeft()), self._screen)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()


class RegionSelector(QObject):
    """Covers every screen; emits ``selected`` with a physical :class:`Rect`, or ``cancelled``."""

    selected = Signal(object)
    cancelled = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.covers: list[_ScreenCover] = []

    def start(self) -> None:
        for screen in QGuiApplication.screens():
            cover = _ScreenCover(screen)
            cover.drawn.connect(self._drawn)
            cover.cancelled.connect(self._cancel)
            cover.show()
            cover.activateWindow()
            self.covers.append(cover)

    def _close_all(self) -> None:
        covers, self.covers = self.covers, []
        for cover in covers:
            cover.close()

    def _drawn(self, rect: QRect, screen) -> None:
        self._close_all()
        self.selected.emit(to_physical(rect, screen))

    def _cancel(self) -> None:
        self._close_all()
        self.cancelled.emit()
