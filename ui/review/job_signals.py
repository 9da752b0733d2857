"""The review's engine jobs seen as Qt signals.

:mod:`app.review.jobs` runs commentary ahead and questions on the shared
engine host and reports from worker threads; this adapter only re-emits those
calls as signals, so every slot runs in the UI thread. No logic lives here.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from models.engine.records import AnswerEvent


class ReviewJobSignals(QObject):
    """A :class:`~app.review.jobs.CommentaryListener` and :class:`~app.review.jobs.QuestionListener`."""

    commentaryEvent = Signal(object)  # ChunkStarted / CommentaryDelta / ChunkDone (already saved)
    commentaryEnded = Signal(str, str)  # "finished", "stopped" or "error"; message
    answerEvent = Signal(object)  # AnswerDelta / AnswerDone (already saved)
    askFailed = Signal(str)

    def on_event(self, event: object) -> None:
        self.commentaryEvent.emit(event)

    def on_commentary_ended(self, reason: str, message: str) -> None:
        self.commentaryEnded.emit(reason, message)

    def on_answer(self, event: AnswerEvent) -> None:
        self.answerEvent.emit(event)

    def on_answer_failed(self, message: str) -> None:
        self.askFailed.emit(message)
