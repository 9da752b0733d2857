"""The drawing toolbar under the picture: the tool, the colour, undo, clear and the hold time.

As in Kinovea: pick a tool (arrow, line, circle, free hand, text) and draw on
the picture; drawing pauses the video. Clicking the chosen tool again puts it
down (clicks on the picture then draw nothing). The hold time is how long a
drawing stays on screen once playback reaches its moment (kept in the settings,
``ReviewSettings.drawing_hold_s``).
"""

from __future__ import annotations

from dataclasses import fields

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QButtonGroup, QDoubleSpinBox, QHBoxLayout, QLabel, QToolButton, QWidget

from app.review.drawings import COLOURS
from app.settings import ReviewSettings

TOOLS = (
    ("arrow", "➚ Arrow"),
    ("line", "╱ Line"),
    ("ellipse", "◯ Circle"),
    ("freehand", "✎ Free hand"),
    ("text", "T Text"),
)
BAR_COLOURS = ("red", "yellow", "blue", "white", "black")
_HOLD = next(f for f in fields(ReviewSettings) if f.name == "drawing_hold_s")
HOLD_RANGE_S = (_HOLD.metadata["lo"], _HOLD.metadata["hi"])  # as the settings file allows


class DrawingBar(QWidget):
    """Tool buttons, colour swatches, Undo, Clear and the hold time; the view reacts to its signals."""

    toolChanged = Signal(object)  # one of app.review.drawings.SHAPES, or None
    colourChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reviewDrawingBar")
        self.setStyleSheet("QToolButton:checked { background: #1f6feb; color: white; }")
        box = QHBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addWidget(QLabel("Draw:"))
        self.tools: dict[str, QToolButton] = {}
        for kind, label in TOOLS:
            button = QToolButton(text=label, checkable=True, toolTip=f"Draw {label.split(' ', 1)[1].lower()}")
            button.setObjectName(f"drawTool_{kind}")
            button.clicked.connect(lambda on, k=kind: self._tool_clicked(k, on))
            self.tools[kind] = button
            box.addWidget(button)
        box.addSpacing(8)
        self.colours: dict[str, QToolButton] = {}
        group = QButtonGroup(self)
        for name in (c for c in BAR_COLOURS if c in COLOURS):
            swatch = QToolButton(checkable=True, toolTip=f"Draw in {name}")
            swatch.setObjectName(f"drawColour_{name}")
            r, g, b = COLOURS[name]
            swatch.setStyleSheet(
                f"QToolButton {{ background: rgb({r},{g},{b}); min-width: 14px; max-width: 14px;"
                " border: 1px solid #6e7681; border-radius: 3px; }"
                " QToolButton:checked { border: 3px solid #58a6ff; }"
            )
            swatch.clicked.connect(lambda _on, n=name: self.colourChanged.emit(n))
            group.addButton(swatch)
            self.colours[name] = swatch
            box.addWidget(swatch)
        next(iter(self.colours.values())).setChecked(True)
        box.addSpacing(8)
        self.undo_button = QToolButton(text="Undo", toolTip="Take back the last shape drawn at this moment (Ctrl+Z)")
        self.clear_button = QToolButton(text="Clear", toolTip="Remove the drawing at this moment")
        self.hold = QDoubleSpinBox(
            minimum=HOLD_RANGE_S[0],
            maximum=HOLD_RANGE_S[1],
            value=_HOLD.default,
            singleStep=0.5,
            decimals=1,
            suffix=" s",
            toolTip="How long a drawing stays on the picture once playback reaches it",
            keyboardTracking=False,  # one journal edit when the typed value is done, not one per key
        )
        for w in (self.undo_button, self.clear_button, QLabel("Hold:"), self.hold):
            box.addWidget(w)
        box.addStretch(1)

    def _tool_clicked(self, kind: str, on: bool) -> None:
        """One tool at a time; clicking the chosen one again puts it down."""
        for other, button in self.tools.items():
            if other != kind:
                button.setChecked(False)
        self.toolChanged.emit(kind if on else None)

    @property
    def tool(self) -> str | None:
        return next((kind for kind, button in self.tools.items() if button.isChecked()), None)

    @property
    def colour(self) -> str:
        return next((name for name, swatch in self.colours.items() if swatch.isChecked()), "red")
