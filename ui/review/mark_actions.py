"""What the Review tab does with tagged marks: M, I and O, editing, deleting, the tag list
and the filter.

A mixin of :class:`ui.review.view.ReviewView` (kept apart so the view stays one
idea: the engine, the player and the timeline). M marks the moment; I sets an in
point and O closes the range there as one mark with the chosen tag (O without I
gives the latest point mark before the playhead its out point). The session
(:class:`app.review.session.ReviewSession`) saves every change.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QInputDialog

from app.review.session import Note
from app.timefmt import clock
from ui.review.marks import MarkDialog


class MarkActions:
    """Mixin: needs ``session``, ``reader``, ``timeline``, ``mark_strip``, ``tag_bar``,
    ``show_status``, ``_position`` and ``_rebuild_tracks`` from the view."""

    _in_point: float | None = None

    def _show_marks(self) -> None:
        """Refresh the strip (filtered as the list is) and the tag choices after a change."""
        if self.session is None:
            self.mark_strip.set_marks([], 0.0)
            return
        self.tag_bar.set_tags(self.session.tags)
        duration = self.reader.duration if self.reader is not None else 0.0
        self.mark_strip.set_marks(self.session.marks(self.tag_bar.current_filter()), duration)

    def _filter_marks(self, tag: str | None) -> None:
        self.timeline.set_tag_filter(tag)
        self._show_marks()

    def _add(self, mark: Note) -> Note:
        self.timeline.add_item(mark)
        self._show_marks()
        return mark

    def add_mark(self) -> Note | None:
        """Mark the moment under the playhead with the chosen tag (M)."""
        if self.session is None:
            return None
        return self._add(self.session.add_mark(self._position(), tag=self.tag_bar.current_tag()))

    def set_in_point(self) -> None:
        """Remember the playhead as the start of a range (I)."""
        if self.session is None:
            return
        self._in_point = self._position()
        self.show_status(f"In point {clock(self._in_point)}: press O at the end of the play.")

    def set_out_point(self) -> Note | None:
        """End the range at the playhead (O): a new mark from the in point, or the last mark's out."""
        if self.session is None:
            return None
        t = self._position()
        if self._in_point is not None:
            t_in, self._in_point = self._in_point, None
            if t == t_in:
                self.show_status("The out point is the in point: move the playhead first.", "warn")
                return None
            mark = self.session.add_mark(t_in, t_out=t, tag=self.tag_bar.current_tag())
            self.show_status(f"Marked {clock(mark.t)}–{clock(mark.end)}.")
            return self._add(mark)
        before = [m for m in self.session.marks() if not m.is_range and m.t < t]
        if not before:
            self.show_status("Press I at the start of the play first.", "warn")
            return None
        mark = self.session.edit(before[-1].id, t_out=t)
        assert isinstance(mark, Note)
        self.show_status(f"Marked {clock(mark.t)}–{clock(mark.end)}.")
        return self._add(mark)

    def edit_mark(self, item_id: str) -> None:
        mark = self.session.get(item_id)
        assert isinstance(mark, Note)
        duration = self.reader.duration if self.reader is not None else mark.end
        dialog = MarkDialog(mark, self.session.tags, duration, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.edit_item(item_id, **dialog.fields())

    def edit_tags(self) -> None:
        """Edit the tag list as one comma-separated line (tags in use stay listed)."""
        if self.session is None:
            return
        text, ok = QInputDialog.getText(self, "Tags", "Tags, separated by commas:", text=", ".join(self.session.tags))
        if ok:
            self.session.set_tags(text.split(","))
            self._show_marks()
