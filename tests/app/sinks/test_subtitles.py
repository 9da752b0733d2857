"""Cue building rules and SRT/WebVTT files."""

from __future__ import annotations

import errno
import os

import pytest

from app.errors import OutputError
from app.sinks.subtitles import (
    Cue,
    CueBuilder,
    build_cues,
    format_srt,
    format_vtt,
    parse_srt,
    parse_vtt,
    wrap,
    write_srt,
    write_vtt,
)
from models.engine.records import ChunkDone

WORDS = (
    "the keeper rolls it out to the left back who looks up and plays a long diagonal ball "
    "into the channel where the winger takes it down beautifully and cuts inside onto his right foot"
).split()


def _chunks(texts, t0=0.0):
    """ChunkDone events with LiveCC spans: 3 s first, then 1 s each."""
    out, start = [], t0
    for i, text in enumerate(texts):
        end = start + (3.0 if i == 0 else 1.0)
        out.append(ChunkDone(i, start, end, text))
        start = end
    return out


def _check_rules(cues):
    for cue in cues:
        lines = cue.text.split("\n")
        assert len(lines) <= 2 and all(len(line) <= 42 for line in lines), cue
        assert cue.end - cue.start <= 7.0 + 1e-9, cue
        assert cue.text == cue.text.strip() and "  " not in cue.text
    for a, b in zip(cues, cues[1:]):
        assert a.end <= b.start + 1e-9, (a, b)


def test_wrap():
    assert wrap("short line") == ["short line"]
    assert wrap("a" * 20 + " " + "b" * 30) == ["a" * 20, "b" * 30]
    assert wrap(" ".join(["word"] * 12)) == [" ".join(["word"] * 6)] * 2  # balanced, not greedy
    assert wrap(" ".join(["word"] * 20)) is None  # over two lines
    assert wrap("x" * 60) == ["x" * 60]  # one word cannot be cut
    assert wrap("   ") is None


def test_whole_chunks_join_into_one_cue_ending_at_sentence_end():
    cues = build_cues(_chunks([" The match is under way", " with a long pass."]))
    assert cues == [Cue(0.0, 4.0, "The match is under way with a long pass.")]


def test_silence_is_omitted_and_splits_cues():
    cues = build_cues(_chunks(["  Here they come", "", " ...and again", "", ""]))
    assert [c.text for c in cues] == ["Here they come", "...and again"]
    assert (cues[0].start, cues[0].end) == (0.0, 3.0)
    assert (cues[1].start, cues[1].end) == (4.0, 5.0)


def test_whitespace_is_normalised():
    (cue,) = build_cues(_chunks(["  the\n ball\t  goes ", "   wide"]))
    assert cue.text == "the ball goes wide"


def test_long_commentary_is_cut_into_readable_cues_keeping_every_word():
    texts = [" " + " ".join(WORDS[i : i + 4]) for i in range(0, len(WORDS), 4)]
    cues = build_cues(_chunks(texts))
    assert len(cues) > 1
    _check_rules(cues)
    assert " ".join(c.text.replace("\n", " ") for c in cues).split() == WORDS
    assert cues[0].start == 0.0 and cues[-1].end == pytest.approx(_chunks(texts)[-1].t1)


def test_slow_talk_is_cut_at_seven_seconds():
    cues = build_cues(_chunks(["go"] * 20))
    _check_rules(cues)
    assert len(cues) >= 3


def test_sentence_end_breaks_only_after_a_second():
    cues = build_cues(_chunks(["", "Yes. No. Maybe later on."]))
    assert cues == [Cue(3.0, 4.0, "Yes. No. Maybe later on.")]
    cues = build_cues(_chunks(["He shoots from distance. He scores and the crowd goes wild"]))
    assert [c.text for c in cues] == ["He shoots from distance.", "He scores and the crowd goes wild"]
    assert cues[0].end == cues[1].start < 3.0


def test_short_cue_is_held_a_second_but_never_into_the_next():
    events = [ChunkDone(0, 10.0, 10.5, "Yes"), ChunkDone(1, 10.5, 11.5, "")]
    assert build_cues(events) == [Cue(10.0, 11.0, "Yes")]
    assert build_cues([ChunkDone(0, 10.0, 10.5, "Yes")]) == [Cue(10.0, 11.0, "Yes")]
    # a gap in time (dropped chunks) ends the cue; it may be held only up to the next chunk
    cues = build_cues([ChunkDone(0, 10.0, 10.5, "Yes"), ChunkDone(5, 10.7, 11.7, "then more")])
    assert cues == [Cue(10.0, 10.7, "Yes"), Cue(10.7, 11.7, "then more")]


