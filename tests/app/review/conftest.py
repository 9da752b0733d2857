"""A real engine host on the tiny model, shared by the review tests, and a listener that waits."""

from __future__ import annotations

import threading

import pytest

from app.engine.host import EngineHost, EngineState
from app.engine.process import Load
from app.review.jobs import commentate_ahead
from models.engine.livecc_engine import EngineOptions
from models.engine.prompt import DEFAULT_QUERY
from models.engine.token_sampler import SamplingOptions

TIMEOUT = 180  # the machine may be busy; never a measure of speed


class JobRecorder:
    """Keeps what a review job reports and signals its end (answers, commentary, host news)."""

    def __init__(self) -> None:
        self.events: list = []
        self.answers: list = []
        self.ended: tuple[str, str] | None = None
        self.failed: str | None = None
        self.done = threading.Event()
        self.ready = threading.Event()

    # HostListener
    def on_engine_state(self, state, detail):
        if state is EngineState.READY:
            self.ready.set()

    def on_loaded(self, loaded):
        pass

    def on_engine_error(self, failed):
        self.failed = failed.message

    def on_engine_died(self, died):
        self.failed = died.reason

    # CommentaryListener and QuestionListener
    def on_event(self, event):
        self.events.append(event)

    def on_commentary_ended(self, reason, message):
        self.ended = (reason, message)
        self.done.set()

    def on_answer(self, event):
        self.answers.append(event)
        if type(event).__name__ == "AnswerDone":
            self.done.set()

    def on_answer_failed(self, message):
        self.failed = message
        self.done.set()


@pytest.fixture(scope="module")
def review_host(tiny_model, tmp_path_factory):
    """An engine child with the tiny model loaded (greedy, short replies), as the Review tab runs it."""
    recorder = JobRecorder()
    host = EngineHost(recorder, tmp_path_factory.mktemp("logs"))
    options = EngineOptions(sampling=SamplingOptions(greedy=True), max_new_tokens=6, answer_max_tokens=12)
    host.load(Load(str(tiny_model.text_path), str(tiny_model.mmproj_path), options, DEFAULT_QUERY))
    assert recorder.ready.wait(TIMEOUT), recorder.failed
    yield host
    host.shutdown()


@pytest.fixture
def run_commentary(review_host):
    """``run_commentary(review)``: commentary ahead to the end; returns the recorder."""

    def run(review):
        recorder = JobRecorder()
        commentate_ahead(review_host, review, recorder, query=DEFAULT_QUERY, max_pixels=100 * 28 * 28)
        assert recorder.done.wait(TIMEOUT) and recorder.ended[0] == "finished", recorder.ended
        return recorder

    return run
