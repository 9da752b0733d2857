"""Commentary ahead and questions about a moment, on the engine child, as the Review tab runs them.

The tiny random model runs in a real engine child process; its words are noise,
but every span, save, resume and answer is real.
"""

from __future__ import annotations

import threading

import pytest

from app.review.jobs import ask_about, commentate_ahead
from app.review.session import QA, ReviewSession
from app.sources.synthetic import write_test_video
from models.engine.prompt import DEFAULT_QUERY
from models.engine.records import AnswerDelta, AnswerDone, ChunkDone
from tests.app.review.conftest import TIMEOUT, JobRecorder

PIXELS = 100 * 28 * 28


@pytest.fixture
def clip(tmp_path):
    return write_test_video(tmp_path / "game.mp4", seconds=8, fps=10, size=(320, 240))


def spans(review):
    return [(c.t0, c.t1) for c in review.commentary()]


def test_commentary_ahead_covers_every_chunk_and_saves_each_as_it_comes(review_host, run_commentary, clip):
    with ReviewSession(clip) as review:
        recorder = run_commentary(review)
        done = [e for e in recorder.events if isinstance(e, ChunkDone)]
        assert [(d.t0, d.t1) for d in done] == [(0.0, 3.0)] + [(float(s), s + 1.0) for s in range(3, 8)]
        assert spans(review) == [(d.t0, d.t1) for d in done]
        assert review.store == clip.with_name("game.mp4.review.jsonl")
        again = run_commentary(review)  # nothing left to do: finished, no chunk
        assert again.ended[0] == "finished" and not again.events
    with ReviewSession(clip) as reopened:
        assert [(c.t0, c.t1, c.text) for c in reopened.commentary()] == [(d.t0, d.t1, d.text.strip()) for d in done]


def test_a_stopped_run_resumes_where_it_stopped(review_host, run_commentary, clip):
    with ReviewSession(clip) as review:
        recorder = JobRecorder()
        original = recorder.on_event

        def stop_after_5s(event):
            original(event)
            if isinstance(event, ChunkDone) and event.t1 >= 5.0:
                review_host.stop_session()

        recorder.on_event = stop_after_5s
        commentate_ahead(review_host, review, recorder, query=DEFAULT_QUERY, max_pixels=PIXELS)
        assert recorder.done.wait(TIMEOUT) and recorder.ended[0] == "stopped"
        assert spans(review)[-1] == (4.0, 5.0)
        run_commentary(review)
        assert spans(review) == [(0.0, 3.0), (3.0, 4.0), (4.0, 5.0), (5.0, 8.0)]


def test_asking_about_a_moment_streams_and_saves_the_answer(review_host, clip):
    with ReviewSession(clip) as review:
        recorder = JobRecorder()
        job = ask_about(
            review_host,
            review,
            recorder,
            t=6.0,
            question="What is moving?",
            query=DEFAULT_QUERY,
            max_pixels=PIXELS,
            window_s=4.0,
        )
        assert recorder.done.wait(TIMEOUT) and recorder.failed is None
        deltas = [e for e in recorder.answers if isinstance(e, AnswerDelta)]
        final = recorder.answers[-1]
        assert isinstance(final, AnswerDone) and final.text == "".join(d.text for d in deltas).strip()
        (qa,) = review.items()
        assert qa == job.saved and isinstance(qa, QA)
        assert (qa.t, qa.question, qa.answer, qa.window_s) == (6.0, "What is moving?", final.text, 4.0)
        # the same question on the same footage gets the same (greedy) answer from a fresh context
        second = JobRecorder()
        ask_about(
            review_host,
            review,
            second,
            t=6.0,
            question="What is moving?",
            query=DEFAULT_QUERY,
            max_pixels=PIXELS,
            window_s=4.0,
        )
        assert second.done.wait(TIMEOUT) and second.answers[-1].text == final.text


def test_a_question_ends_commentary_ahead_which_says_so(review_host, tmp_path):
    long_clip = write_test_video(tmp_path / "long.mp4", seconds=30, fps=5, size=(320, 240))
    with ReviewSession(long_clip) as review:
        commentary, first_chunk = JobRecorder(), threading.Event()
        original = commentary.on_event
        commentary.on_event = lambda e: (original(e), isinstance(e, ChunkDone) and first_chunk.set())
        commentate_ahead(review_host, review, commentary, query=DEFAULT_QUERY, max_pixels=PIXELS)
        assert first_chunk.wait(TIMEOUT)
        question = JobRecorder()
        ask_about(
            review_host, review, question, t=2.0, question="Who?", query=DEFAULT_QUERY, max_pixels=PIXELS, window_s=2.0
        )
        assert commentary.done.wait(TIMEOUT) and commentary.ended[0] == "stopped"
        assert question.done.wait(TIMEOUT) and isinstance(question.answers[-1], AnswerDone)
        assert 3.0 <= review.commentary_end < 30.0


def test_a_missing_video_is_reported_to_the_listener(review_host, clip, tmp_path):
    with ReviewSession(clip) as review:
        clip.unlink()
        recorder = JobRecorder()
        ask_about(review_host, review, recorder, t=2.0, question="Who?", query=DEFAULT_QUERY, max_pixels=PIXELS)
        assert recorder.done.wait(TIMEOUT) and "game.mp4" in recorder.failed
