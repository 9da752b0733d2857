"""The subtitle overlay: a frameless, translucent, always-on-top window of live commentary.

Streamers put it over their game (or capture it in OBS with Window Capture), so
it must stay readable over any picture: every line is drawn as a filled text
path with an outline and an optional drop shadow, on a rounded box of chosen
colour and opacity. Words appear as they are decoded; the newest ``lines``
lines are shown, wrapped to the window's width; after ``fade_after_s`` without
new words the text fades out.

It can be dragged (left button) and resized (the grip in the bottom-right
corner); right-click opens a small menu. "Click-through" makes the window
ignore the mouse so the game underneath gets every click; it is turned off
from the main window (View menu or its shortcut), since the overlay can no
longer be clicked then. Its geometry is remembered per screen (by screen name,
relative to that screen), so a streamer with two monitors finds it where they
left it on each.

Switched on, it still stays hidden while it has no text (an empty box would
hide the game for nothing, and is solid black without a compositor), and it
hides again when its text fades. It is always kept on a screen: a saved place
off every screen (a monitor unplugged) is moved back and its size clamped,
and its first place avoids the app's own window. "Reset position" puts it back
at its first place.
"""

from __future__ import annotations

from PySide6.QtCore import QEasingCurve, QPoint, QPointF, QRect, Qt, QTimer, QVariantAnimation, Signal
from PySide6.QtGui import QAction, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QMenu, QSizeGrip, QWidget

from app.settings import OverlaySettings
from app.sinks.voice import is_silence
from models.engine.records import ChunkDone, ChunkStarted, CommentaryDelta

MARGIN = 14
MAX_WORDS = 400  # older words can never be on screen again


def qcolor(text: str, alpha: float | None = None) -> QColor:
    color = QColor(text)
    if not color.isValid():
        color = QColor("#FFFFFF")
    if alpha is not None:
        color.setAlphaF(max(0.0, min(1.0, alpha)))
    return color


