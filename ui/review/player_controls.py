"""The review player's sound and caption controls, its J/K/L keys, and the "Saved" message.

A mixin for :class:`ui.review.view.ReviewView` (as :mod:`ui.review.mark_actions` is):

- **Sound**: the footage's own sound (:mod:`ui.review.sound`), with a mute button and a
  volume slider; both disabled for a file without an audio track.
- **Captions**: a "CC" button opens a row of controls: show the commentary, show the
  notes, size, place (bottom or top: the notes take the other edge) and the most
  lines. They style the picture and the burned-in MP4 export alike
  (:class:`app.export.captions.CaptionStyle`).
- **Keys**: J back 5 s, K play/pause, L forward 5 s (as on YouTube), beside Space and
  the arrow keys' frame steps.
- **Exports**: "Saved: NAME" with a "Show in folder" button after each export; the
  export menu's options choose whether subtitles include marks and questions.

The choices are :class:`app.settings.ReviewSettings`; ``prefs.changed`` carries each new
one to the window, which saves it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QStyle,
    QToolButton,
    QWidget,
)

from app.export.captions import CaptionStyle
from app.settings import ReviewSettings
from ui.review.sound import PlayerSound

JUMP_S = 5.0
#: Caption sizes offered (text height as a fraction of the picture's), the default being "Medium".
CAPTION_SIZES = {"Small": 0.035, "Medium": 0.05, "Large": 0.065, "Extra large": 0.08}
CAPTION_LINES = {"All lines": 0, "1 line": 1, "2 lines": 2, "3 lines": 3}
CAPTION_PLACES = {"Bottom": "bottom", "Top": "top"}
SAVED_STYLE = "color: #3fb950; font-weight: 600; font-size: 14px"


def open_url(url: QUrl) -> bool:
    """Open ``url`` with the desktop's program for it (a folder: the file manager)."""
    return QDesktopServices.openUrl(url)


class PlayerPrefs(QObject):
    """The Review tab's :class:`ReviewSettings`; ``changed`` with the new ones on every change."""

    changed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = ReviewSettings()

    def update(self, **changes) -> None:
        new = dataclasses.replace(self.settings, **changes)
        if new != self.settings:
            self.settings = new
            self.changed.emit(new)


