"""``livecc-desk commentate`` on several videos: a real process, real llama.cpp, real files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from app.sinks.subtitles import parse_srt, parse_vtt
from app.sinks.transcript import read_transcript
from app.sources.synthetic import truncate_video, write_test_video

ROOT = Path(__file__).resolve().parents[3]


def commentate(tiny_model, *args, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [
        sys.executable,
        "-m",
        "app.cli.main",
        "commentate",
        *map(str, args),
        "--model",
        str(tiny_model.text_path),
        "--mmproj",
        str(tiny_model.mmproj_path),
        "--greedy",
        "--max-new-tokens",
        "4",
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    """A folder as a coach has it: two good games, a damaged one, a file that is no video, other files."""
    folder = tmp_path_factory.mktemp("season")
    write_test_video(folder / "game1.mp4", seconds=5, size=(320, 240))
    write_test_video(folder / "game2.avi", seconds=4, size=(320, 240))
    truncate_video(write_test_video(folder / "game3-cut.avi", seconds=8, size=(320, 240)), 0.5)
    (folder / "broken.mp4").write_text("not a video at all\n" * 50)
    (folder / "notes.txt").write_text("line-up")
    return folder


def test_a_folder_with_a_bad_file_is_reported_and_the_rest_processed(tiny_model, season, tmp_path):
    out = tmp_path / "results"
    result = commentate(tiny_model, season, "--out-dir", out)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "error: broken.mp4: skipped:" in result.stderr
    assert "3 of 4 videos commentated; 1 failed:" in result.stderr
    assert "game3-cut.avi" in result.stderr and "warning:" in result.stderr  # damaged: done as far as it decodes
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{name}.{ext}" for name in ("game1", "game2", "game3-cut") for ext in ("srt", "vtt", "jsonl")
    )
    headers = [line for line in result.stdout.splitlines() if line.startswith("== ")]
    assert headers == ["== broken.mp4 (1/4)", "== game1.mp4 (2/4)", "== game2.avi (3/4)", "== game3-cut.avi (4/4)"]
    for name, seconds in (("game1", 5), ("game2", 4)):
        records = read_transcript(out / f"{name}.jsonl")
        assert [(r["start"], r["end"]) for r in records] == [(0.0, 3.0)] + [
            (float(s), s + 1.0) for s in range(3, seconds)
        ]
        words = " ".join(r["text"] for r in records if r["text"]).split()
        for cues in (parse_srt((out / f"{name}.srt").read_text()), parse_vtt((out / f"{name}.vtt").read_text())):
            assert " ".join(c.text for c in cues).split() == words
    assert read_transcript(out / "game3-cut.jsonl")[-1]["end"] < 8.0


def test_files_next_to_each_input_and_clashing_names(tiny_model, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    one = write_test_video(a / "match.mp4", seconds=4, size=(320, 240))
    two = write_test_video(b / "drill.avi", seconds=4, size=(320, 240))
    shutil.copy(one, a / "match.avi")
    result = commentate(tiny_model, one, two, a / "match.avi", "--formats", "srt,jsonl")
    assert result.returncode == 0, result.stderr
    assert "3 of 3 videos commentated." in result.stderr
    assert sorted(p.name for p in a.iterdir()) == sorted(
        ["match.mp4", "match.avi", "match.srt", "match.jsonl", "match.avi.srt", "match.avi.jsonl"]
    )
    assert (b / "drill.srt").exists() and not (b / "drill.vtt").exists()
    again = commentate(tiny_model, one, two, "--formats", "jsonl")  # a rerun replaces, never appends
    assert again.returncode == 0, again.stderr
    assert len(read_transcript(a / "match.jsonl")) == 2


def test_export_mp4_in_a_batch(tiny_model, tmp_path):
    video = write_test_video(tmp_path / "clip.mp4", seconds=4, size=(320, 240))
    out = tmp_path / "out"
    result = commentate(tiny_model, video, "--out-dir", out, "--export-mp4", "--formats", "vtt")
    assert result.returncode == 0, result.stderr
    cap = cv2.VideoCapture(str(out / "clip.captioned.mp4"))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 40 and cap.get(cv2.CAP_PROP_FPS) == 10.0
    assert sorted(p.name for p in out.iterdir()) == ["clip.captioned.mp4", "clip.vtt"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--srt", "x.srt"], "--out-dir"),
        (["--formats", "srt,docx"], "docx"),
    ],
)
def test_bad_batch_options_fail_cleanly(tiny_model, season, args, fragment):
    result = commentate(tiny_model, season, *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert fragment in result.stderr


def test_an_empty_folder(tiny_model, tmp_path):
    result = commentate(tiny_model, tmp_path)
    assert result.returncode == 2 and "no video files" in result.stderr