class OverlayWindow(QWidget):
    """The overlay; feed it engine records with :meth:`handle_event`."""

    geometrySaved = Signal(str, tuple)  # screen name, (x, y, w, h) relative to that screen
    clickThroughChanged = Signal(bool)
    hideRequested = Signal()
    resetRequested = Signal()

    def __init__(self, settings: OverlaySettings, parent: QWidget | None = None) -> None:
        super().__init__(
            parent, Qt.WindowType.Tool | Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint
        )
        self.setWindowTitle("LiveCC Desk overlay")
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setMinimumSize(160, 48)
        self.settings = settings
        self.wanted = False  # switched on: shown whenever it has text
        self._words: list[str] = []
        self._current = ""  # text of the chunk being decoded
        self._alpha = 1.0
        self._drag_from: QPoint | None = None
        self._grip = QSizeGrip(self)
        self._grip.resize(16, 16)
        self._fade_timer = QTimer(self, singleShot=True, timeout=self._start_fade)
        self._fade = QVariantAnimation(self, startValue=1.0, endValue=0.0, duration=700)
        self._fade.setEasingCurve(QEasingCurve.Type.InQuad)
        self._fade.valueChanged.connect(self._set_alpha)
        self._fade.finished.connect(self.clear)
        self._save_timer = QTimer(self, singleShot=True, interval=400, timeout=self._save_geometry)
        self.apply_settings(settings)

    # -- content ------------------------------------------------------------------

    @property
    def text(self) -> str:
        """All words currently held (the visible lines are the end of it)."""
        return " ".join(self._words + ([self._current.strip()] if self._current.strip() else []))

    def visible_lines(self) -> list[str]:
        return self._wrap(self.text)[-self.settings.lines :]

    def handle_event(self, event: object) -> None:
        if isinstance(event, ChunkStarted):
            self._current = ""
        elif isinstance(event, CommentaryDelta):
            self._current += event.text
            self._shown()
        elif isinstance(event, ChunkDone):
            self._current = ""
            if event.silent:
                if self.settings.show_silence:
                    self._append("…")
            elif not is_silence(event.text):
                self._append(event.text)
            self._shown()

    def show_text(self, text: str) -> None:
        """Put ``text`` on the overlay (a message, or a test line)."""
        self._append(text)
        self._shown()

    def _append(self, text: str) -> None:
        self._words.extend(text.split())
        del self._words[:-MAX_WORDS]

    def clear(self) -> None:
        self._words.clear()
        self._current = ""
        self._alpha = 1.0
        self.hide()  # nothing to show: no empty box over the game
        self.update()

    def set_wanted(self, on: bool) -> None:
        """Switch the overlay on (shown as soon as it has text) or off (hidden)."""
        self.wanted = on
        if on and self.visible_lines():
            self.show()
        elif not on:
            self.hide()

    def _shown(self) -> None:
        self._fade.stop()
        self._alpha = 1.0
        if self.settings.fade_after_s > 0:
            self._fade_timer.start(int(self.settings.fade_after_s * 1000))
        if self.wanted and not self.isVisible() and self.visible_lines():
            self.show()
        self.update()

    def _start_fade(self) -> None:
        self._fade.start()

    def _set_alpha(self, value: float) -> None:
        self._alpha = float(value)
        self.update()

    @property
    def alpha(self) -> float:
        return self._alpha

    # -- look ---------------------------------------------------------------------

    def apply_settings(self, settings: OverlaySettings) -> None:
        self.settings = settings
        font = QFont(settings.font_family, settings.font_size)
        font.setBold(settings.bold)
        self._font = font
        self.set_click_through(settings.click_through, emit=False)
        if settings.fade_after_s <= 0:
            self._fade_timer.stop()
            self._fade.stop()
            self._alpha = 1.0
        self.update()

    def preferred_height(self) -> int:
        return int(QFontMetricsF(self._font).lineSpacing() * self.settings.lines + 2 * MARGIN)

    def _wrap(self, text: str) -> list[str]:
        metrics = QFontMetricsF(self._font)
        width = max(40.0, self.width() - 2 * MARGIN - self.settings.outline_width * 2)
        lines, line = [], ""
        for word in text.split():
            candidate = f"{line} {word}" if line else word
            if line and metrics.horizontalAdvance(candidate) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        if line:
            lines.append(line)
        return lines

    def paintEvent(self, _event) -> None:
        s = self.settings
        painter = QPainter(self)
        # Qt clears a translucent window before painting; drawing over what is below
        # (rather than clearing it) also lets render() composite the overlay onto a picture.
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        lines = self.visible_lines()
        box_alpha = s.background_opacity * (self._alpha if lines else 0.0)
        if not self.click_through:
            box_alpha = max(box_alpha, 0.12)  # a faint box shows where to drag, unless click-through
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(qcolor(s.background_color, box_alpha))
        painter.drawRoundedRect(self.rect().adjusted(1, 1, -1, -1), 12, 12)
        if not lines:
            return
        metrics = QFontMetricsF(self._font)
        line_h = metrics.lineSpacing()
        y = self.height() - MARGIN - line_h * len(lines) + metrics.ascent()
        painter.setOpacity(self._alpha)
        for line in lines:
            x = (self.width() - metrics.horizontalAdvance(line)) / 2
            path = QPainterPath()
            path.addText(QPointF(x, y), self._font, line)
            if s.shadow:
                offset = max(2.0, s.font_size / 14)
                painter.fillPath(path.translated(offset, offset), QColor(0, 0, 0, 150))
            if s.outline_width > 0:
                pen = QPen(qcolor(s.outline_color), s.outline_width * 2)
                pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
                painter.strokePath(path, pen)
            painter.fillPath(path, qcolor(s.text_color))
            y += line_h

    def resizeEvent(self, event) -> None:
        self._grip.move(self.width() - self._grip.width(), self.height() - self._grip.height())
        self._save_timer.start()
        super().resizeEvent(event)

    def moveEvent(self, event) -> None:
        self._save_timer.start()
        super().moveEvent(event)

    # -- placement ------------------------------------------------------------------

    def _save_geometry(self, force: bool = False) -> None:
        screen = self.screen()
        if screen is None or not (self.isVisible() or force):
            return
        origin = screen.geometry().topLeft()
        g = self.geometry()
        self.geometrySaved.emit(screen.name(), (g.x() - origin.x(), g.y() - origin.y(), g.width(), g.height()))

    def place_on(self, screen, positions: dict, avoid: QRect | None = None) -> None:
        """Put the overlay where it was last on ``screen`` (kept on it), else at its first place.

        ``avoid`` (the app's own window, in global logical pixels) is what the first place
        keeps clear of where it can.
        """
        saved = positions.get(screen.name())
        if saved:
            x, y, w, h = saved
            origin = screen.geometry().topLeft()
            self.setGeometry(
                keep_on(
                    QRect(origin.x() + x, origin.y() + y, w, h),
                    screen.availableGeometry(),
                    self.minimumWidth(),
                    self.minimumHeight(),
                )
            )
            return
        self.setGeometry(first_place(screen.availableGeometry(), self.preferred_height(), avoid))

    def reset_position(self, avoid: QRect | None = None) -> None:
        """Back to the first place on its screen, remembered as this screen's place."""
        screen = self.screen()
        if screen is None:
            return
        self.setGeometry(first_place(screen.availableGeometry(), self.preferred_height(), avoid))
        self._save_timer.stop()
        self._save_geometry(force=True)

    # -- mouse ------------------------------------------------------------------------

    def set_click_through(self, on: bool, emit: bool = True) -> None:
        was_visible = self.isVisible()
        self.setWindowFlag(Qt.WindowType.WindowTransparentForInput, on)
        self._grip.setVisible(not on)
        if was_visible:
            self.show()  # changing window flags hides the window
        if emit:
            self.clickThroughChanged.emit(on)

    @property
    def click_through(self) -> bool:
        return bool(self.windowFlags() & Qt.WindowType.WindowTransparentForInput)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag_from = event.globalPosition().toPoint() - self.frameGeometry().topLeft()
            event.accept()

    def mouseMoveEvent(self, event) -> None:
        if self._drag_from is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self.move(event.globalPosition().toPoint() - self._drag_from)
            event.accept()

    def mouseReleaseEvent(self, event) -> None:
        self._drag_from = None

    def context_menu(self) -> QMenu:
        """The right-click menu (built afresh each time)."""
        menu = QMenu(self)
        through = QAction("Click-through (the game gets the mouse)", menu, checkable=True)
        through.setChecked(self.click_through)
        through.triggered.connect(lambda on: self.set_click_through(on))
        menu.addAction(through)
        menu.addAction("Clear text", self.clear)
        menu.addAction("Reset position", lambda: self.resetRequested.emit())
        menu.addAction("Hide overlay", lambda: self.hideRequested.emit())
        return menu

    def contextMenuEvent(self, event) -> None:
        self.context_menu().exec(event.globalPos())


