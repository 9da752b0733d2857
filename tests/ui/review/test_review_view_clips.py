"""Clips of the marked ranges and the highlights reel, from the Review tab's Export menu (offscreen).

The menu's actions are triggered as a click would, the file dialogs answered,
and the files written are decoded: one clip per ranged mark (a drawing burned
into the frames of its moment), and a reel of the marks under the tag filter.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from app.review.clips import ReelResult
from app.review.drawings import COLOURS, Shape
from app.review.session import ReviewSession
from app.sources.synthetic import write_test_video
from tests.video_files import decoded_frames
from ui.review.clip_exports import CLIP_VOICE, CLIPS, REEL

EXPORT_TIMEOUT_MS = 120_000  # the machine may be busy; never a measure of speed


@pytest.fixture
def clip(tmp_path):
    video = write_test_video(tmp_path / "match.mp4", seconds=6, fps=10, size=(320, 240))
    with ReviewSession(video) as session:
        session.add_mark(0.5, t_out=1.5, tag="attack", label="Overload left")
        session.add_mark(3.0, t_out=4.0, tag="defence", label="Line too deep")
        session.add_mark(5.0, tag="attack")  # a point: no clip
        session.add_drawing(1.0, (Shape("line", ((0.1, 0.5), (0.9, 0.5)), colour="yellow", width=0.02),), hold_s=0.3)
    return video


def menu_action(view, text):
    return next(a for a in view.export_button.menu().actions() if a.text() == text)


def yellow_across(rgb: np.ndarray) -> bool:
    row = rgb[rgb.shape[0] // 2, 40:280].astype(int)
    return bool((np.abs(row - np.array(COLOURS["yellow"])).max(axis=1) < 60).mean() > 0.9)


def test_clips_of_marked_ranges_are_written_into_the_chosen_folder(qtbot, review_view, clip, tmp_path, monkeypatch):
    view = review_view
    assert view.open_video(clip, commentate=False)
    folder = tmp_path / "clips"
    folder.mkdir()
    monkeypatch.setattr("ui.review.clip_exports.QFileDialog.getExistingDirectory", lambda *a, **k: str(folder))
    with qtbot.waitSignal(view.exportFinished, timeout=EXPORT_TIMEOUT_MS) as done:
        menu_action(view, CLIPS).trigger()
    written = done.args[0]
    attack, defence = view.session.marks()[:2]
    assert set(written) == {attack.id, defence.id}
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in written.values())
    first = decoded_frames(written[attack.id])
    assert len(first) == 10 and len(decoded_frames(written[defence.id])) == 10
    assert [yellow_across(f) for f in first] == [False] * 5 + [True] * 3 + [False] * 2  # 1.0 s, held 0.3 s
    assert view.status.text() == "Saved: 2 clips in clips" and view.folder_button.isVisible()


def test_the_highlights_reel_takes_the_marks_under_the_tag_filter(qtbot, review_view, clip, tmp_path, monkeypatch):
    view = review_view
    view.open_video(clip, commentate=False)
    view.tag_bar.filter.setCurrentText("defence")
    out = tmp_path / "reel.mp4"
    monkeypatch.setattr("ui.review.clip_exports.QFileDialog.getSaveFileName", lambda *a, **k: (str(out), ""))
    with qtbot.waitSignal(view.exportFinished, timeout=EXPORT_TIMEOUT_MS) as done:
        menu_action(view, REEL).trigger()
    reel = done.args[0]
    assert isinstance(reel, ReelResult) and reel.path == out and reel.clips == 1
    assert len(decoded_frames(out)) == reel.frames == 30  # a 2 s title card, then the 1 s range
    assert view.status.text() == "Saved: reel.mp4"
    qtbot.waitUntil(lambda: not view.jobs)  # the job is forgotten once done


def test_without_ranged_marks_the_coach_is_told_what_to_do(qtbot, review_view, clip, monkeypatch):
    view = review_view
    view.open_video(clip, commentate=False)
    view.session.set_tags(["attack", "defence", "pressing"])
    view._show_marks()
    view.tag_bar.filter.setCurrentText("pressing")
    monkeypatch.setattr(
        "ui.review.clip_exports.QFileDialog.getSaveFileName", lambda *a, **k: pytest.fail("no dialog expected")
    )
    menu_action(view, REEL).trigger()
    assert "0 marks tagged 'pressing' with an in and out point" in view.status.text()


def test_the_voice_option_speaks_the_commentary_in_the_reel(qtbot, review_view, clip, tmp_path, monkeypatch):
    from app.export.ffmpeg import ffmpeg_exe
    from models.engine.records import ChunkDone

    view = review_view
    view.open_video(clip, commentate=False)
    view.session.add_chunk(ChunkDone(0, 3.0, 4.0, "The line drops far too deep."))
    view.tag_bar.filter.setCurrentText("defence")
    menu_action(view, CLIP_VOICE).trigger()
    assert view.clip_voice.isChecked()
    out = tmp_path / "reel.mp4"
    monkeypatch.setattr("ui.review.clip_exports.QFileDialog.getSaveFileName", lambda *a, **k: (str(out), ""))
    with qtbot.waitSignal(view.exportFinished, timeout=EXPORT_TIMEOUT_MS):
        menu_action(view, REEL).trigger()
    pcm = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(out), "-f", "s16le", "-ac", "1", "-ar", "16000", "-"],
        capture_output=True,
        check=True,
    ).stdout
    samples = np.frombuffer(pcm, dtype=np.int16).astype(int)
    card, moment = samples[: 2 * 16000], samples[2 * 16000 :]
    assert moment.size and np.abs(moment).max() > 1000  # the voice over the (silent) footage
    assert np.abs(card).max() < 50  # the title card is silent
