"""Tagged marks with in/out points: kept in the journal, edited, filtered, and old journals still load."""

from __future__ import annotations

import json

import pytest

from app.review.session import DEFAULT_TAGS, Note, ReviewSession
from app.sources.synthetic import write_test_video


@pytest.fixture
def clip(tmp_path):
    return write_test_video(tmp_path / "game.mp4", seconds=4, fps=10, size=(160, 120))


def test_a_tagged_range_is_kept_edited_filtered_and_deleted_across_reopening(clip):
    with ReviewSession(clip) as session:
        press = session.add_mark(3.0, t_out=1.0, tag="defence", label=" High press ", text="Too slow")
        corner = session.add_mark(2.5, tag="set piece", label="Corner")
        point = session.add_mark(0.5)
        assert press == Note(press.id, 1.0, "Too slow", "High press", "defence", 3.0)
        assert press.is_range and press.end == 3.0 and not corner.is_range and corner.end == 2.5
        session.edit(corner.id, t_out=3.5, label="Short corner")
        with pytest.raises(ValueError, match="before its in point"):
            session.edit(press.id, t_out=0.5)
        session.remove(point.id)
    with ReviewSession(clip) as again:
        assert [m.label for m in again.marks()] == ["High press", "Short corner"]
        assert [m.id for m in again.marks("set piece")] == [corner.id]
        assert again.get(corner.id) == Note(corner.id, 2.5, "", "Short corner", "set piece", 3.5)
        assert again.marks("attack") == []


def test_the_tag_list_is_editable_kept_in_the_journal_and_never_loses_a_tag_in_use(clip):
    with ReviewSession(clip) as session:
        assert session.tags == list(DEFAULT_TAGS)
        session.add_mark(1.0, tag="counter")
        assert session.tags == [*DEFAULT_TAGS, "counter"]
        assert session.set_tags([" attack ", "pressing", "", "attack"]) == ["attack", "pressing", "counter"]
    with ReviewSession(clip) as again:
        assert again.tags == ["attack", "pressing", "counter"]


def test_a_journal_from_before_tags_and_ranges_loads_its_marks(clip):
    store = clip.with_name(clip.name + ".review.jsonl")
    lines = [
        {"op": "open", "version": 1, "video": clip.name, "size": clip.stat().st_size},
        {"op": "add", "item": {"kind": "note", "id": "n1", "t": 1.5, "text": "Back line"}},
        {"op": "add", "item": {"kind": "note", "id": "n2", "t": 2.0, "text": ""}},
    ]
    store.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with ReviewSession(clip) as session:
        assert session.warnings == []
        assert session.marks() == [Note("n1", 1.5, "Back line"), Note("n2", 2.0)]
        assert session.tags == list(DEFAULT_TAGS)
        assert session.add_mark(3.0, tag="attack").id == "n3"


def test_a_compacted_journal_keeps_the_tags(clip):
    with ReviewSession(clip) as session:
        session.set_tags(["pressing"])
        mark = session.add_mark(1.0, tag="pressing")
        for n in range(60):
            session.edit(mark.id, label=f"v{n}")
    with ReviewSession(clip) as compacted:
        assert compacted.tags == ["pressing"]
    assert len(compacted.store.read_text().splitlines()) == 3
    with ReviewSession(clip) as again:
        assert again.tags == ["pressing"] and again.get(mark.id).label == "v59"


def test_the_jsonl_export_carries_a_mark_s_range_label_and_tag(clip, tmp_path):
    from app.review.export import export_jsonl
    from app.sinks.transcript import read_transcript

    with ReviewSession(clip) as session:
        session.add_mark(1.0, t_out=2.0, tag="attack", label="Overload")
        session.add_mark(3.0)
        export_jsonl(session, tmp_path / "out.jsonl")
    assert read_transcript(tmp_path / "out.jsonl") == [
        {"type": "mark", "time": 1.0, "text": "", "end": 2.0, "label": "Overload", "tag": "attack"},
        {"type": "mark", "time": 3.0, "text": ""},
    ]


def test_a_labelled_range_is_captioned_for_its_whole_range_and_a_bare_tagged_mark_is_not(clip):
    from app.review.export import note_cues, subtitle_cues

    with ReviewSession(clip) as session:
        session.add_mark(0.5, t_out=9.0, tag="attack", label="Overload", text="Winger wide")
        session.add_mark(1.0, tag="defence")
        session.add_note(12.0, "Plain note")
        assert [(c.start, c.end, c.text) for c in note_cues(session)] == [
            (0.5, 9.0, "[attack] Overload — Winger wide"),
            (12.0, 16.0, "Plain note"),
        ]
        assert [c.text for c in subtitle_cues(session)] == ["Note: [attack] Overload — Winger wide", "Note: Plain note"]
