"""The JSONL transcript: content, append, crash safety, repair of a partial tail, errors."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.errors import OutputError
from app.sinks.transcript import JsonlTranscriptWriter, read_transcript
from models.engine.records import ChunkDone

REPO = Path(__file__).resolve().parents[3]


def test_lines_hold_index_span_and_text(tmp_path):
    path = tmp_path / "t.jsonl"
    with JsonlTranscriptWriter(path) as writer:
        writer.write(ChunkDone(0, 0.0, 3.0, " The keeper has it"))
        writer.write(ChunkDone(1, 3.0000004, 4.12345, ""))
        writer.write(ChunkDone(2, 4.12345, 5.0, " «Olé» — 1-0\nnow"), lag_s=0.25, query="x")
    raw = path.read_bytes()
    assert raw.count(b"\n") == 3 and raw.endswith(b"\n")
    assert read_transcript(path) == [
        {"index": 0, "start": 0.0, "end": 3.0, "text": "The keeper has it"},
        {"index": 1, "start": 3.0, "end": 4.123, "text": ""},
        {"index": 2, "start": 4.123, "end": 5.0, "text": "«Olé» — 1-0\nnow", "lag_s": 0.25, "query": "x"},
    ]


def test_extra_fields_cannot_replace_the_record(tmp_path):
    with JsonlTranscriptWriter(tmp_path / "t.jsonl") as writer, pytest.raises(ValueError, match="text"):
        writer.write(ChunkDone(0, 0.0, 3.0, "a"), text="b")


def test_appends_to_an_existing_transcript(tmp_path):
    path = tmp_path / "t.jsonl"
    with JsonlTranscriptWriter(path) as writer:
        writer.write(ChunkDone(0, 0.0, 3.0, "one"))
    with JsonlTranscriptWriter(path) as writer:
        assert writer.repaired is False
        writer.write(ChunkDone(1, 3.0, 4.0, "two"))
    assert [r["text"] for r in read_transcript(path)] == ["one", "two"]


def test_partial_last_line_is_cut_before_appending(tmp_path):
    path = tmp_path / "t.jsonl"
    good = b'{"index": 0, "start": 0.0, "end": 3.0, "text": "a"}\n' * 2
    path.write_bytes(good + b'{"index": 2, "start": 4.0, "te')
    with JsonlTranscriptWriter(path) as writer:
        assert writer.repaired is True
        assert path.read_bytes() == good
        writer.write(ChunkDone(2, 4.0, 5.0, "c"))
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and all(json.loads(line) for line in lines[:-1])
    assert [r["index"] for r in read_transcript(path)] == [0, 0, 2]


def test_partial_only_line_and_long_partial_tail(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"index": 0, "sta')
    JsonlTranscriptWriter(path).close()
    assert path.read_bytes() == b""
    path.write_bytes(b'{"index": 0}\n' + b"x" * 10_000)  # the tail is longer than one read block
    JsonlTranscriptWriter(path).close()
    assert path.read_bytes() == b'{"index": 0}\n'


def test_reader_ignores_interrupted_tail_but_not_bad_lines(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"index": 0}\n{"index": 1}\n{"ind')
    assert read_transcript(path) == [{"index": 0}, {"index": 1}]
    path.write_bytes(b'{"index": 0}\nnot json\n{"index": 2}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_transcript(path)


_CHILD = """
import sys
from models.engine.records import ChunkDone
from app.sinks.transcript import JsonlTranscriptWriter
writer = JsonlTranscriptWriter(sys.argv[1])
i = 0
while True:
    writer.write(ChunkDone(i, float(i), i + 1.0, "word " * (i % 40)), pad="p" * (i % 3000))
    i += 1
    if i == 50:
        print("ready", flush=True)
"""


def test_killed_writer_leaves_only_whole_lines(tmp_path):
    path = tmp_path / "t.jsonl"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.2)  # let it be in the middle of writing
    finally:
        child.kill()  # SIGKILL on POSIX: no cleanup runs in the child
        child.wait(10)
        child.stdout.close()
    raw = path.read_bytes()
    # Linux may cut a multi-page write() short when SIGKILL arrives, so the line being written can
    # be partial; every line before it is whole, the reader skips the tail, the writer repairs it.
    complete = raw[: raw.rfind(b"\n") + 1]
    records = [json.loads(line) for line in complete.split(b"\n")[:-1]]
    assert len(records) >= 50
    assert [r["index"] for r in records] == list(range(len(records)))
    assert read_transcript(path) == records
    with JsonlTranscriptWriter(path) as writer:
        assert writer.repaired is (complete != raw)
    assert path.read_bytes() == complete


def test_missing_folder(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        JsonlTranscriptWriter(tmp_path / "no" / "t.jsonl")


def test_path_is_a_folder(tmp_path):
    with pytest.raises(OutputError, match="folder"):
        JsonlTranscriptWriter(tmp_path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions")
def test_permission_denied(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(OutputError, match="permission denied"):
        JsonlTranscriptWriter(locked / "t.jsonl")


def test_permission_denied_message(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(OutputError, match="permission denied"):
        JsonlTranscriptWriter(tmp_path / "t.jsonl")


def test_a_disk_that_fills_up_mid_run_is_reported_and_earlier_lines_kept(mount_disk):
    disk = mount_disk("2m")
    writer = JsonlTranscriptWriter(disk / "t.jsonl")
    writer.write(ChunkDone(0, 0.0, 3.0, "kept"))
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)  # another program takes the rest of the disk
    try:
        while os.write(fd, b"x" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    with pytest.raises(OutputError, match="disk is full"):
        writer.write(ChunkDone(1, 3.0, 4.0, "x" * 8192))
    writer.close()
    assert [r["text"] for r in read_transcript(disk / "t.jsonl")] == ["kept"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_device_is_not_a_transcript():
    with pytest.raises(OutputError, match="not a regular file"):
        JsonlTranscriptWriter("/dev/full")


def test_closed_writer_refuses(tmp_path):
    writer = JsonlTranscriptWriter(tmp_path / "t.jsonl")
    writer.close()
    writer.close()
    with pytest.raises(ValueError):
        writer.write(ChunkDone(0, 0.0, 3.0, "a"))
