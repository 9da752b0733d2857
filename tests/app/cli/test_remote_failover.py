"""``commentate FOLDER --server URL1 --server URL2``: a batch spread over two real llama-servers, with failover."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import app.cli.console  # noqa: F401 - binds its default streams at collection, not to one test's capsys
from app.cli.main import main
from app.sources.synthetic import write_test_video
from models.engine.llama_server import free_port
from models.engine.remote import RemoteEngine
from tests.models.engine.test_remote_engine import server, server_binary, start  # noqa: F401 - fixtures
from tests.remote_server import API_KEY, remote_server_fixture  # noqa: F401 - a fixture

SECONDS = 6  # chunks at 0-3, 3-4, 4-5, 5-6 s


def videos(folder: Path, names: str) -> list[Path]:
    folder.mkdir(exist_ok=True)
    return [write_test_video(folder / f"{n}.mp4", seconds=SECONDS, size=(160, 120)) for n in names]


def transcript(path: Path) -> list[dict]:
    """Every line of a JSONL transcript, each parsed (a damaged line fails the test)."""
    text = path.read_text()
    assert text.endswith("\n"), f"{path.name}: a partial last line"
    return [json.loads(line) for line in text.splitlines()]


def assert_complete(folder: Path, names: str) -> None:
    """Each video's transcript holds every chunk once, in order, and all videos the same number of chunks."""
    counts = set()
    for name in names:
        lines = transcript(folder / f"{name}.jsonl")
        assert [line["index"] for line in lines] == list(range(len(lines))), (name, lines)
        assert [line["start"] for line in lines] == sorted({line["start"] for line in lines}), (name, lines)
        counts.add(len(lines))
    assert len(counts) == 1 and counts.pop() >= 3


def test_a_server_killed_mid_batch_hands_its_videos_to_the_other(
    server_binary,  # noqa: F811 - the fixture
    tiny_model,
    tmp_path,
    capsys,
    monkeypatch,
):
    names = "abcd"
    videos(tmp_path / "in", names)
    survivor = start(server_binary, tmp_path, tiny_model.text_path, tiny_model.mmproj_path)
    victim = start(server_binary, tmp_path, tiny_model.text_path, tiny_model.mmproj_path)
    killed: list[str] = []
    real_feed = RemoteEngine.feed

    def feed(self, chunk):
        if self.client.url == victim.url and chunk.index == 2 and not killed:
            victim.process.kill()  # mid-video: two chunks of it are already in its transcript
            victim.process.wait()
            killed.append(self.client.url)
        yield from real_feed(self, chunk)

    monkeypatch.setattr(RemoteEngine, "feed", feed)
    try:
        out = tmp_path / "out"
        rc = main(
            ["commentate", str(tmp_path / "in"), "--out-dir", str(out), "--formats", "jsonl,srt", "--greedy"]
            + ["--server", survivor.url, "--server", victim.url]
        )
    finally:
        survivor.stop()
        victim.stop()
    err = capsys.readouterr().err
    assert rc == 0, err
    assert killed, "the victim server never got a video: the test proved nothing"
    assert f"server {victim.url} failed" in err and "its videos go to the other servers" in err
    assert "4 of 4 videos commentated" in err
    assert_complete(out, names)
    assert all((out / f"{n}.srt").exists() for n in names)


def test_no_server_left_is_one_clear_error(tmp_path, capsys):
    videos(tmp_path, "ab")
    dead = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"]
    rc = main(["commentate", str(tmp_path), "--greedy", "--server", dead[0], "--server", dead[1]])
    err = capsys.readouterr().err
    assert rc == 2
    assert all(f"server {url} skipped" in err for url in dead)
    last = err.strip().splitlines()[-1]
    assert "No server is left to commentate 2 of 2 videos" in last and all(url in last for url in dead), err


def test_a_server_refusing_the_key_is_skipped(
    server,  # noqa: F811 - the fixture
    remote_server,
    tmp_path,
    capsys,
    monkeypatch,
):
    """The keyed server refuses the key given; the open one (no key) takes every video."""
    monkeypatch.setenv("WRONG_KEY", API_KEY + "-wrong")
    videos(tmp_path, "ab")
    rc = main(
        ["commentate", str(tmp_path), "--greedy", "--formats", "jsonl", "--api-key-env", "WRONG_KEY"]
        + ["--server", remote_server.url, "--server", server.url]
    )
    err = capsys.readouterr().err
    assert rc == 0, err
    assert f"server {remote_server.url} skipped" in err and "refused the API key" in err
    assert f"done on {server.url}" in err and f"done on {remote_server.url}" not in err
    assert_complete(tmp_path, "ab")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_one_video_uses_the_first_server_that_answers(server, tmp_path, capsys, jobs):  # noqa: F811 - the fixture
    (video,) = videos(tmp_path, "a")
    dead = f"http://127.0.0.1:{free_port()}"
    jsonl = tmp_path / "a.jsonl"
    rc = main(
        ["commentate", str(video), "--greedy", "--jsonl", str(jsonl), "--jobs", jobs]
        + ["--server", dead, "--server", server.url]
    )
    err = capsys.readouterr().err
    assert rc == 0, err
    assert f"server {dead} skipped" in err
    assert len(transcript(jsonl)) >= 3