def keep_on(rect: QRect, area: QRect, min_w: int, min_h: int) -> QRect:
    """``rect`` moved (and shrunk if needed) to lie inside ``area``."""
    w = max(min(rect.width(), area.width()), min(min_w, area.width()))
    h = max(min(rect.height(), area.height()), min(min_h, area.height()))
    x = min(max(rect.x(), area.x()), area.x() + area.width() - w)
    y = min(max(rect.y(), area.y()), area.y() + area.height() - h)
    return QRect(x, y, w, h)


def first_place(area: QRect, height: int, avoid: QRect | None = None) -> QRect:
    """Where the overlay goes first on a screen's ``area``: low and centred, clear of ``avoid``.

    Its width leaves a margin on both sides, so the resize grip is on screen. Of the
    candidate places (bottom, below ``avoid``, above it, top) the one that covers the
    least of ``avoid`` wins; the bottom when nothing is to be avoided.
    """
    margin = max(8, area.width() // 40)
    w = min(int(area.width() * 0.6), area.width() - 2 * margin)
    h = min(height, area.height())
    x = area.x() + (area.width() - w) // 2
    gap = area.height() // 12
    ys = [area.y() + area.height() - h - gap]
    if avoid is not None:
        ys += [avoid.y() + avoid.height() + margin, avoid.y() - h - margin, area.y() + gap]
    candidates = [keep_on(QRect(x, y, w, h), area, w, h) for y in ys]

    def covered(rect: QRect) -> int:
        if avoid is None:
            return 0
        both = rect.intersected(avoid)
        return both.width() * both.height() if not both.isEmpty() else 0

    return min(candidates, key=covered)
