"""The picture a coach draws on: mouse strokes become shapes in fractions of the frame.

The player shows the frame scaled to fit its widget, centred, with black bars
on the sides or above and below (letterboxing); a stroke is kept in fractions
of the frame itself (0..1 across and down), so it lands on the same players
whatever the window's size, in the player and in every export. While the mouse
is down the shape is previewed here with QPainter; once released it is handed
on (``shapeDrawn``) to be saved and burned into the picture by
:func:`app.review.drawings.render_shapes`, as exports burn it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QInputDialog, QWidget

from app.review.drawings import MAX_POINTS, Shape
from ui.review.player import FrameView

Point = tuple[float, float]
MIN_DRAG = 0.004  # a click without a drag (in frame fractions) draws no arrow, line or circle
FREEHAND_STEP = 0.002  # free hand keeps a point once the mouse moved this far


def picture_rect(image: QSize, widget: QSize) -> QRectF:
    """Where a picture of size ``image`` is painted in a widget of size ``widget`` (fit, centred)."""
    size = image.scaled(widget, Qt.AspectRatioMode.KeepAspectRatio)
    x, y = (widget.width() - size.width()) / 2, (widget.height() - size.height()) / 2
    return QRectF(x, y, size.width(), size.height())


def to_fraction(rect: QRectF, pos: QPointF, *, clamp: bool = False) -> Point | None:
    """``pos`` in the widget as fractions of the picture; ``None`` on the black bars unless ``clamp``."""
    if rect.width() <= 0 or rect.height() <= 0:
        return None
    x, y = (pos.x() - rect.x()) / rect.width(), (pos.y() - rect.y()) / rect.height()
    if clamp:
        return min(1.0, max(0.0, x)), min(1.0, max(0.0, y))
    return (x, y) if 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0 else None


def to_widget(rect: QRectF, point: Point) -> QPointF:
    """A frame fraction back to widget coordinates."""
    return QPointF(rect.x() + point[0] * rect.width(), rect.y() + point[1] * rect.height())


def ask_text(parent: QWidget) -> str:
    """The words of a text shape, asked in a small dialog ("" when cancelled)."""
    text, ok = QInputDialog.getText(parent, "Text on the picture", "Text:")
    return text.strip() if ok else ""


class DrawingFrameView(FrameView):
    """The player's picture, on which the chosen tool draws.

    ``tool`` is one of :data:`app.review.drawings.SHAPES` or ``None`` (no drawing:
    clicks do nothing). ``drawingStarted`` comes when a stroke begins (the view
    pauses), ``shapeDrawn(Shape)`` when it ends.
    """

    drawingStarted = Signal()
    shapeDrawn = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reviewPicture")
        self.tool: str | None = None
        self.colour = "red"
        self.ask_text: Callable[[QWidget], str] = ask_text
        self._points: list[Point] = []

    def set_tool(self, tool: str | None) -> None:
        self.tool = tool
        self._points = []
        self.setCursor(Qt.CursorShape.CrossCursor if tool else Qt.CursorShape.ArrowCursor)
        self.update()

    def set_colour(self, colour: str) -> None:
        self.colour = colour

    def picture_rect(self) -> QRectF:
        """Where the picture is painted now (empty without one)."""
        if self.image is None or self.image.isNull():
            return QRectF()
        return picture_rect(self.image.size(), self.size())

    # -- the stroke ---------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        point = to_fraction(self.picture_rect(), event.position())
        if self.tool is None or point is None or event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        self.drawingStarted.emit()
        if self.tool == "text":
            text = self.ask_text(self)
            if text:
                self.shapeDrawn.emit(Shape("text", (point,), colour=self.colour, text=text))
            return
        self._points = [point] if self.tool == "freehand" else [point, point]
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if not self._points:
            super().mouseMoveEvent(event)
            return
        point = to_fraction(self.picture_rect(), event.position(), clamp=True)
        if self.tool == "freehand":
            if math.dist(point, self._points[-1]) >= FREEHAND_STEP and len(self._points) < MAX_POINTS:
                self._points.append(point)
        else:
            self._points[-1] = point
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if not self._points:
            super().mouseReleaseEvent(event)
            return
        self.mouseMoveEvent(event)
        shape = self.stroke_shape()
        self._points = []
        self.update()
        if shape is not None:
            self.shapeDrawn.emit(shape)

    def stroke_shape(self) -> Shape | None:
        """The shape of the stroke in progress; ``None`` while it is too small to mean anything."""
        if not self._points or self.tool is None:
            return None
        points = self._points if self.tool == "freehand" else [self._points[0], self._points[-1]]
        if len(points) < 2 or max(math.dist(points[0], p) for p in points) < MIN_DRAG:
            return None
        return Shape(self.tool, tuple(points), colour=self.colour)

    # -- the preview ----------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        shape = self.stroke_shape()
        if shape is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        paint_shape(painter, self.picture_rect(), shape, self.image.height())
        painter.end()


def paint_shape(painter: QPainter, rect: QRectF, shape: Shape, frame_height: int) -> None:
    """Paint ``shape`` (not text) into ``rect`` as :func:`render_shapes` burns it into a frame
    ``frame_height`` pixels high: the same stroke, box and arrow head, scaled to the widget."""
    scale = rect.height() / max(1, frame_height)
    thickness = max(1, round(shape.width * frame_height))
    colour = QColor(*shape.rgb)
    pen = QPen(colour, thickness * scale, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    points = [to_widget(rect, p) for p in shape.points]
    if shape.kind == "ellipse":
        painter.drawEllipse(QRectF(points[0], points[-1]).normalized())
    elif shape.kind == "freehand":
        path = QPainterPath(points[0])
        for p in points[1:]:
            path.lineTo(p)
        painter.drawPath(path)
    else:
        painter.drawLine(points[0], points[-1])
        if shape.kind == "arrow":
            _paint_head(painter, points[0], points[-1], max(8.0, 4.5 * thickness) * scale)


def _paint_head(painter: QPainter, start: QPointF, tip: QPointF, head: float) -> None:
    """The two strokes of an arrow head at ``tip`` (as ``cv2.arrowedLine``: 45° each side, at most
    0.6 of the arrow's length)."""
    angle = math.atan2(start.y() - tip.y(), start.x() - tip.x())
    length = min(head, 0.6 * math.hypot(tip.x() - start.x(), tip.y() - start.y()))
    for side in (1, -1):
        wing = angle + side * math.pi / 4
        painter.drawLine(tip, QPointF(tip.x() + length * math.cos(wing), tip.y() + length * math.sin(wing)))
