"""The review view with the real engine child on the tiny model, offscreen.

A generated clip is commentated ahead, played, sought and stepped (frames are
identified by the time stamp drawn into them), marked, annotated, questioned
and exported, as a coach would.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.engine.process import Load
from app.review.session import QA, Note, ReviewSession
from app.sinks.subtitles import parse_srt
from app.sinks.transcript import read_transcript
from app.sources.synthetic import read_stamp, write_test_video
from models.engine.livecc_engine import EngineOptions
from models.engine.llama_runtime import RuntimeOptions
from models.engine.prompt import DEFAULT_QUERY
from models.engine.token_sampler import SamplingOptions
from tests.ui.signal_log import SignalLog

ENGINE_TIMEOUT_MS = 180_000  # the machine may be busy; never a measure of speed


@pytest.fixture
def clip(tmp_path):
    return write_test_video(tmp_path / "match.mp4", seconds=6, fps=10, size=(320, 240))


@pytest.fixture
def tiny_load(tiny_model):
    options = EngineOptions(
        runtime=RuntimeOptions(n_ctx=4096, n_threads=1),
        sampling=SamplingOptions(greedy=True),
        max_new_tokens=4,
        answer_max_tokens=8,
    )
    return Load(str(tiny_model.text_path), str(tiny_model.mmproj_path), options, DEFAULT_QUERY)


@pytest.fixture
def make_review_view(qtbot, tmp_path):
    """``make(load=None)`` → a shown ReviewView on its own engine bridge, loading ``load``.

    Afterwards the view and its engine child are shut down.
    """
    from ui.engine_bridge import EngineBridge
    from ui.review.view import ReviewView

    made = []

    def make(load=None):
        bridge = EngineBridge(tmp_path / "logs")
        if load is not None:
            bridge.load(load)
        view = ReviewView(bridge)
        qtbot.addWidget(view)
        view.resize(1000, 700)
        view.show()
        made.append((view, bridge))
        return view

    yield make
    for view, bridge in made:
        view.shutdown()
        bridge.shutdown()
        assert bridge.host.process is None


def shown_time(qtbot, view, expected):
    """Wait until the player is at ``expected`` s; true if its picture is the frame stamped so."""
    qtbot.waitUntil(lambda: view.reader.position == pytest.approx(expected, abs=1e-3), timeout=10_000)
    return read_stamp(view.reader.current_frame) == pytest.approx(expected, abs=1e-3)


def test_commentary_ahead_fills_the_timeline_and_clicking_seeks(qtbot, make_review_view, tiny_load, clip):
    view = make_review_view(tiny_load)
    with qtbot.waitSignal(view.commentaryFinished, timeout=ENGINE_TIMEOUT_MS) as ended:
        assert view.open_video(clip)
    assert ended.args == ["finished"]
    session = view.session
    assert [(c.t0, c.t1) for c in session.commentary()] == [(0.0, 3.0), (3.0, 4.0), (4.0, 5.0), (5.0, 6.0)]
    spoken = [c for c in session.commentary() if c.text]
    assert view.timeline.row_ids() == [c.id for c in spoken]
    assert view.progress.value() == 1000 and view.commentary_complete

    if spoken:  # random weights may stay silent; when they speak, the line seeks there
        last = view.timeline.topLevelItem(len(spoken) - 1)
        view.timeline.itemClicked.emit(last, 0)
        assert shown_time(qtbot, view, spoken[-1].t0)
        qtbot.waitUntil(lambda: view.timeline.selected_id() == spoken[-1].id, timeout=10_000)  # follows playback

    view.seek(2.0)
    assert shown_time(qtbot, view, 2.0)
    view.reader.step(3)
    assert shown_time(qtbot, view, 2.3)
    view.reader.step(-1)
    assert shown_time(qtbot, view, 2.2)
    view.reader.set_rate(4.0)
    SignalLog(view.reader.playingChanged).wait_for(
        qtbot, lambda on: not on, 30_000, action=view.toggle_play
    )  # plays to the end, then stops
    assert view.reader.position == pytest.approx(5.9, abs=1e-3)
    assert view.play_button.text() == "Play"

    # reopening finds everything saved and does not commentate again
    view.close_video()
    with qtbot.assertNotEmitted(view.commentaryFinished, wait=300):
        view.open_video(clip)
    assert view.timeline.row_ids() == [c.id for c in spoken]


def test_marks_notes_question_and_exports(qtbot, make_review_view, tiny_load, clip, tmp_path):
    view = make_review_view(tiny_load)
    with qtbot.waitSignal(view.commentaryFinished, timeout=ENGINE_TIMEOUT_MS):
        view.open_video(clip)
    view.seek(4.0)
    assert shown_time(qtbot, view, 4.0)
    view.add_mark()
    view.note_edit.setText("Press higher here")
    view.note_edit.returnPressed.emit()
    notes = [i for i in view.session.items() if isinstance(i, Note)]
    assert [(n.t, n.text) for n in notes] == [(4.0, ""), (4.0, "Press higher here")]
    assert set(view.timeline.row_ids()) >= {n.id for n in notes}

    view.window_s.setValue(3.0)
    view.question.setText("What is moving?")
    with qtbot.waitSignal(view.answerFinished, timeout=ENGINE_TIMEOUT_MS) as answered:
        view.ask_button.click()
    qa = answered.args[0]
    assert isinstance(qa, QA) and (qa.t, qa.question, qa.window_s) == (4.0, "What is moving?", 3.0)
    assert view.answer.toPlainText().startswith("Q (0:04.0): What is moving?\nA: ")
    assert view.answer.toPlainText().rstrip().endswith(qa.answer)
    assert qa.id in view.timeline.row_ids()

    view.timeline.setCurrentItem(view.timeline.topLevelItem(view.timeline.index_of(notes[0].id)))
    view.delete_selected()
    assert notes[0].id not in view.timeline.row_ids()

    for fmt in ("srt", "vtt", "jsonl"):
        with qtbot.waitSignal(view.exportFinished):
            view.export(fmt, tmp_path / f"out.{fmt}")
    assert any(c.text == "Note: Press higher here" for c in parse_srt((tmp_path / "out.srt").read_text()))
    types = [r["type"] for r in read_transcript(tmp_path / "out.jsonl")]
    assert "qa" in types and "note" in types and "mark" not in types

    with qtbot.waitSignal(view.exportFinished, timeout=120_000) as exported:
        view.export("mp4", tmp_path / "out.mp4")
    result = exported.args[0]
    cap = cv2.VideoCapture(str(result.path))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 60 == result.frames

    view.close_video()
    with ReviewSession(clip) as saved:  # every change reached the disk
        assert {i.id for i in saved.items()} == set(view.timeline.row_ids())
        assert any(isinstance(i, QA) for i in saved.items())


def test_a_question_pauses_commentary_which_then_resumes(qtbot, make_review_view, tiny_load, tmp_path):
    clip = write_test_video(tmp_path / "long.mp4", seconds=20, fps=5, size=(320, 240))
    view = make_review_view(tiny_load)
    ended = []
    view.commentaryFinished.connect(ended.append)
    view.open_video(clip)
    qtbot.waitUntil(lambda: view.session.commentary_end >= 5.0, timeout=ENGINE_TIMEOUT_MS)
    assert view.busy == "commentary"
    view.seek(3.0)
    view.question.setText("Who has the ball?")
    with qtbot.waitSignal(view.answerFinished, timeout=ENGINE_TIMEOUT_MS):
        view.ask()
    qtbot.waitUntil(lambda: ended[-1:] == ["finished"], timeout=ENGINE_TIMEOUT_MS)
    assert ended == ["stopped", "finished"]
    spans = [(c.t0, c.t1) for c in view.session.commentary()]
    assert spans[0][0] == 0.0 and spans[-1][1] == 20.0
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # contiguous: nothing lost, nothing twice


def test_captions_show_on_the_picture(qtbot, make_review_view, clip):
    from models.engine.records import ChunkDone

    view = make_review_view()
    view.open_video(clip)
    view.session.add_chunk(ChunkDone(0, 1.0, 2.0, "A long pass to the wing."))
    view._rebuild_tracks()
    frames = []
    view.reader.frameShown.connect(lambda image, t, raw: frames.append((image, t, raw)))
    for t in (1.5, 3.0):
        view.seek(t)
        qtbot.waitUntil(lambda t=t: bool(frames) and frames[-1][1] == pytest.approx(t), timeout=10_000)
    by_time = {round(t, 3): (image, raw) for image, t, raw in frames}
    (with_caption, raw1), (without, raw2) = by_time[1.5], by_time[3.0]

    def bottom_change(image, raw):
        shown = image.convertToFormat(image.Format.Format_RGB888)
        pixels = np.frombuffer(shown.constBits(), np.uint8).reshape(shown.height(), shown.bytesPerLine())
        pixels = pixels[:, : shown.width() * 3].reshape(shown.height(), shown.width(), 3)
        band = slice(int(0.7 * raw.shape[0]), int(0.88 * raw.shape[0]))
        return float(np.abs(pixels[band].astype(int) - raw[band].astype(int)).mean())

    assert bottom_change(with_caption, raw1) > 10 and bottom_change(without, raw2) == 0


def test_without_a_model_the_view_still_reviews_and_exports(qtbot, make_review_view, clip, tmp_path):
    view = make_review_view()
    assert view.open_video(clip)
    assert not view.ask_button.isEnabled() and not view.commentary_button.isEnabled()
    view.seek(1.0)
    assert shown_time(qtbot, view, 1.0)
    view.add_mark()
    with qtbot.waitSignal(view.exportFinished):
        view.export("jsonl", tmp_path / "marks.jsonl")
    assert read_transcript(tmp_path / "marks.jsonl") == [{"type": "mark", "time": 1.0, "text": ""}]


def test_a_file_that_is_not_a_video_is_reported(make_review_view, tmp_path):
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("not a video\n" * 20)
    view = make_review_view()
    assert not view.open_video(bogus)
    assert "notes.mp4" in view.status.text() and view.session is None


def test_keys_on_the_time_slider_seek(qtbot, make_review_view, clip):
    """End, Home and Page Up on the focused slider move the picture, not only the handle."""
    view = make_review_view()
    assert view.open_video(clip, commentate=False)
    view.slider.setFocus()
    qtbot.keyClick(view.slider, Qt.Key.Key_End)
    qtbot.waitUntil(lambda: view.reader.position > 5.5, timeout=10_000)
    assert read_stamp(view.reader.current_frame) == pytest.approx(view.reader.position, abs=1e-3)
    qtbot.keyClick(view.slider, Qt.Key.Key_Home)
    assert shown_time(qtbot, view, 0.0)
    qtbot.keyClick(view.slider, Qt.Key.Key_PageUp)  # one page forward: 1 s
    assert shown_time(qtbot, view, 1.0)
