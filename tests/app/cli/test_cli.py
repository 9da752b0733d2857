"""``livecc-desk commentate`` end to end, as a user runs it: a real process, real llama.cpp."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import gguf
import pytest

from app.sinks.subtitles import MAX_CUE_S, parse_srt, parse_vtt
from app.sinks.transcript import read_transcript
from app.sources.synthetic import truncate_video, write_test_video
from models.gguf_qwen2vl import Qwen2VLVisionConfig, write_mmproj_gguf
from models.tiny_model import random_tensors

ROOT = Path(__file__).resolve().parents[3]
LINE = re.compile(r"^\[\s*\d+\.\d-\s*\d+\.\d+s\]\s?.*$")


def cli(*args, timeout=240, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "app.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
        **kw,
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_test_video(tmp_path_factory.mktemp("cli") / "clip.mp4", seconds=10, size=(320, 240))


def commentate(video, tiny_model, *extra, **kw):
    return cli(
        "commentate",
        video,
        "--model",
        tiny_model.text_path,
        "--mmproj",
        tiny_model.mmproj_path,
        "--greedy",
        *extra,
        **kw,
    )


def assert_clean_failure(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), lines[0]


def test_commentary_subtitles_and_transcript(tiny_model, clip, tmp_path):
    srt, vtt, jsonl = tmp_path / "c.srt", tmp_path / "c.vtt", tmp_path / "c.jsonl"
    result = commentate(clip, tiny_model, "--srt", srt, "--vtt", vtt, "--jsonl", jsonl, "--max-new-tokens", "6")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines and all(LINE.match(line) for line in lines)
    assert "\r" not in result.stderr  # no progress bar when not on a terminal
    records = read_transcript(jsonl)
    assert [(r["start"], r["end"]) for r in records] == [(0.0, 3.0)] + [(float(s), s + 1.0) for s in range(3, 10)]
    assert all(isinstance(r["text"], str) for r in records)
    spoken = [r for r in records if r["text"]]
    assert len(lines) == len(spoken)
    srt_cues, vtt_cues = parse_srt(srt.read_text()), parse_vtt(vtt.read_text())
    assert srt_cues == vtt_cues and srt_cues
    words = " ".join(r["text"] for r in spoken).split()
    assert " ".join(c.text for c in srt_cues).split() == words
    assert all(0.0 <= c.start < c.end <= 10.0 for c in srt_cues)


def test_start_and_end_select_a_part(tiny_model, clip, tmp_path):
    jsonl = tmp_path / "part.jsonl"
    result = commentate(clip, tiny_model, "--start", "4", "--end", "9", "--jsonl", jsonl)
    assert result.returncode == 0, result.stderr
    spans = [(r["start"], r["end"]) for r in read_transcript(jsonl)]
    assert spans == [(4.0, 7.0), (7.0, 8.0), (8.0, 9.0)]


def test_a_killed_run_keeps_every_transcript_line_and_every_finished_subtitle(tiny_model, tmp_path):
    video = write_test_video(tmp_path / "long.mp4", seconds=120, size=(320, 240))
    jsonl, srt, vtt = (tmp_path / f"killed.{f}" for f in ("jsonl", "srt", "vtt"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli.main",
            "commentate",
            str(video),
            "--model",
            str(tiny_model.text_path),
            "--mmproj",
            str(tiny_model.mmproj_path),
            "--jsonl",
            str(jsonl),
            "--srt",
            str(srt),
            "--vtt",
            str(vtt),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not jsonl.exists() or jsonl.read_text().count("\n") < 12):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    raw = jsonl.read_bytes()
    complete = raw[: raw.rfind(b"\n") + 1].decode().splitlines()
    assert len(complete) >= 12
    for line in complete:
        record = json.loads(line)
        assert {"start", "end", "text"} <= record.keys()
    records = read_transcript(jsonl)
    assert len(records) == len(complete)
    # Subtitles were saved as cues finished, not at the end: all but the last few open seconds are there.
    spoken = [r for r in records if r["text"]]
    cues = parse_srt(srt.read_text(encoding="utf-8")) if srt.exists() else []
    vtt_cues = parse_vtt(vtt.read_text(encoding="utf-8")) if vtt.exists() else []
    assert len(cues) - 3 <= len(vtt_cues) <= len(cues)  # written right after the SRT: at most one update behind
    if spoken and spoken[-1]["end"] - spoken[0]["start"] > MAX_CUE_S + 2:
        assert cues and cues[-1].end >= spoken[-1]["end"] - (MAX_CUE_S + 2)


def test_missing_video(tiny_model, tmp_path):
    assert_clean_failure(commentate(tmp_path / "nope.mp4", tiny_model), "not found", "nope.mp4")


def test_not_a_video(tiny_model, tmp_path):
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("these are not frames\n" * 100)
    assert_clean_failure(commentate(bogus, tiny_model), "notes.mp4")


def test_damaged_video_is_commentated_as_far_as_it_decodes(tiny_model, tmp_path):
    video = write_test_video(tmp_path / "damaged.avi", seconds=10, size=(320, 240))
    truncate_video(video, 0.6)
    jsonl = tmp_path / "damaged.jsonl"
    result = commentate(video, tiny_model, "--jsonl", jsonl)
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "Traceback" not in result.stderr
    records = read_transcript(jsonl)
    assert records and records[-1]["end"] < 10.0


def test_missing_model(tiny_model, clip, tmp_path):
    result = cli("commentate", clip, "--model", tmp_path / "missing.gguf", "--mmproj", tiny_model.mmproj_path)
    assert_clean_failure(result, "not found", "missing.gguf")


def test_not_a_gguf(tiny_model, clip, tmp_path):
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(os.urandom(4096))
    result = cli("commentate", clip, "--model", junk, "--mmproj", tiny_model.mmproj_path)
    assert_clean_failure(result, "not a GGUF", "junk.gguf")


@pytest.mark.parametrize("role", ["model", "mmproj"])
def test_truncated_gguf(tiny_model, clip, tmp_path, role):
    source = tiny_model.text_path if role == "model" else tiny_model.mmproj_path
    cut = tmp_path / f"cut-{role}.gguf"
    cut.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    paths = {"model": tiny_model.text_path, "mmproj": tiny_model.mmproj_path, role: cut}
    result = cli("commentate", clip, "--model", paths["model"], "--mmproj", paths["mmproj"])
    assert_clean_failure(result, cut.name)
    assert "truncated" in result.stderr or "damaged" in result.stderr


def test_mmproj_given_as_model_and_model_as_mmproj(tiny_model, clip):
    swapped = cli("commentate", clip, "--model", tiny_model.mmproj_path, "--mmproj", tiny_model.text_path)
    assert_clean_failure(swapped, "--mmproj")


def test_text_only_model(tiny_model, clip, tmp_path):
    path = tmp_path / "text-only.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_embedding_length(64)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    result = cli("commentate", clip, "--model", path, "--mmproj", tiny_model.mmproj_path)
    assert_clean_failure(result, "Qwen2-VL")


def test_mmproj_of_another_model(tiny_model, clip, tmp_path):
    other = Qwen2VLVisionConfig(depth=2, embed_dim=64, n_heads=4, ffn=256, out_hidden=32)
    path = write_mmproj_gguf(
        tmp_path / "other-mmproj.gguf", other, random_tensors(other.hf_shapes(), 5), out_type="f32"
    )
    result = cli("commentate", clip, "--model", tiny_model.text_path, "--mmproj", path)
    assert_clean_failure(result, "another model")


@pytest.mark.parametrize("option", ["--srt", "--vtt", "--jsonl"])
def test_unwritable_output_fails_before_any_work(tiny_model, clip, tmp_path, option):
    target = tmp_path / "no-such-folder" / "out.txt"
    assert_clean_failure(commentate(clip, tiny_model, option, target), "no-such-folder")


def test_end_before_start(tiny_model, clip):
    assert_clean_failure(commentate(clip, tiny_model, "--start", "5", "--end", "2"), "--end")


def test_make_tiny_writes_a_loadable_pair(tmp_path, clip):
    result = cli("models", "make-tiny", tmp_path / "tiny")
    assert result.returncode == 0, result.stderr
    text, mmproj = (tmp_path / "tiny" / "tiny-qwen2vl.gguf"), (tmp_path / "tiny" / "tiny-qwen2vl-mmproj.gguf")
    assert text.exists() and mmproj.exists()
    ok = cli("commentate", clip, "--model", text, "--mmproj", mmproj, "--greedy", "--end", "4")
    assert ok.returncode == 0, ok.stderr


def test_help_lists_the_subcommands():
    result = cli("--help")
    assert result.returncode == 0 and "commentate" in result.stdout and "models" in result.stdout


def test_context_flags_choose_the_policy_and_its_windows(tmp_path):
    from app.cli.commentate import engine_options_from_args
    from app.cli.main import build_parser
    from models.engine.streaming_policy import ContextOptions

    base = ["commentate", "v.mp4", "--model", "m.gguf", "--mmproj", "p.gguf"]
    parser = build_parser()
    assert engine_options_from_args(parser.parse_args(base)).context == ContextOptions()
    told = parser.parse_args(
        base
        + [
            "--context-policy",
            "evict",
            "--vision-window",
            "8",
            "--text-window",
            "900",
            "--max-pixels",
            str(200 * 28 * 28),
        ]
    )
    assert engine_options_from_args(told).context == ContextOptions("evict", 8, 900, frame_pixels=200 * 28 * 28)
    wrong = cli("commentate", tmp_path / "v.mp4", "--model", "m", "--mmproj", "p", "--vision-window", "-3")
    assert wrong.returncode == 2 and "--vision-window: must be between 0 and 3600, got -3" in wrong.stderr
