"""``livecc-desk review``: marks and the report from the command line, on the journal the GUI reads."""

from __future__ import annotations

import argparse
import os

import pytest

from app.cli.main import main
from app.cli.review import MarkSpec, parse_mark
from app.review.session import Note, ReviewSession
from app.sources.synthetic import write_test_video


@pytest.fixture
def clip(tmp_path):
    return write_test_video(tmp_path / "match.mp4", seconds=4, fps=10, size=(160, 120))


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("12.5-20:attack:Overload left", MarkSpec(12.5, 20.0, "attack", "Overload left")),
        ("1:02:set piece:Corner: short", MarkSpec(62.0, None, "set piece", "Corner: short")),
        ("1:00:05.5-1:00:09", MarkSpec(3605.5, 3609.0, "", "")),
        ("3::Just a label", MarkSpec(3.0, None, "", "Just a label")),
    ],
)
def test_a_mark_is_read_as_time_range_tag_and_label(text, spec):
    assert parse_mark(text) == spec


@pytest.mark.parametrize("text", ["attack:12", "5-2:attack:backwards", ""])
def test_a_wrong_mark_is_refused_with_its_form(text):
    with pytest.raises(argparse.ArgumentTypeError, match="T\\[-T2\\]:TAG:LABEL|after the in point"):
        parse_mark(text)


def test_marks_and_tags_land_in_the_review_journal_once_and_the_report_is_written(clip, tmp_path, capsys):
    args = ["review", str(clip), "--mark", "1-2.5:attack:Overload left", "--mark", "3:set piece:Corner"]
    report = tmp_path / "out" / "match.html"
    assert main([*args, "--tags", "attack,set piece,pressing", "--report", str(report)]) == 0
    assert main(args) == 0  # a re-run of the batch adds nothing
    out = capsys.readouterr().out
    assert "2 marks, 2 added" in out and "2 marks, 0 added" in out
    with ReviewSession(clip) as review:
        first, second = review.marks()
        assert first == Note(first.id, 1.0, "", "Overload left", "attack", 2.5)
        assert second == Note(second.id, 3.0, "", "Corner", "set piece", None)
        assert review.tags == ["attack", "set piece", "pressing"]
    page = report.read_text()
    assert page.count("data:image/jpeg;base64,") == 2 and "Overload left" in page


def test_a_missing_video_or_a_bad_mark_exits_2(tmp_path, capsys):
    assert main(["review", str(tmp_path / "none.mp4")]) == 2
    assert "no such video file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["review", str(tmp_path / "none.mp4"), "--mark", "soon:attack"])
    assert exited.value.code == 2


@pytest.mark.parametrize(
    ("text", "t", "question"),
    [("12.5:Who presses?", 12.5, "Who presses?"), ("1:02:What: the shape?", 62.0, "What: the shape?")],
)
def test_a_question_is_read_as_time_and_text(text, t, question):
    from app.cli.review_engine import AskSpec, parse_ask

    assert parse_ask(text) == AskSpec(t, question)


def test_with_a_model_the_review_is_commentated_ahead_and_questions_are_answered(clip, tiny_model, capsys):
    args = ["review", str(clip), "--model", str(tiny_model.text_path), "--mmproj", str(tiny_model.mmproj_path)]
    engine = ["--greedy", "--max-new-tokens", "4", "--threads", "1", "--max-pixels", str(100 * 28 * 28)]
    assert main([*args, *engine, "--mark", "1:attack:Start", "--ask", "3:What is moving?"]) == 0
    assert "Q 0:03.0 What is moving?" in capsys.readouterr().out
    with ReviewSession(clip) as review:
        assert review.commentary_end == pytest.approx(4.0)
        (qa,) = [i for i in review.items() if type(i).__name__ == "QA"]
        assert (qa.t, qa.question) == (3.0, "What is moving?")
        assert [m.label for m in review.marks()] == ["Start"]


def test_subtitles_carry_marks_and_answers_as_asked(clip, tmp_path):
    from app.sinks.subtitles import parse_srt, parse_vtt

    with ReviewSession(clip) as review:
        review.add_qa(2.0, "Who presses?", "The striker.")
    mark = ["review", str(clip), "--mark", "1-3:attack:Overload"]
    assert main([*mark, "--srt", str(tmp_path / "a.srt"), "--vtt", str(tmp_path / "a.vtt")]) == 0
    assert [c.text for c in parse_srt((tmp_path / "a.srt").read_text())] == ["Note: [attack] Overload"]
    assert [c.text for c in parse_vtt((tmp_path / "a.vtt").read_text())] == ["Note: [attack] Overload"]
    assert main([*mark, "--srt", str(tmp_path / "b.srt"), "--include", "qa"]) == 0
    assert [c.text for c in parse_srt((tmp_path / "b.srt").read_text())] == ["Q: Who presses?\nA: The striker."]
    assert main([*mark, "--jsonl", str(tmp_path / "c.jsonl")]) == 0
    assert '"tag": "attack"' in (tmp_path / "c.jsonl").read_text()
    with pytest.raises(SystemExit):
        main([*mark, "--include", "drawings"])


def _decoded(path):
    import cv2

    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames = []
    while (found := capture.read())[0]:
        frames.append(cv2.cvtColor(found[1], cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def test_clips_a_reel_and_a_report_linking_the_clips_in_one_run(clip, tmp_path, capsys):
    from app.review.drawings import Shape

    with ReviewSession(clip) as review:  # a drawing made in the GUI before the batch
        review.add_drawing(1.2, [Shape("line", ((0.1, 0.5), (0.9, 0.5)), "blue", 0.05)], hold_s=0.5)
    out = tmp_path / "out"
    args = ["review", str(clip), "--mark", "1-2.5:attack:Overload left", "--mark", "3:set piece:Corner"]
    args += ["--mark", "0.2-0.8:defence:Shape", "--tag", "attack", "--clips", str(out / "clips")]
    assert main([*args, "--reel", str(out / "reel.mp4"), "--report", str(out / "match.html")]) == 0
    printed = capsys.readouterr().out
    assert "Clips: 1 in" in printed and "Reel: " in printed and "(1 clip, 3.5 s)" in printed
    (name,) = os.listdir(out / "clips")
    assert name == "01-0m01s-attack-overload-left.mp4"
    frames = _decoded(out / "clips" / name)
    assert abs(len(frames) - 15) <= 1
    blue = [i for i, f in enumerate(frames) if f[58:62, 70:90, 2].mean() > 170 and f[58:62, 70:90, 0].mean() < 110]
    assert blue == [2, 3, 4, 5, 6]  # 1.2 s to 1.7 s
    assert len(_decoded(out / "reel.mp4")) == 20 + 15
    page = (out / "match.html").read_text()
    assert page.count(f'href="clips/{name}"') == 2 and page.count("href=") == 2  # only the exported moment


def test_clip_options_without_clips_or_a_tag_without_marks_exit_2(clip, tmp_path, capsys):
    assert main(["review", str(clip), "--tag", "attack"]) == 2
    assert "give --clips DIR or --reel OUT.mp4" in capsys.readouterr().err
    assert main(["review", str(clip), "--mark", "1:attack:Point", "--reel", str(tmp_path / "r.mp4")]) == 2
    assert "No marks with an in and out point" in capsys.readouterr().err
    assert main(["review", str(clip), "--mark", "1-2:attack:Run", "--clips", str(tmp_path), "--tag", "x"]) == 2
    assert "No marks tagged 'x'" in capsys.readouterr().err
    assert not (tmp_path / "r.mp4").exists()
