"""The review session: a generated clip commentated ahead, marked, questioned and exported.

The timeline and its journal without the engine; commentary for the export
test comes from the real engine child (``run_commentary``, in conftest.py), as
the Review tab gets it. The engine's jobs themselves are in test_review_jobs.py.
"""

from __future__ import annotations

import json
import os

import cv2
import pytest

from app.errors import OutputError
from app.review import export as review_export
from app.review.session import QA, Commentary, Note, ReviewSession, review_store_for, window_span
from app.sinks.subtitles import parse_srt, parse_vtt
from app.sinks.transcript import read_transcript
from app.sources.synthetic import write_test_video


@pytest.fixture
def clip(tmp_path):
    return write_test_video(tmp_path / "game.mp4", seconds=8, fps=10, size=(320, 240))


@pytest.fixture
def session(clip):
    with ReviewSession(clip) as session:
        yield session


def spans(session):
    return [(c.t0, c.t1) for c in session.commentary()]


def test_marks_notes_edits_and_removal_survive_reopening(session, clip):
    mark = session.add_note(4.2)
    note = session.add_note(1.5, "  Back line too high ")
    qa = session.add_qa(6.0, "Who has the ball?", "The striker.", 10.0)
    assert [type(i) for i in session.items()] == [Note, Note, QA]
    assert session.items()[0] == Note(note.id, 1.5, "Back line too high")
    session.edit(note.id, text="Back line far too high", t=1.0)
    session.edit(qa.id, answer="The left winger.")
    session.remove(mark.id)
    with pytest.raises(ValueError):
        session.edit(qa.id, window_s=3.0)
    with pytest.raises(KeyError):
        session.remove("nope")
    session.close()
    with ReviewSession(clip) as again:
        assert again.items() == [
            Note(note.id, 1.0, "Back line far too high"),
            QA(qa.id, 6.0, "Who has the ball?", "The left winger.", 10.0),
        ]
        assert again.add_note(7.0).id not in {note.id, qa.id, mark.id}


def test_a_crash_mid_line_and_a_damaged_line_lose_only_themselves(session, clip):
    first = session.add_note(1.0, "first")
    second = session.add_note(2.0, "second")
    session.close()
    lines = session.store.read_bytes().split(b"\n")
    damaged = b"\n".join(lines[:2] + [b"{garbage"] + lines[2:]).rstrip(b"\n") + b"\n"
    session.store.write_bytes(damaged + b'{"op": "add", "item": {"kind": "note", "id"')  # a cut-off write
    with ReviewSession(clip) as again:
        assert [i.id for i in again.items()] == [first.id, second.id]
        assert any("damaged" in w for w in again.warnings)
        again.add_note(3.0, "third")
    with ReviewSession(clip) as third:
        assert [i.text for i in third.items()] == ["first", "second", "third"]


def test_a_changed_video_starts_a_fresh_review(session, clip, tmp_path):
    session.add_note(1.0, "for the old cut")
    session.close()
    write_test_video(clip, seconds=3, fps=10, size=(320, 240))
    with ReviewSession(clip) as fresh:
        assert fresh.items() == [] and "changed" in fresh.warnings[0]
    assert clip.with_name("game.mp4.review.jsonl.bak").exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write into read-only folders")
def test_a_read_only_folder_keeps_the_review_in_user_data(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    folder = tmp_path / "card"
    folder.mkdir()
    video = write_test_video(folder / "clip.mp4", seconds=1)
    folder.chmod(0o555)
    try:
        assert (tmp_path / "data") in review_store_for(video).parents
    finally:
        folder.chmod(0o755)


def test_the_window_is_the_seconds_before_the_moment():
    assert window_span(6.0, 4.0) == (2.0, 6.0)
    assert window_span(0.2, 4.0) == (0.0, 1.0)  # at least one second


def test_every_export(session, clip, tmp_path, run_commentary):
    run_commentary(session)
    session.add_note(2.0, "Watch the press")
    session.add_note(5.0)
    session.add_qa(6.0, "Who scored?", "Number nine.", 4.0)
    srt, vtt, jsonl = review_export.export_all(session, tmp_path / "", "session")
    words = " ".join(c.text for c in session.commentary() if c.text).split()
    for cues in (parse_srt(srt.read_text()), parse_vtt(vtt.read_text())):
        assert " ".join(c.text for c in cues if not c.text.startswith("Note:")).split() == words
        notes = [c for c in cues if c.text.startswith("Note:")]
        assert [(n.start, n.end, n.text) for n in notes] == [(2.0, 6.0, "Note: Watch the press")]
    records = read_transcript(jsonl)
    assert [r["type"] for r in records].count("commentary") == len([c for c in session.commentary() if c.text])
    assert {"type": "mark", "time": 5.0, "text": ""} in records
    assert {"type": "note", "time": 2.0, "text": "Watch the press"} in records
    assert {"type": "qa", "time": 6.0, "question": "Who scored?", "answer": "Number nine.", "window_s": 4.0} in records
    assert [r.get("start", r.get("time")) for r in records] == sorted(r.get("start", r.get("time")) for r in records)
    with_answers = parse_srt(review_export.export_srt(session, tmp_path / "qa.srt", answers=True).read_text())
    assert any(c.text == "Q: Who scored?\nA: Number nine." for c in with_answers)

    result = review_export.export_mp4(session, tmp_path / "session.mp4")
    cap = cv2.VideoCapture(str(result.path))
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert frames == result.frames == 80 and cap.get(cv2.CAP_PROP_FPS) == 10.0


def test_exports_report_unwritable_places(session, tmp_path):
    session.add_note(1.0, "x")
    with pytest.raises(OutputError, match="nope"):
        review_export.export_jsonl(session, tmp_path / "nope" / "out.jsonl")
    with pytest.raises(OutputError, match="nope"):
        review_export.export_srt(session, tmp_path / "nope" / "out.srt")


def test_journal_lines_are_plain_json(session):
    session.add_note(1.0, "Mbappé")
    lines = session.store.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["op"] == "open"
    assert json.loads(lines[-1])["item"] == {"kind": "note", "id": "n1", "t": 1.0, "text": "Mbappé"}
    assert isinstance(session.items()[0], Note) and not isinstance(session.items()[0], Commentary)


def test_a_full_disk_is_reported_and_leaves_the_review_readable(tiny_disk):
    video = tiny_disk / "clip.avi"
    video.write_bytes(b"\0" * 1024)  # the review needs the video's size, not its frames
    session = ReviewSession(video)
    first = session.add_note(1.0, "kept")
    with pytest.raises(OutputError, match="disk is full"):
        for n in range(1000):
            session.add_note(2.0 + n, "x" * 200)
    session.close()
    with ReviewSession(video) as again:
        assert again.items()[0] == first and not again.warnings


def test_a_journal_of_many_edits_is_compacted_on_opening(session, clip):
    note = session.add_note(1.0, "v0")
    for n in range(1, 120):
        session.edit(note.id, text=f"v{n}")
    session.close()
    before = len(session.store.read_text().splitlines())
    with ReviewSession(clip) as again:
        assert again.items() == [Note(note.id, 1.0, "v119")]
        assert len(again.store.read_text().splitlines()) == 2 < before  # the header and the note
        again.add_note(2.0, "after")
    with ReviewSession(clip) as third:
        assert [i.text for i in third.items()] == ["v119", "after"]
