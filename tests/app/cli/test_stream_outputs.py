"""``commentate``'s outputs for OBS, end to end: a real process, real llama.cpp, real HTTP and OBS."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from app.pipeline.file_stream import paced
from app.sinks.caption_lines import CaptionLines
from app.sinks.transcript import read_transcript
from app.sources.synthetic import write_test_video
from models.engine.records import ChunkDone, VideoChunk
from tests.app.cli.test_cli import ROOT, assert_clean_failure, commentate
from tests.real_programs import ObsStudio, free_port, require


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory):
    return write_test_video(tmp_path_factory.mktemp("stream") / "short.mp4", seconds=5, size=(320, 240))


def read_events(port: int, messages: list, stop: threading.Event) -> None:
    """Collect the page's messages from ``/events`` until the server goes away."""
    while not stop.is_set():
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/events")
            reply = conn.getresponse()
        except OSError:
            time.sleep(0.05)
            continue
        while True:
            line = reply.readline()
            if not line:
                return
            if line.startswith(b"data: "):
                messages.append(json.loads(line[6:]))


def test_a_paced_file_feeds_the_overlay_page_and_the_captions_file(tiny_model, short_clip, tmp_path):
    port = free_port()
    captions, jsonl = tmp_path / "captions.txt", tmp_path / "run.jsonl"
    messages: list = []
    stop = threading.Event()
    reader = threading.Thread(target=read_events, args=(port, messages, stop))
    reader.start()
    try:
        result = commentate(
            short_clip,
            tiny_model,
            "--realtime",
            "--overlay-server",
            f"127.0.0.1:{port}",
            "--captions-file",
            captions,
            "--jsonl",
            jsonl,
            "--max-new-tokens",
            "6",
        )
    finally:
        stop.set()
        reader.join(60)
    assert result.returncode == 0, result.stderr
    assert f"overlay: http://127.0.0.1:{port}/overlay" in result.stderr
    records = read_transcript(jsonl)
    done = [m["text"] for m in messages if m["type"] == "done"]
    # The page was connected from the first second (the file runs at its own pace): it saw every chunk.
    assert messages[0]["type"] == "snapshot" and len(done) == len(records) == 3
    assert any(m["type"] == "delta" for m in messages)
    lines = CaptionLines(lines=2)
    for r in records:
        lines.handle(ChunkDone(0, r["start"], r["end"], r["text"]))
    assert captions.read_text() == lines.text


def test_paced_chunks_are_given_no_faster_than_their_timestamps():
    now = [100.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(round(s, 6))
        now[0] += s

    chunks = [VideoChunk(0, (), 2.0, 5.0)] + [VideoChunk(i, (), 4.0 + i, 5.0 + i) for i in range(1, 4)]
    given = []
    for chunk in paced(chunks, clock=lambda: now[0], sleep=sleep):
        given.append(round(now[0] - 100.0, 6))
        now[0] += 0.25 if chunk.index != 2 else 2.5  # the engine's time; chunk 2 is slow
    assert given == [3.0, 4.0, 5.0, 7.5]  # a chunk is never early; after a slow one the next runs late
    assert slept == [3.0, 0.75, 0.75]


def test_a_port_in_use_stops_the_run_before_the_model_loads(tiny_model, short_clip):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = commentate(short_clip, tiny_model, "--overlay-server", str(taken.getsockname()[1]))
    assert_clean_failure(result, "already in use")
    assert "model:" not in result.stderr


def test_listening_on_every_interface_without_a_token_is_refused(tiny_model, short_clip):
    assert_clean_failure(commentate(short_clip, tiny_model, "--overlay-server", "0.0.0.0:0"), "token")


def test_an_unset_password_variable_is_one_clear_error(tiny_model, short_clip):
    result = commentate(short_clip, tiny_model, "--obs", "--obs-password-env", "LIVECC_NO_SUCH_VARIABLE_X")
    assert_clean_failure(result, "LIVECC_NO_SUCH_VARIABLE_X is not set")


def test_obs_with_a_wrong_password_stops_the_run_and_the_right_one_gets_the_text(
    tiny_model, short_clip, tmp_path, monkeypatch
):
    require("obs", "Xvfb")
    obs = ObsStudio(tmp_path / "obs", "right-password").start()
    try:
        monkeypatch.setenv("OBS_PW", "wrong-password")
        wrong = commentate(short_clip, tiny_model, "--obs", obs.url, "--obs-password-env", "OBS_PW")
        assert_clean_failure(wrong, "refused the password")
        monkeypatch.setenv("OBS_PW", "right-password")
        right = commentate(
            short_clip,
            tiny_model,
            "--obs",
            obs.url,
            "--obs-password-env",
            "OBS_PW",
            "--obs-source",
            "CLI commentary",
            "--jsonl",
            tmp_path / "r.jsonl",
        )
        assert right.returncode == 0, right.stderr
        assert "obs: connected" in right.stderr
        lines = CaptionLines(lines=2)
        for r in read_transcript(tmp_path / "r.jsonl"):
            lines.handle(ChunkDone(0, r["start"], r["end"], r["text"]))
        assert obs.input_text("CLI commentary") == lines.text
    finally:
        obs.stop()


def _env() -> dict:
    import os

    return dict(os.environ, PYTHONPATH=str(ROOT))


def test_the_options_are_documented_in_help():
    out = subprocess.run(
        [sys.executable, "-m", "app.cli.main", "commentate", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(),
        timeout=60,
    ).stdout
    for flag in (
        "--overlay-server",
        "--overlay-token",
        "--realtime",
        "--obs ",
        "--obs-password-env",
        "--obs-source",
        "--obs-captions",
        "--captions-file",
    ):
        assert flag in out
