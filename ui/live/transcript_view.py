"""The live transcript panel: one timestamped line per spoken chunk, growing word by word.

A line is opened by the first words of a chunk (silent chunks leave no line),
so the panel reads like subtitles, not like a log of seconds. It keeps every
finished chunk since the last "Clear" (across engine restarts and sessions):
that list is what "Export" writes. Session starts, answers to questions and
notices appear as grey lines between the commentary.
"""

from __future__ import annotations

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
        self.setMaximumBlockCount(20000)
        self.setPlaceholderText("Commentary appears here, word by word, once you press Start.")
        self.chunks: list[ChunkDone] = []
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

    def add_note(self, text: str) -> None:
        self._line_open = self._answer_open = False
        self._insert(text, self._note_fmt, True)

    def handle_event(self, event: object) -> None:
        if isinstance(event, ChunkStarted):
            self._line_open = False
        elif isinstance(event, CommentaryDelta):
            text = event.text
            if not self._line_open:
                if is_silence(text):
                    return
                self._insert(f"[{clock(event.t0)}] ", self._time_fmt, True)
                text = text.lstrip()
                self._line_open = True
            self._insert(text, self._text_fmt, False)
        elif isinstance(event, ChunkDone):
            self.chunks.append(event)
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
        self._line_open = self._answer_open = False
        self.clear()
