"""Tagged marks in the Review tab: the strip of ticks and ranges under the picture, the tag
bar (the tag for new marks, the filter, the editable list) and the dialog that edits a mark.

A coach working the way Kinovea or Hudl taught them presses I at the start of a
play and O at its end; the range lands on the strip above the slider in its
tag's colour, and on the timeline list with its tag. The records and their
journal are :class:`app.review.session.Note` and
:class:`app.review.session.ReviewSession`; these widgets only show and edit them.
"""

from __future__ import annotations

import zlib

from PySide6.QtCore import QRectF, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from app.review.session import Note
from app.timefmt import clock

ALL_TAGS = "All tags"
NO_TAG = "(no tag)"
_PALETTE = ("#f0883e", "#3fb950", "#a371f7", "#58a6ff", "#db61a2", "#e3b341", "#56d4dd", "#ff7b72")
UNTAGGED_COLOUR = "#8b949e"
DRAWING_COLOUR = "#f0f6fc"


def tag_colour(tag: str) -> str:
    """The same colour for a tag every time, whichever session it appears in."""
    return _PALETTE[zlib.crc32(tag.encode("utf-8")) % len(_PALETTE)] if tag else UNTAGGED_COLOUR


class MarkStrip(QWidget):
    """Ticks (points) and bars (ranges) of the shown marks along the video; a click seeks.

    Drawn with the same span as the slider below it, so a tick sits above the
    moment it marks.
    """

    seekRequested = Signal(float)
    HEIGHT = 14

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reviewMarkStrip")
        self.setFixedHeight(self.HEIGHT)
        self.duration = 0.0
        self.marks: list[Note] = []
        self.drawing_times: list[float] = []
        self.setToolTip("Marks and ranges (I / O set in and out points); click one to go there")

    def set_marks(self, marks: list[Note], duration: float) -> None:
        self.marks, self.duration = list(marks), max(0.0, duration)
        self.update()

    def set_drawings(self, times: list[float]) -> None:
        """Where drawings are: short white ticks along the bottom edge."""
        self.drawing_times = list(times)
        self.update()

    def x_of(self, t: float) -> float:
        return 0.0 if self.duration <= 0 else min(1.0, t / self.duration) * (self.width() - 1)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#161b22"))
        for mark in self.marks:
            colour = QColor(tag_colour(mark.tag))
            x0 = self.x_of(mark.t)
            if mark.is_range:
                painter.fillRect(QRectF(x0, 3, max(2.0, self.x_of(mark.end) - x0), self.height() - 6), colour)
            painter.fillRect(QRectF(x0 - 1, 0, 3, self.height()), colour)
        for t in self.drawing_times if self.duration > 0 else ():
            painter.fillRect(QRectF(self.x_of(t) - 1, self.height() - 5, 3, 5), QColor(DRAWING_COLOUR))
        painter.end()

    def mark_at(self, x: float) -> Note | None:
        """The mark drawn under ``x`` (a range anywhere along it, a point within 4 pixels)."""
        for mark in reversed(self.marks):
            if self.x_of(mark.t) - 4 <= x <= self.x_of(mark.end) + 4:
                return mark
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        mark = self.mark_at(event.position().x())
        if mark is not None:
            self.seekRequested.emit(mark.t)
        elif self.duration > 0:
            self.seekRequested.emit(event.position().x() / max(1, self.width() - 1) * self.duration)


class TagBar(QWidget):
    """The tag new marks get, the tag filter, and the button that edits the list."""

    filterChanged = Signal(object)  # a tag, "" for untagged marks, or None for all
    editTagsRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tag = QComboBox(toolTip="The tag of new marks (M, or I then O for a range)")
        self.filter = QComboBox(toolTip="Show only the marks with this tag")
        self._tags: list[str] | None = None
        self.edit_button = QPushButton(
            "Tags…", toolTip="Edit the list of tags", clicked=lambda: self.editTagsRequested.emit()
        )
        self.filter.currentIndexChanged.connect(lambda _i: self.filterChanged.emit(self.current_filter()))
        box = QHBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        for w in (QLabel("Tag:"), self.tag, QLabel("Show:"), self.filter, self.edit_button):
            box.addWidget(w)
        box.addStretch(1)

    def set_tags(self, tags: list[str]) -> None:
        """Offer ``tags``, keeping the current choices where they still exist."""
        if tags == self._tags:
            return
        self._tags = list(tags)
        before = self.current_filter()
        for combo, items in ((self.tag, [NO_TAG, *tags]), (self.filter, [ALL_TAGS, *tags, NO_TAG])):
            chosen = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(items)
            combo.setCurrentIndex(max(0, combo.findText(chosen)))
            combo.blockSignals(False)
        if self.current_filter() != before:
            self.filterChanged.emit(self.current_filter())

    def current_tag(self) -> str:
        text = self.tag.currentText()
        return "" if text in (NO_TAG, "") else text

    def current_filter(self) -> str | None:
        text = self.filter.currentText()
        return None if text in (ALL_TAGS, "") else "" if text == NO_TAG else text


class MarkDialog(QDialog):
    """Edit a mark's label, tag, in and out points and note; :meth:`fields` is the result."""

    def __init__(self, mark: Note, tags: list[str], duration: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Mark at {clock(mark.t)}")
        self.label = QLineEdit(mark.label, placeholderText="e.g. High press after the kick-off")
        self.tag = QComboBox(editable=True)
        self.tag.addItems([NO_TAG, *tags])
        self.tag.setCurrentText(mark.tag or NO_TAG)
        top = max(duration, mark.end, 0.1)
        self.t_in = QDoubleSpinBox(maximum=top, decimals=1, singleStep=0.1, suffix=" s", value=mark.t)
        self.ranged = QPushButton("Range", checkable=True, checked=mark.is_range)
        self.t_out = QDoubleSpinBox(maximum=top, decimals=1, singleStep=0.1, suffix=" s", value=mark.end)
        self.t_out.setEnabled(mark.is_range)
        self.ranged.toggled.connect(self.t_out.setEnabled)
        self.text = QLineEdit(mark.text, placeholderText="The coach's note")
        out = QHBoxLayout()
        out.addWidget(self.ranged)
        out.addWidget(self.t_out, 1)
        form = QFormLayout(self)
        form.addRow("Label:", self.label)
        form.addRow("Tag:", self.tag)
        form.addRow("In:", self.t_in)
        form.addRow("Out:", out)
        form.addRow("Note:", self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def fields(self) -> dict:
        """The edited fields, in and out in order (for :meth:`ReviewSession.edit`)."""
        tag = self.tag.currentText().strip()
        t_in, t_out = self.t_in.value(), self.t_out.value()
        if self.ranged.isChecked() and t_out != t_in:
            t_in, t_out = sorted((t_in, t_out))
            end: float | None = t_out
        else:
            end = None
        return {
            "label": self.label.text().strip(),
            "tag": "" if tag == NO_TAG else tag,
            "t": t_in,
            "t_out": end,
            "text": self.text.text().strip(),
        }
