"""What the Review tab does with drawings: draw on the paused picture, undo, clear, hold, delete.

A mixin of :class:`ui.review.view.ReviewView` (kept apart, as
:mod:`ui.review.mark_actions` is). Starting a stroke pauses the video; each
finished shape is saved at once in the review journal as part of the one
:class:`app.review.drawings.Drawing` of that paused moment (created by the first
shape, edited by the next ones). The player burns the drawings into the
picture (:meth:`ui.review.player.FrameReader.set_drawings`) from their moment
for their hold time, as the exports do; the timeline lists them and the strip
above the slider shows a tick at each.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QInputDialog

from app.review.drawings import Drawing, DrawingTrack, Shape
from app.timefmt import clock
from ui.review.drawing_tool import HOLD_RANGE_S

SAME_MOMENT_S = 1e-3  # a drawing within this of the playhead is the one being drawn on


class DrawingActions:
    """Mixin: needs ``session``, ``reader``, ``frame`` (a ``DrawingFrameView``), ``drawing_bar``,
    ``timeline``, ``mark_strip``, ``prefs``, ``show_status`` and ``_position`` from the view, and
    ``apply_review_settings`` from a mixin after it (``PlayerControls``)."""

    def _connect_drawing(self) -> None:
        """Wire the picture and the drawing toolbar (called once the widgets exist)."""
        bar = self.drawing_bar
        bar.toolChanged.connect(self.frame.set_tool)
        bar.colourChanged.connect(self.frame.set_colour)
        bar.undo_button.clicked.connect(self.undo_shape)
        bar.clear_button.clicked.connect(self.clear_drawing)
        bar.hold.valueChanged.connect(self._hold_changed)
        self.frame.drawingStarted.connect(self._pause_to_draw)
        self.frame.shapeDrawn.connect(self.add_shape)
        undo = QShortcut(QKeySequence.StandardKey.Undo, self)
        undo.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)  # a focused text box keeps its own
        undo.activated.connect(self.undo_shape)

    def _pause_to_draw(self) -> None:
        if self.reader is not None:
            self.reader.pause()

    def drawing_here(self) -> Drawing | None:
        """The drawing of the moment under the playhead, if one was drawn there."""
        if self.session is None:
            return None
        t = self._position()
        return next((d for d in self.session.drawings() if abs(d.t - t) <= SAME_MOMENT_S), None)

    def add_shape(self, shape: Shape) -> Drawing | None:
        """Save ``shape`` in the drawing of this moment (a new one for the first shape)."""
        if self.session is None:
            return None
        here = self.drawing_here()
        if here is None:
            drawing = self.session.add_drawing(self._position(), (shape,), hold_s=self.drawing_bar.hold.value())
        else:
            drawing = self.session.edit(here.id, shapes=(*here.shapes, shape))
        self._drawing_changed(drawing)
        return drawing

    def undo_shape(self) -> None:
        """Take back the last shape of this moment's drawing (the drawing goes with its last shape)."""
        here = self.drawing_here()
        if here is None:
            self.show_status("Nothing drawn at this moment: go to a drawing's line on the timeline to undo.", "warn")
        elif len(here.shapes) <= 1:
            self._remove_drawing(here.id)
        else:
            self._drawing_changed(self.session.edit(here.id, shapes=here.shapes[:-1]))

    def clear_drawing(self) -> None:
        """Remove every shape drawn at this moment."""
        here = self.drawing_here()
        if here is not None:
            self._remove_drawing(here.id)

    def apply_review_settings(self, settings) -> None:
        """The saved hold time in the drawing bar, besides the player's settings (``PlayerControls``)."""
        super().apply_review_settings(settings)
        self.drawing_bar.hold.blockSignals(True)
        self.drawing_bar.hold.setValue(settings.drawing_hold_s)
        self.drawing_bar.hold.blockSignals(False)

    def _hold_changed(self, hold_s: float) -> None:
        """The hold time applies to new drawings and to the one at this moment; it is saved."""
        self.prefs.update(drawing_hold_s=hold_s)
        here = self.drawing_here()
        if here is not None and here.hold_s != hold_s:
            self._drawing_changed(self.session.edit(here.id, hold_s=hold_s))

    def edit_drawing(self, item_id: str) -> None:
        """Change how long a drawing stays on screen (double-click on its timeline line)."""
        drawing = self.session.get(item_id)
        hold, ok = QInputDialog.getDouble(
            self, f"Drawing at {clock(drawing.t)}", "Hold on screen (s):", drawing.hold_s, *HOLD_RANGE_S, 1
        )
        if ok:
            self._drawing_changed(self.session.edit(item_id, hold_s=hold))

    def _remove_drawing(self, item_id: str) -> None:
        self.session.remove(item_id)
        self.timeline.remove_item(item_id)
        self._push_drawings()

    def _drawing_changed(self, drawing: Drawing) -> None:
        self.timeline.add_item(drawing)
        self._push_drawings()

    def _push_drawings(self) -> None:
        """Hand the drawings to the player (which redraws the picture) and their ticks to the strip."""
        if self.session is None or self.reader is None:
            self.mark_strip.set_drawings([])
            return
        drawings = self.session.drawings()
        self.reader.set_drawings(DrawingTrack(drawings))
        self.mark_strip.set_drawings([d.t for d in drawings])