class PlayerControls:
    """Mixin for :class:`ui.review.view.ReviewView`: the player's sound, captions, keys and exports' message."""

    def _build_player_controls(self) -> None:
        """The widgets; ``ui.review.layout`` places them, then calls :meth:`_finish_player_controls`."""
        self.prefs = PlayerPrefs(self)
        self.sound: PlayerSound | None = None
        self._saved_folder: Path | None = None
        self.mute_button = QToolButton(checkable=True, objectName="muteButton", autoRaise=True)
        self.volume_slider = QSlider(Qt.Orientation.Horizontal, objectName="volumeSlider", maximumWidth=80)
        self.volume_slider.setRange(0, 100)
        self.volume_slider.setToolTip("Volume of the footage's sound")
        self.captions_button = QToolButton(
            text="CC", checkable=True, objectName="captionsButton", toolTip="Captions: show, size, place, lines"
        )
        self.show_captions = QCheckBox("Commentary", toolTip="Show the commentary on the picture")
        self.show_notes = QCheckBox("Notes", toolTip="Show notes, marks and answers on the picture")
        self.caption_size = QComboBox(toolTip="Caption size (also in exported MP4s)")
        self.caption_size.addItems(list(CAPTION_SIZES))
        self.caption_place = QComboBox(toolTip="Where the commentary goes; notes take the other edge")
        self.caption_place.addItems(list(CAPTION_PLACES))
        self.caption_lines = QComboBox(toolTip="The most lines a caption shows (the newest words stay)")
        for text, lines in CAPTION_LINES.items():
            self.caption_lines.addItem(text, lines)
        self.caption_bar = QWidget(objectName="captionBar")
        row = QHBoxLayout(self.caption_bar)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Captions:"))
        for w in (self.show_captions, self.show_notes, self.caption_size, self.caption_place, self.caption_lines):
            row.addWidget(w)
        row.addStretch(1)
        self.caption_bar.hide()
        self.folder_button = QPushButton("Show in folder", objectName="showInFolder")
        self.folder_button.setToolTip("Open the folder of the file just saved")
        self.folder_button.hide()

    def _finish_player_controls(self) -> None:
        """Connect the controls (after the view's layout is built)."""
        self.mute_button.toggled.connect(self._set_muted)
        self.volume_slider.valueChanged.connect(self._set_volume)
        self.captions_button.toggled.connect(self.caption_bar.setVisible)
        self.show_captions.toggled.connect(lambda on: self._set_prefs(captions_visible=on))
        self.show_notes.toggled.connect(lambda on: self._set_prefs(notes_visible=on))
        self.caption_size.currentTextChanged.connect(lambda s: self._set_prefs(caption_size=CAPTION_SIZES[s]))
        self.caption_place.currentTextChanged.connect(lambda s: self._set_prefs(caption_position=CAPTION_PLACES[s]))
        self.caption_lines.currentIndexChanged.connect(
            lambda i: self._set_prefs(caption_lines=self.caption_lines.itemData(i))
        )
        self.folder_button.clicked.connect(self._show_saved_folder)
        menu = self.export_button.menu()
        menu.addSection("Subtitles (SRT, WebVTT) include")
        self.include_marks = QAction("Marks and notes", menu, checkable=True, objectName="includeMarks")
        self.include_qa = QAction("Questions and answers", menu, checkable=True, objectName="includeQa")
        for action in (self.include_marks, self.include_qa):
            menu.addAction(action)
        self.include_marks.toggled.connect(lambda on: self.prefs.update(subtitles_marks=on))
        self.include_qa.toggled.connect(lambda on: self.prefs.update(subtitles_qa=on))
        for key, slot in (
            ("J", lambda: self._jump(-JUMP_S)),
            ("K", self.toggle_play),
            ("L", lambda: self._jump(JUMP_S)),
        ):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        self.apply_review_settings(self.prefs.settings)
        self._sound_enabled(False, "Sound: open a video")

    # -- settings ------------------------------------------------------------------------------
    def apply_review_settings(self, settings: ReviewSettings) -> None:
        """Show ``settings`` in the controls and use them (the window's saved ones, at start)."""
        self.prefs.settings = settings
        widgets = (
            self.mute_button,
            self.volume_slider,
            self.show_captions,
            self.show_notes,
            self.caption_size,
            self.caption_place,
            self.caption_lines,
            self.include_marks,
            self.include_qa,
        )
        for w in widgets:
            w.blockSignals(True)
        self.mute_button.setChecked(settings.muted)
        self.volume_slider.setValue(round(settings.volume * 100))
        self.show_captions.setChecked(settings.captions_visible)
        self.show_notes.setChecked(settings.notes_visible)
        nearest = min(CAPTION_SIZES, key=lambda k: abs(CAPTION_SIZES[k] - settings.caption_size))
        self.caption_size.setCurrentText(nearest)
        self.caption_place.setCurrentText(next(k for k, v in CAPTION_PLACES.items() if v == settings.caption_position))
        index = self.caption_lines.findData(settings.caption_lines)
        if index < 0:  # a number the list does not offer (set in the settings file): offer it
            self.caption_lines.addItem(f"{settings.caption_lines} lines", settings.caption_lines)
            index = self.caption_lines.count() - 1
        self.caption_lines.setCurrentIndex(index)
        self.include_marks.setChecked(settings.subtitles_marks)
        self.include_qa.setChecked(settings.subtitles_qa)
        for w in widgets:
            w.blockSignals(False)
        self._show_mute()
        self._restyle()
        if self.sound is not None:
            self.sound.set_volume(settings.volume)
            self.sound.set_muted(settings.muted)

    def _set_prefs(self, **changes) -> None:
        self.prefs.update(**changes)
        self._restyle()

    def caption_style(self) -> CaptionStyle:
        """How captions show on the picture and in exported MP4s, as chosen."""
        s = self.prefs.settings
        return CaptionStyle(
            font=s.caption_size,
            position=s.caption_position,
            max_lines=s.caption_lines,
            visible=s.captions_visible,
            notes_visible=s.notes_visible,
        )

    def subtitle_options(self) -> dict[str, bool]:
        """What SRT and WebVTT exports include besides the commentary (``export_srt``'s options)."""
        return {"notes": self.prefs.settings.subtitles_marks, "answers": self.prefs.settings.subtitles_qa}

    def _restyle(self) -> None:
        if self.reader is not None:
            self.reader.set_style(self.caption_style())

    # -- sound ---------------------------------------------------------------------------------
    def _attach_player(self, reader) -> None:
        """A video was opened: its captions styled, its sound probed (in a thread)."""
        reader.set_style(self.caption_style())
        s = self.prefs.settings
        self.sound = PlayerSound(reader, volume=s.volume, muted=s.muted, parent=self)
        self.sound.ready.connect(self._sound_ready)
        self._sound_enabled(False, "Sound: looking for the video's audio…")

    def _detach_player(self) -> None:
        if self.sound is not None:
            self.sound.close()
            self.sound.deleteLater()
            self.sound = None
        self._sound_enabled(False, "Sound: open a video")

    def _sound_ready(self, state: str, note: str) -> None:
        if state == "sound":
            self._sound_enabled(True, "")
        elif state == "none":
            self._sound_enabled(False, "This video has no sound")
        else:
            self._sound_enabled(False, note)
            shown = self.status.text()
            self.show_status(f"{shown} · {note}" if shown else note, "warn")

    def _sound_enabled(self, on: bool, why: str) -> None:
        self.mute_button.setEnabled(on)
        self.volume_slider.setEnabled(on)
        self._sound_why = why
        self._show_mute()

    def _show_mute(self) -> None:
        muted = self.mute_button.isChecked()
        icon = QStyle.StandardPixmap.SP_MediaVolumeMuted if muted else QStyle.StandardPixmap.SP_MediaVolume
        self.mute_button.setIcon(self.style().standardIcon(icon))
        tip = "Unmute the footage's sound" if muted else "Mute the footage's sound"
        why = getattr(self, "_sound_why", "")
        self.mute_button.setToolTip(f"{tip} · {why}" if why else tip)

    def _set_muted(self, muted: bool) -> None:
        self.prefs.update(muted=muted)
        if self.sound is not None:
            self.sound.set_muted(muted)
        self._show_mute()

    def _set_volume(self, value: int) -> None:
        self.prefs.update(volume=value / 100)
        if self.sound is not None:
            self.sound.set_volume(value / 100)

    # -- keys ----------------------------------------------------------------------------------
    def _jump(self, seconds: float) -> None:
        if self.reader is not None:
            end = max(0.0, self.reader.duration - 1.0 / self.reader.fps)
            self.seek(min(end, max(0.0, self.reader.position + seconds)))

    # -- exports -------------------------------------------------------------------------------
    def show_saved(self, path: str | Path) -> None:
        """Say an export was saved, in plain sight, with a button to its folder."""
        path = Path(path)
        self.show_status(f"Saved: {path.name}")
        self.status.setStyleSheet(SAVED_STYLE)
        self.status.setWordWrap(False)  # one line, the button right after it
        self.status.setToolTip(str(path))
        self._saved_folder = path.parent
        self.folder_button.show()

    def _hide_saved(self) -> None:
        """Another message replaces the "Saved" one."""
        self.folder_button.hide()
        self.status.setToolTip("")
        self.status.setWordWrap(True)

    def _show_saved_folder(self) -> None:
        if self._saved_folder is not None:
            open_url(QUrl.fromLocalFile(str(self._saved_folder)))
