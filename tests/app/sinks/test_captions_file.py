"""The last lines of commentary as text: the shared line model and the file OBS reads."""

from __future__ import annotations

import os

import pytest

from app.errors import OutputError
from app.sinks.caption_lines import CaptionLines, wrap_words
from app.sinks.captions_file import CaptionsFile
from models.engine.records import ChunkDone, ChunkStarted, CommentaryDelta


def chunk(index: int, text: str, deltas: bool = True) -> list:
    t0, t1 = float(index), index + 1.0
    events: list = [ChunkStarted(index, t0, t1)]
    if deltas:
        events += [CommentaryDelta(t0, t1, f" {w}") for w in text.split()]
    return events + [ChunkDone(index, t0, t1, f" {text}" if text else "")]


def test_words_appear_as_decoded_and_the_finished_text_replaces_them():
    lines = CaptionLines(lines=2, width=20)
    assert lines.handle(ChunkStarted(0, 0, 3)) is False
    assert lines.handle(CommentaryDelta(0, 3, " The")) is True
    assert lines.text == "The"
    lines.handle(CommentaryDelta(0, 3, " keeper"))
    assert lines.text == "The keeper"
    assert lines.handle(ChunkDone(0, 0, 3, " The keeper saves")) is True
    assert lines.text == "The keeper saves"


def test_only_the_newest_lines_are_kept_and_silence_adds_nothing():
    lines = CaptionLines(lines=2, width=12)
    for i, text in enumerate(["one two three", "", "four five six", " ...", "seven eight"]):
        for event in chunk(i, text):
            lines.handle(event)
    assert lines.text.split("\n") == wrap_words("one two three four five six seven eight".split(), 12)[-2:]
    assert "..." not in lines.text


def test_a_word_longer_than_a_line_is_a_line_of_its_own():
    assert wrap_words(["a", "supercalifragilistic", "b"], 5) == ["a", "supercalifragilistic", "b"]


def test_memory_stays_bounded_over_a_long_stream():
    lines = CaptionLines(lines=3, width=40)
    for i in range(5000):
        for event in chunk(i, f"word{i} and more"):
            lines.handle(event)
    assert len(lines._words) <= 200
    assert lines.text.endswith("word4999 and more")


def test_the_captions_file_holds_the_last_lines_and_is_replaced_whole(tmp_path):
    path = tmp_path / "captions.txt"
    captions = CaptionsFile(path, lines=2, width=16)
    assert path.read_text() == ""  # there from the start, so OBS's source finds it
    first = open(path, encoding="utf-8")  # noqa: SIM115 - held open to see the old file
    for event in chunk(0, "What a pass from the left"):
        captions.handle(event)
        assert path.read_text() == captions.text  # every update is on disk at once
    assert path.read_text() == "What a pass from\nthe left"
    assert first.read() == ""  # replaced by rename, never rewritten in place (a reader sees one whole file)
    first.close()
    assert not [p for p in tmp_path.iterdir() if p.name != "captions.txt"]  # no temporary file left
    captions.clear()
    assert path.read_text() == ""


def test_an_update_that_changes_nothing_writes_nothing(tmp_path):
    path = tmp_path / "captions.txt"
    captions = CaptionsFile(path)
    for event in chunk(0, "Goal"):
        captions.handle(event)
    before = os.stat(path).st_mtime_ns
    os.utime(path, ns=(0, 0))
    captions.handle(ChunkStarted(1, 1, 2))
    captions.handle(ChunkDone(1, 1, 2, " ..."))
    assert os.stat(path).st_mtime_ns == 0 != before


def test_a_missing_folder_fails_at_once_with_the_path(tmp_path):
    with pytest.raises(OutputError, match="captions file .*does not exist"):
        CaptionsFile(tmp_path / "nope" / "captions.txt")
