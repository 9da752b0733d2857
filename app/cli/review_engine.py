"""The model's part of ``livecc-desk review``: commentary ahead and questions, headless.

The same jobs as the Review tab (:mod:`app.review.jobs`) on the same kind of
engine host (:class:`~app.engine.host.EngineHost`, llama.cpp in a child process),
so a review prepared in a batch is exactly what the GUI would have saved:
commentary from where the journal's stops (a re-run resumes), then each
``--ask T:QUESTION`` answered from the seconds before ``T``.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import threading
from dataclasses import dataclass

from app.engine.host import EngineHost, EngineState
from app.engine.process import Load
from app.review.jobs import FINISHED, ask_about, commentate_ahead
from app.review.session import DEFAULT_WINDOW_S, ReviewSession
from app.timefmt import clock
from models.engine.records import AnswerDone, ChunkDone
from models.errors import LiveCCError

LOAD_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class AskSpec:
    """One ``--ask``: the moment and the question."""

    t: float
    question: str


def parse_ask(text: str) -> AskSpec:
    """``T:QUESTION`` (T in seconds or ``m:ss.s``) → an :class:`AskSpec` (an ``argparse`` type)."""
    from app.cli.review import TIME_PATTERN, parse_time

    found = re.match(rf"^\s*({TIME_PATTERN}):(.*\S.*)$", text, re.S)
    if found is None:
        raise argparse.ArgumentTypeError(f"--ask {text!r}: expected T:QUESTION, e.g. 12.5:Who presses the ball?")
    return AskSpec(parse_time(found[1]), found[2].strip())


class _Waiter:
    """The host's and one job's news, as events a plain loop can wait on (called from worker threads)."""

    def __init__(self) -> None:
        self.ready, self.done = threading.Event(), threading.Event()
        self.failed: str | None = None
        self.ended: tuple[str, str] | None = None
        self.chunks = 0

    # HostListener
    def on_engine_state(self, state: EngineState, detail: str) -> None:
        if state is EngineState.READY:
            self.ready.set()
        elif state in (EngineState.FAILED, EngineState.DEAD):
            self.failed = self.failed or detail
            self.ready.set()
            self.done.set()

    def on_loaded(self, loaded: object) -> None:
        pass

    def on_engine_error(self, failed) -> None:
        self.failed = failed.message

    def on_engine_died(self, died) -> None:
        self.failed = died.reason
        self.done.set()

    # CommentaryListener and QuestionListener
    def on_event(self, event: object) -> None:
        if isinstance(event, ChunkDone):
            self.chunks += 1
            print(f"\rcommentary {clock(event.t1)}", end="", file=sys.stderr, flush=True)

    def on_commentary_ended(self, reason: str, message: str) -> None:
        self.ended = (reason, message)
        self.done.set()

    def on_answer(self, event: object) -> None:
        if isinstance(event, AnswerDone):
            self.done.set()

    def on_answer_failed(self, message: str) -> None:
        self.failed = message
        self.done.set()


def run_model(review: ReviewSession, load: Load, asks: list[AskSpec], *, max_pixels: int) -> None:
    """Commentate the rest of ``review``'s video, then answer ``asks``; everything lands in its journal."""
    news = _Waiter()
    with tempfile.TemporaryDirectory(prefix="livecc-review-") as logs:
        host = EngineHost(news, logs)
        try:
            host.load(load)
            if not news.ready.wait(LOAD_TIMEOUT_S) or news.failed:
                raise LiveCCError(f"The model did not load: {news.failed or 'timed out'}")
            news.done.clear()
            commentate_ahead(host, review, news, query=load.query, max_pixels=max_pixels)
            news.done.wait()
            print(file=sys.stderr)
            if news.ended is None or news.ended[0] != FINISHED:
                raise LiveCCError(f"Commentary stopped: {news.ended[1] if news.ended else news.failed}")
            for ask in asks:
                news.done.clear()
                job = ask_about(
                    host,
                    review,
                    news,
                    t=ask.t,
                    question=ask.question,
                    query=load.query,
                    max_pixels=max_pixels,
                    window_s=DEFAULT_WINDOW_S,
                )
                news.done.wait()
                if job.saved is None:
                    raise LiveCCError(f"No answer to {ask.question!r}: {news.failed}")
                print(f"Q {clock(ask.t)} {ask.question}\nA {job.saved.answer}")
        finally:
            host.shutdown()
