"""The review's two jobs on the engine host: commentary ahead, and a question about a moment.

Both run as sessions on the one :class:`~app.engine.host.EngineHost` (the same
engine child as the Live tab), fed a file: every chunk, none dropped, as fast
as the engine goes.

- :func:`commentate_ahead` commentates the rest of the video, from where its
  commentary stops, and saves every finished chunk in the review's journal the
  moment it arrives, so a crash of the app or the engine loses nothing said.
- :func:`ask_about` has the engine watch the seconds before a moment
  (:func:`~app.review.session.window_span`) as it would live, then answers the
  question from that context (LiveCC's conversation mode); the answer is saved
  on the timeline when it is complete.

This is the code the Review tab runs; ``ui/review`` only turns the listener's
calls into signals. Listeners are called from worker threads.
"""

from __future__ import annotations

from typing import Protocol

from app.engine.host import EngineHost
from app.pipeline.pacing import LiveStats
from app.pipeline.session import Session, SessionEnded
from app.review.session import DEFAULT_WINDOW_S, QA, ReviewSession, window_span
from app.sources.file_source import FileSource
from models.engine.records import AnswerDone, AnswerEvent, ChunkDone, Frame
from models.errors import LiveCCError

FINISHED, STOPPED, ERROR = "finished", "stopped", "error"


class CommentaryListener(Protocol):
    """Hears commentary ahead: each engine event (after its chunk is saved), then the end."""

    def on_event(self, event: object) -> None: ...
    def on_commentary_ended(self, reason: str, message: str) -> None:
        """``reason``: ``"finished"``, ``"stopped"`` or ``"error"``."""
        ...


class QuestionListener(Protocol):
    """Hears an answer as it is decoded (the finished one is saved first), or why there is none."""

    def on_answer(self, event: AnswerEvent) -> None: ...
    def on_answer_failed(self, message: str) -> None: ...


class _Quiet:
    """The session-listener calls a review job does not show."""

    def on_preview(self, frame: Frame) -> None:
        pass

    def on_stats(self, stats: LiveStats) -> None:
        pass

    def on_warning(self, text: str) -> None:
        pass


class CommentaryJob(_Quiet):
    """Saves each finished chunk, forwards every event, and says how the run ended."""

    def __init__(self, host: EngineHost, review: ReviewSession, listener: CommentaryListener) -> None:
        self.host, self.review, self.listener = host, review, listener
        self.resumed_from = review.commentary_end
        self.session: Session | None = None
        self._save_failed: str | None = None

    def on_event(self, event: object) -> None:
        if self._save_failed is not None:
            return
        if isinstance(event, ChunkDone):
            try:
                self.review.add_chunk(event)
            except LiveCCError as exc:  # a full disk: stop rather than commentate what cannot be kept
                self._save_failed = str(exc)
                self.host.stop_session()
                return
        self.listener.on_event(event)

    def on_finished(self, ended: SessionEnded) -> None:
        if self._save_failed is not None:
            self.listener.on_commentary_ended(ERROR, self._save_failed)
        elif ended.reason == "finished":
            self.listener.on_commentary_ended(FINISHED, "Commentary is complete.")
        elif ended.reason == "stopped":
            self.listener.on_commentary_ended(STOPPED, ended.message)
        elif ended.reason == "source_failed" and ended.chunks == 0 and self.resumed_from > 0:
            # No frame after the last saved chunk: the video was already commentated to its end.
            self.listener.on_commentary_ended(FINISHED, "Commentary is complete.")
        else:
            self.listener.on_commentary_ended(ERROR, ended.message)


def commentate_ahead(
    host: EngineHost, review: ReviewSession, listener: CommentaryListener, *, query: str, max_pixels: int
) -> CommentaryJob:
    """Commentate ``review``'s video from :attr:`~ReviewSession.commentary_end` to its end.

    Ends any job running on the host. Raises ``RuntimeError`` if no model is ready.
    """
    job = CommentaryJob(host, review, listener)
    source = FileSource(review.video, start=job.resumed_from)
    job.session = host.start_session(source, job, query=query, transcript_path=None, max_pixels=max_pixels)
    return job


class QuestionJob(_Quiet):
    """Watches the seconds before the moment, then asks; saves the finished answer."""

    def __init__(
        self,
        host: EngineHost,
        review: ReviewSession,
        listener: QuestionListener,
        *,
        t: float,
        question: str,
        window_s: float,
    ) -> None:
        self.host, self.review, self.listener = host, review, listener
        self.t, self.question, self.window_s = t, question.strip(), window_s
        self.saved: QA | None = None  # the answer on the timeline, once complete

    def on_event(self, event: object) -> None:
        pass  # the window's own commentary stays in the context, not on the timeline

    def on_finished(self, ended: SessionEnded) -> None:
        if ended.reason != "finished":
            self.listener.on_answer_failed(ended.message)
        elif not self.host.ask(self.question, self):
            self.listener.on_answer_failed("The engine is not ready: load a model first.")

    def on_answer(self, event: AnswerEvent) -> None:
        if isinstance(event, AnswerDone):
            try:
                self.saved = self.review.add_qa(self.t, self.question, event.text, self.window_s)
            except LiveCCError as exc:
                self.listener.on_answer_failed(str(exc))
                return
        self.listener.on_answer(event)

    def on_answer_failed(self, message: str) -> None:
        self.listener.on_answer_failed(message)


def ask_about(
    host: EngineHost,
    review: ReviewSession,
    listener: QuestionListener,
    *,
    t: float,
    question: str,
    query: str,
    max_pixels: int,
    window_s: float = DEFAULT_WINDOW_S,
) -> QuestionJob:
    """Answer ``question`` about moment ``t`` from the ``window_s`` seconds before it.

    Ends any job running on the host (commentary ahead resumes only if asked
    again). Raises ``RuntimeError`` if no model is ready.
    """
    job = QuestionJob(host, review, listener, t=t, question=question, window_s=window_s)
    start, end = window_span(t, window_s)
    host.start_session(
        FileSource(review.video, start=start, end=end), job, query=query, transcript_path=None, max_pixels=max_pixels
    )
    return job
