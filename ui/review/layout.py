"""The review view's widgets and shortcuts, laid out once.

Kept apart from ``view.py`` (which reacts to the engine, the player and
the user), as ``main_layout.py`` is for the main window. Shortcuts (while the
view has focus, not while typing): Space or K play/pause, J / L back / forward 5 s,
Left/Right step one frame, M mark the moment, I / O the in and out points of a range.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractSlider,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.review.session import DEFAULT_WINDOW_S
from ui.review.clip_exports import CLIP_VOICE, CLIPS, REEL
from ui.review.drawing_canvas import DrawingFrameView
from ui.review.drawing_tool import DrawingBar
from ui.review.marks import MarkStrip, TagBar
from ui.review.timeline import TimelineList

EXPORTS = {
    "srt": "Subtitles (SRT)",
    "vtt": "Subtitles (WebVTT)",
    "jsonl": "Timeline (JSONL)",
    "mp4": "Video with captions (MP4)",
    "mp4-voice": "Video with captions and voice (MP4)",
    "html": "Report to hand out (HTML)",
}
RATES = (0.25, 0.5, 1.0, 1.5, 2.0)


class ReviewLayout:
    """Mixin for :class:`ui.review.view.ReviewView`: builds its widgets."""

    def _build(self) -> None:
        self.open_button = QPushButton("Open video…", clicked=self._choose_video)
        self.title = QLabel("No video")
        self.progress = QProgressBar(maximum=1000, textVisible=False, maximumWidth=220)
        self.progress_label = QLabel("")
        self.commentary_button = QPushButton("Commentate", clicked=self.toggle_commentary)
        self.export_button = QToolButton(text="Export", popupMode=QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        for fmt, label in EXPORTS.items():
            menu.addAction(label, lambda f=fmt: self._choose_export(f))
        menu.addSeparator()
        menu.addAction(CLIPS, self._choose_clips)
        menu.addAction(REEL, self._choose_reel)
        self.clip_voice = menu.addAction(CLIP_VOICE)
        self.clip_voice.setCheckable(True)
        self.export_button.setMenu(menu)
        top = QHBoxLayout()
        for w in (self.open_button, self.title):
            top.addWidget(w)
        top.addStretch(1)
        for w in (self.progress_label, self.progress, self.commentary_button, self.export_button):
            top.addWidget(w)

        self._build_player_controls()  # sound and caption controls (ui/review/player_controls.py)
        self.frame = DrawingFrameView()
        self.drawing_bar = DrawingBar()
        self.play_button = QPushButton(
            "Play", clicked=self.toggle_play, toolTip="Play / pause (Space or K) · J / L: back / forward 5 s"
        )
        self.back_button = QPushButton(
            "◀|", clicked=lambda: self.reader and self.reader.step(-1), toolTip="One frame back (Left) · J: back 5 s"
        )
        self.forward_button = QPushButton(
            "|▶",
            clicked=lambda: self.reader and self.reader.step(1),
            toolTip="One frame forward (Right) · L: forward 5 s",
        )
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.sliderMoved.connect(lambda v: self.seek(v / 10))
        self.slider.sliderPressed.connect(lambda: self.seek(self.slider.value() / 10))
        self.slider.actionTriggered.connect(self._slider_action)
        self.time_label = QLabel("0:00.0 / 0:00.0")
        self.rate = QComboBox()
        self.rate.addItems([f"{r:g}×" for r in RATES])
        self.rate.setCurrentIndex(RATES.index(1.0))
        self.rate.currentIndexChanged.connect(lambda i: self.reader and self.reader.set_rate(RATES[i]))
        self.mark_strip = MarkStrip()
        self.mark_strip.seekRequested.connect(self.seek)
        along = QVBoxLayout()  # the marks sit right above the moments of the slider
        along.setSpacing(0)
        along.addWidget(self.mark_strip)
        along.addWidget(self.slider)
        transport = QHBoxLayout()
        for w in (self.back_button, self.play_button, self.forward_button):
            transport.addWidget(w)
        transport.addLayout(along, 1)
        for w in (self.time_label, self.rate, self.mute_button, self.volume_slider, self.captions_button):
            transport.addWidget(w)
        left = QWidget()
        left_box = QVBoxLayout(left)
        left_box.addWidget(self.frame, 1)
        left_box.addLayout(transport)
        left_box.addWidget(self.caption_bar)
        left_box.addWidget(self.drawing_bar)

        self.timeline = TimelineList()
        self.timeline.seekRequested.connect(self.seek)
        self.timeline.editRequested.connect(self._edit)
        self.mark_button = QPushButton(
            "Mark", clicked=self.add_mark, toolTip="Mark this moment (M); I and O mark a range"
        )
        self.tag_bar = TagBar()
        self.tag_bar.filterChanged.connect(self._filter_marks)
        self.tag_bar.editTagsRequested.connect(self.edit_tags)
        self.note_edit = QLineEdit(placeholderText="Note at this moment…")
        self.note_edit.returnPressed.connect(self.add_note)
        self.delete_button = QPushButton("Delete", clicked=self.delete_selected)
        notes = QHBoxLayout()
        for w in (self.mark_button, self.note_edit, self.delete_button):
            notes.addWidget(w, 1 if w is self.note_edit else 0)
        right = QWidget()
        right_box = QVBoxLayout(right)
        right_box.addWidget(self.timeline, 1)
        right_box.addLayout(notes)
        right_box.addWidget(self.tag_bar)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)

        self.window_s = QDoubleSpinBox(
            minimum=2.0,
            maximum=120.0,
            value=DEFAULT_WINDOW_S,
            suffix=" s before",
            toolTip="How many seconds before the moment the model watches",
        )
        self.question = QLineEdit(placeholderText="Ask about this moment, e.g. what formation is the defence in?")
        self.question.returnPressed.connect(self.ask)
        self.ask_button = QPushButton("Ask", clicked=self.ask)
        ask = QHBoxLayout()
        for w in (QLabel("Context:"), self.window_s, self.question, self.ask_button):
            ask.addWidget(w, 1 if w is self.question else 0)
        self.answer = QPlainTextEdit(readOnly=True, maximumHeight=110, placeholderText="Answers appear here.")
        self.status = QLabel("")
        self.status.setWordWrap(True)

        box = QVBoxLayout(self)
        box.addLayout(top)
        box.addWidget(split, 1)
        box.addLayout(ask)
        box.addWidget(self.answer)
        status_row = QHBoxLayout()
        status_row.addWidget(self.status)
        status_row.addWidget(self.folder_button)
        status_row.addStretch(1)
        box.addLayout(status_row)
        for key, slot in (
            ("Space", self.toggle_play),
            ("Left", lambda: self.reader and self.reader.step(-1)),
            ("Right", lambda: self.reader and self.reader.step(1)),
            ("M", self.add_mark),
            ("I", self.set_in_point),
            ("O", self.set_out_point),
        ):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        self._connect_drawing()
        self._finish_player_controls()
        self._enable()

    def _slider_action(self, action: int) -> None:
        """Keys and the wheel on the slider (Home, End, Page Up/Down...) seek too; a drag is sliderMoved's."""
        if action != QAbstractSlider.SliderAction.SliderMove:
            self.seek(self.slider.sliderPosition() / 10)

    def _enable(self) -> None:
        has_video = self.session is not None
        for w in (
            self.play_button,
            self.back_button,
            self.forward_button,
            self.slider,
            self.mark_button,
            self.note_edit,
            self.delete_button,
            self.tag_bar,
            self.export_button,
            self.rate,
            self.drawing_bar,
        ):
            w.setEnabled(has_video)
        can_think = has_video and self.model_available
        for w in (self.commentary_button, self.question, self.ask_button):
            w.setEnabled(can_think)
