"""The live preview: the newest captured picture, scaled to fit, with its stream time.

Only the newest picture is kept and painting scales it once per repaint, so a
slow machine shows fewer preview frames, never older ones.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QWidget


class PreviewView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("preview")
        self.setMinimumSize(320, 180)
        self.image: QImage | None = None
        self.caption = ""
        self.frames_shown = 0

    def show_image(self, image: QImage, caption: str = "") -> None:
        self.image = image
        self.caption = caption
        self.frames_shown += 1
        self.update()

    def set_idle(self) -> None:
        """Keep the last picture, dimmed by the caption, so the user sees where it stopped."""
        self.caption = f"{self.caption} · stopped" if self.caption else ""
        self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#0d1117"))
        if self.image is None or self.image.isNull():
            p.setPen(QColor("#6e7681"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Preview\nChoose a source and press Start (F5)")
            return
        size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x = (self.width() - size.width()) / 2
        y = (self.height() - size.height()) / 2
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(QRectF(x, y, size.width(), size.height()), self.image)
        if self.caption:
            text_rect = p.fontMetrics().boundingRect(self.caption).adjusted(-6, -3, 6, 3)
            text_rect.moveTopLeft(QPoint(int(x) + 8, int(y) + 8))  # on the picture, not the margin
            p.fillRect(text_rect, QColor(0, 0, 0, 150))
            p.setPen(QColor("#e6edf3"))
            p.drawText(text_rect, Qt.AlignmentFlag.AlignCenter, self.caption)