def test_builder_streams_cues_as_they_complete():
    builder = CueBuilder()
    events = _chunks([" The ball is played wide.", " Cross", "", " Header"])
    yielded = [list(builder.add(e)) for e in events]
    assert [[c.text for c in cues] for cues in yielded] == [["The ball is played wide."], [], ["Cross"], []]
    assert [c.text for c in builder.finish()] == ["Header"]


# -- files -------------------------------------------------------------------------

CUES = [
    Cue(1.5, 3.0, "Hello"),
    Cue(3.0, 4.25, "Two lines,\nthe second here"),
    Cue(3725.5, 3727.0, "Over an hour: A < B & C > D"),
]


def test_srt_format_and_round_trip(tmp_path):
    path = tmp_path / "out.srt"
    write_srt(CUES, path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("1\n00:00:01,500 --> 00:00:03,000\nHello\n\n2\n00:00:03,000 --> 00:00:04,250\n")
    assert "3\n01:02:05,500 --> 01:02:07,000\n" in text
    assert parse_srt(text) == CUES


def test_vtt_format_and_round_trip(tmp_path):
    path = tmp_path / "out.vtt"
    write_vtt(CUES, path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("WEBVTT\n\n00:00:01.500 --> 00:00:03.000\nHello\n\n")
    assert "A &lt; B &amp; C &gt; D" in text
    assert parse_vtt(text) == CUES


def test_built_cues_survive_both_formats(tmp_path):
    cues = build_cues(_chunks([" " + " ".join(WORDS[i : i + 5]) for i in range(0, len(WORDS), 5)]))
    write_srt(cues, tmp_path / "a.srt")
    write_vtt(cues, tmp_path / "a.vtt")
    for parsed in (parse_srt((tmp_path / "a.srt").read_text()), parse_vtt((tmp_path / "a.vtt").read_text())):
        assert [c.text for c in parsed] == [c.text for c in cues]
        for a, b in zip(parsed, cues):
            assert a.start == pytest.approx(b.start, abs=0.0005) and a.end == pytest.approx(b.end, abs=0.0005)


@pytest.mark.parametrize(
    "bad",
    [
        "2\n00:00:01,000 --> 00:00:02,000\nHi\n",  # numbering must start at 1
        "1\n00:00:01.000 --> 00:00:02,000\nHi\n",  # '.' is WebVTT's separator
        "1\n00:00:01,000 -> 00:00:02,000\nHi\n",
        "1\n00:00:01,000 --> 00:00:02,000\n",  # no text
        "1\n00:00:01,000 --> 00:00:02,000\nA\n\n3\n00:00:03,000 --> 00:00:04,000\nB\n",
    ],
)
def test_parse_srt_is_strict(bad):
    with pytest.raises(ValueError):
        parse_srt(bad)


def test_parse_vtt_is_strict():
    with pytest.raises(ValueError, match="WEBVTT"):
        parse_vtt("00:00:01.000 --> 00:00:02.000\nHi\n")
    with pytest.raises(ValueError):
        parse_vtt("WEBVTT\n\n00:00:01,000 --> 00:00:02.000\nHi\n")
    assert parse_vtt("WEBVTT\n\nNOTE hi\n\nid-1\n01:02.500 --> 01:03.000 align:start\nHi\n") == [Cue(62.5, 63.0, "Hi")]


def test_cue_needs_positive_duration():
    with pytest.raises(ValueError):
        Cue(2.0, 2.0, "x")


def test_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "keep.srt"
    write_srt(CUES[:1], path)
    before = path.read_text()

    def broken_replace(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OutputError, match="disk is full"):
        write_srt(CUES, path)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.srt"]  # no temp file left


def test_unwritable_folder(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        write_vtt(CUES, tmp_path / "missing" / "x.vtt")


def test_empty_cue_list():
    assert format_srt([]) == "" and parse_srt("") == []
    assert format_vtt([]) == "WEBVTT\n" and parse_vtt("WEBVTT\n") == []
