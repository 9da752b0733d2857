"""The transcript panel reads well: one timed line per spoken chunk, each session from its own zero."""

from __future__ import annotations

from models.engine.records import ChunkDone, ChunkStarted, CommentaryDelta
from ui.live.transcript_view import TranscriptView


def feed(view, t0, t1, *deltas, index=0):
    view.handle_event(ChunkStarted(index, t0, t1))
    for text in deltas:
        view.handle_event(CommentaryDelta(t0, t1, text))
    view.handle_event(ChunkDone(index, t0, t1, "".join(deltas)))


def test_model_newlines_do_not_make_untimed_lines(qtbot):
    view = TranscriptView()
    qtbot.addWidget(view)
    view.begin_session("— 12:00:00 · test —")
    feed(view, 0.0, 3.0, " a goal\n", "from the\r\nleft")
    lines = view.toPlainText().splitlines()
    assert lines[0].startswith("— 12:00:00")
    assert len(lines) == 2 and lines[1].startswith("[") and "a goal from the left" in lines[1]


def test_a_second_session_starts_at_its_own_zero_and_export_follows_on(qtbot):
    view = TranscriptView()
    qtbot.addWidget(view)
    view.begin_session("— first —")
    feed(view, 0.0, 3.0, " one")
    feed(view, 3.0, 4.0, " two", index=1)
    view.begin_session("— second —")
    feed(view, 0.0, 3.0, " three")
    shown = [ln for ln in view.toPlainText().splitlines() if ln.startswith("[")]
    assert shown[0].startswith("[0:00") and shown[2].startswith("[0:00"), shown  # each session from zero
    # The export list never goes back in time: the second session follows the first.
    assert [(c.t0, c.t1) for c in view.chunks] == [(0.0, 3.0), (3.0, 4.0), (4.0, 7.0)]
    assert view.session_position == 3.0


def test_a_file_resumed_where_it_stopped_keeps_its_own_times(qtbot):
    view = TranscriptView()
    qtbot.addWidget(view)
    view.begin_session("— file —")
    feed(view, 0.0, 3.0, " one")
    view.begin_session("— file, resumed —")
    feed(view, 3.0, 6.0, " two")
    assert [(c.t0, c.t1) for c in view.chunks] == [(0.0, 3.0), (3.0, 6.0)]
