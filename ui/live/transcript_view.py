"""The live transcript panel: one timestamped line per spoken chunk, growing word by word.

A line is opened by the first words of a chunk (silent chunks leave no line),
so the panel reads like subtitles, not like a log of seconds; line breaks in the
model's text become spaces, so every line carries its time. Each session's times
start at its own zero (a file's at its position in the file), under a grey line
with the wall-clock time it began. The panel keeps every finished chunk since
the last "Clear" (across engine restarts and sessions): that list is what
"Export" writes, a session that starts earlier than the one before shifted to
follow it, so exported subtitles never overlap. Answers to questions and
notices appear as grey lines between the commentary.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtGui import QColor, QFont, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from app.sinks.voice import is_silence
from app.timefmt import clock
from models.engine.records import AnswerDelta, AnswerDone, ChunkDone, ChunkStarted, CommentaryDelta


class TranscriptView(QPlainTextEdit):
    """Shows engine records as they come; ``chunks`` holds the finished ones."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("transcript")
        self.setReadOnly(True)
        # Every word is inserted by code; an undo history of them would grow for hours (bench/gui_soak.py).
        self.setUndoRedoEnabled(False)
        self.setMaximumBlockCount(20000)
        self.setPlaceholderText("Commentary appears here, word by word, once you press Start.")
        self.chunks: list[ChunkDone] = []
        self.session_position: float | None = None  # where this session's commentary reached (its own times)
        self._shift: float | None = 0.0  # added to this session's chunks in ``chunks`` (None: not yet known)
        self._line_open = False
        self._answer_open = False
        self._time_fmt = QTextCharFormat()
        self._time_fmt.setForeground(QColor("#7f8c98"))
        self._text_fmt = QTextCharFormat()
        self._note_fmt = QTextCharFormat()
        self._note_fmt.setForeground(QColor("#8a94a0"))
        self._note_fmt.setFontItalic(True)
        self._answer_fmt = QTextCharFormat()
        self._answer_fmt.setForeground(QColor("#e3b341"))
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.08)
        self.setFont(font)

    @property
    def end_time(self) -> float:
        """Where the transcript's timeline ends (0 when empty)."""
        return max((c.t1 for c in self.chunks), default=0.0)

    @property
    def spoken_text(self) -> str:
        return " ".join(c.text.strip() for c in self.chunks if not c.silent)

    def _at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - 4

    def _insert(self, text: str, fmt: QTextCharFormat, new_line: bool) -> None:
        follow = self._at_bottom()
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if new_line and not self.document().isEmpty():
            cursor.insertBlock()
        cursor.insertText(text, fmt)
        if follow:
            self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    def begin_session(self, note: str) -> None:
        """A new session starts: its times start afresh (see the module docstring)."""
        self._shift = None
        self.session_position = None
        self.add_note(note)

    def add_note(self, text: str) -> None:
        self._line_open = self._answer_open = False
        self._insert(text, self._note_fmt, True)

    def handle_event(self, event: object) -> None:
        if isinstance(event, ChunkStarted):
            self._line_open = False
        elif isinstance(event, CommentaryDelta):
            text = event.text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
            if not self._line_open:
                if is_silence(text):
                    return
                self._insert(f"[{clock(event.t0)}] ", self._time_fmt, True)
                text = text.lstrip()
                self._line_open = True
            self._insert(text, self._text_fmt, False)
        elif isinstance(event, ChunkDone):
            if self._shift is None:
                self._shift = max(0.0, self.end_time - event.t0)
            self.session_position = event.t1
            shifted = dataclasses.replace(event, t0=event.t0 + self._shift, t1=event.t1 + self._shift)
            self.chunks.append(shifted if self._shift else event)
            self._line_open = False
        elif isinstance(event, AnswerDelta):
            if not self._answer_open:
                self._insert("A: ", self._answer_fmt, True)
                self._answer_open = True
            self._insert(event.text, self._answer_fmt, False)
        elif isinstance(event, AnswerDone):
            if not self._answer_open:
                self._insert(f"A: {event.text}", self._answer_fmt, True)
            self._answer_open = False

    def clear_all(self) -> None:
        self.chunks.clear()
        self.session_position, self._shift = None, 0.0
        self._line_open = self._answer_open = False
        self.clear()
