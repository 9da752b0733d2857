"""The review timeline: commentary, marks, notes and Q&A in time order; a click seeks.

A coach scans it like a match report: what the model said, where they marked
something, what they asked. Lines arrive one by one while commentary is
computed ahead, so each is inserted at its place (no full rebuild per second
of video). The line under the playhead is highlighted as the video plays.
"""

from __future__ import annotations

import bisect

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from app.review.drawings import Drawing
from app.review.session import QA, Commentary, Note, TimelineItem
from app.timefmt import clock
from ui.review.marks import tag_colour
from ui.review.timeline_wrap import wrap_column

_ORDER = {Commentary: 0, Note: 1, QA: 2, Drawing: 3}
_COLOURS = {Commentary: "#c9d1d9", Note: "#e3b341", QA: "#58a6ff", Drawing: "#db61a2"}
_SHAPE_NAMES = {"arrow": "arrow", "line": "line", "ellipse": "circle", "freehand": "free hand", "text": "text"}


def describe_drawing(drawing: Drawing) -> str:
    """A drawing's shapes in words (``arrow, circle, text “Press”``) and how long it stays."""
    shapes = [
        f"{_SHAPE_NAMES.get(s.kind, s.kind)} “{s.text}”" if s.text else _SHAPE_NAMES.get(s.kind, s.kind)
        for s in drawing.shapes
    ]
    return f"{', '.join(shapes)} · {drawing.hold_s:g} s"


def describe(item: TimelineItem) -> tuple[str, str]:
    """The kind column and the text column of a line (a mark's tag, label, range and note)."""
    if isinstance(item, Commentary):
        return "Commentary", item.text
    if isinstance(item, Note):
        kind = "Note" if item.text and not (item.label or item.tag or item.is_range) else "Mark"
        parts = [f"[{item.tag}]" if item.tag else "", item.label, item.text if item.label else ""]
        words = " ".join(p for p in parts[:2] if p)
        text = " — ".join(p for p in (words, parts[2]) if p) or item.text
        if item.is_range:
            text = f"{clock(item.t)}–{clock(item.end)}  {text}".rstrip()
        return kind, text
    if isinstance(item, Drawing):
        return "Drawing", describe_drawing(item)
    return "Q&A", f"Q: {item.question}\nA: {item.answer}"


class TimelineList(QTreeWidget):
    """Lines of the timeline; ``seekRequested(t)`` when one is clicked."""

    seekRequested = Signal(float)
    editRequested = Signal(str)  # an item id (double-click)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reviewTimeline")
        self.setColumnCount(3)
        self.setHeaderLabels(["Time", "", "Text"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(False)
        self.setWordWrap(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        wrap_column(self, 2)  # a line's whole text, wrapped to the column's width
        self._keys: list[tuple[float, int, str]] = []  # sorted (time, kind order, id), one per row
        self._spans: dict[str, tuple[float, float]] = {}
        self._mark_tags: dict[str, str] = {}  # the tag of each mark's row, for the filter
        self.tag_filter: str | None = None
        self.itemClicked.connect(lambda row, _col: self.seekRequested.emit(self._time_of(row)))
        self.itemDoubleClicked.connect(lambda row, _col: self.editRequested.emit(row.data(0, Qt.ItemDataRole.UserRole)))

    @staticmethod
    def _key(item: TimelineItem) -> tuple[float, int, str]:
        return (item.t, _ORDER[type(item)], item.id)

    def _time_of(self, row: QTreeWidgetItem) -> float:
        return self._spans[row.data(0, Qt.ItemDataRole.UserRole)][0]

    def set_items(self, items: list[TimelineItem]) -> None:
        self.clear()
        self._keys, self._spans, self._mark_tags = [], {}, {}
        for item in items:
            self.add_item(item)

    def add_item(self, item: TimelineItem) -> None:
        """Insert (or replace) the line of ``item`` at its place in time."""
        if item.id in self._spans:
            self.remove_item(item.id)
        key = self._key(item)
        index = bisect.bisect(self._keys, key)
        self._keys.insert(index, key)
        self._spans[item.id] = (item.t, item.t1 if isinstance(item, Commentary) else item.t)
        kind, text = describe(item)
        row = QTreeWidgetItem([clock(item.t), item.tag if isinstance(item, Note) and item.tag else kind, text])
        row.setData(0, Qt.ItemDataRole.UserRole, item.id)
        row.setToolTip(2, text)
        colour = QBrush(QColor(_COLOURS[type(item)]))
        for column in range(3):
            row.setForeground(column, colour)
        self.insertTopLevelItem(index, row)
        if isinstance(item, Note):
            self._mark_tags[item.id] = item.tag
            if item.tag:
                row.setForeground(1, QBrush(QColor(tag_colour(item.tag))))
            row.setHidden(not self._shown(item.id))

    def _shown(self, item_id: str) -> bool:
        tag = self._mark_tags.get(item_id)
        return tag is None or self.tag_filter is None or tag == self.tag_filter

    def set_tag_filter(self, tag: str | None) -> None:
        """Show only the marks tagged ``tag`` ("" for untagged ones; ``None``: all); other lines stay."""
        self.tag_filter = tag
        for index, key in enumerate(self._keys):
            row = self.topLevelItem(index)
            if row is not None:
                row.setHidden(not self._shown(key[2]))

    def visible_ids(self) -> list[str]:
        return [key[2] for index, key in enumerate(self._keys) if not self.topLevelItem(index).isHidden()]

    def remove_item(self, item_id: str) -> None:
        index = self.index_of(item_id)
        if index is None:
            return
        self.takeTopLevelItem(index)
        del self._keys[index]
        del self._spans[item_id]
        self._mark_tags.pop(item_id, None)

    def index_of(self, item_id: str) -> int | None:
        span = self._spans.get(item_id)
        if span is None:
            return None
        for index in range(bisect.bisect_left(self._keys, (span[0],)), len(self._keys)):
            if self._keys[index][2] == item_id:
                return index
        return None

    def row_ids(self) -> list[str]:
        return [key[2] for key in self._keys]

    def selected_id(self) -> str | None:
        rows = self.selectedItems()
        return rows[0].data(0, Qt.ItemDataRole.UserRole) if rows else None

    def follow(self, t: float) -> None:
        """Highlight the last line at or before ``t`` (the one being played)."""
        index = bisect.bisect(self._keys, (t, 99, "")) - 1
        while index >= 0 and not self._shown(self._keys[index][2]):
            index -= 1  # a mark the tag filter hides
        if index < 0:
            return
        row = self.topLevelItem(index)
        if row is not None and not row.isSelected():
            self.setCurrentItem(row)
            self.scrollToItem(row, QAbstractItemView.ScrollHint.EnsureVisible)
