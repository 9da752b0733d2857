"""A session end to end without Qt: file source → engine process → transcript and exports."""

from __future__ import annotations

import threading

import pytest

from app.engine.host import EngineHost, EngineState
from app.engine.process import Load
from app.errors import OutputError
from app.pipeline.session import FAILED_CHUNKS_TO_STOP, export_transcript
from app.settings import Settings, engine_options
from app.sinks.subtitles import parse_srt, parse_vtt
from app.sinks.transcript import read_transcript
from app.sources.file_source import FileSource
from app.sources.synthetic import write_test_video
from models.engine.records import ChunkDone

TIMEOUT = 180


class Recorder:
    """A listener that keeps everything and signals the end."""

    def __init__(self) -> None:
        self.events, self.stats, self.warnings, self.previews, self.states = [], [], [], [], []
        self.ended = None
        self.finished = threading.Event()
        self.ready = threading.Event()

    def on_preview(self, frame):
        self.previews.append(frame.t)

    def on_event(self, event):
        self.events.append(event)

    def on_stats(self, stats):
        self.stats.append(stats)

    def on_warning(self, text):
        self.warnings.append(text)

    def on_loaded(self, loaded):
        self.ready.set()

    def on_engine_error(self, failed):
        self.warnings.append(failed.message)

    def on_engine_died(self, died):
        pass

    def on_engine_state(self, state, detail):
        self.states.append(state)

    def on_finished(self, ended):
        self.ended = ended
        self.finished.set()


@pytest.fixture
def host(tiny_model, tmp_path):
    recorder = Recorder()
    host = EngineHost(recorder, tmp_path / "logs")
    options = engine_options(Settings().replace("model", n_ctx=4096, n_threads=1).replace("commentary", greedy=True))
    host.load(Load(str(tiny_model.text_path), str(tiny_model.mmproj_path), options, "Describe."))
    assert recorder.ready.wait(TIMEOUT) and host.state is EngineState.READY
    yield host, recorder
    host.shutdown()


def test_a_file_session_commentates_every_chunk_and_saves_as_it_goes(host, tmp_path):
    host, rec = host
    clip = write_test_video(tmp_path / "clip.mp4", 6.0, fps=10, size=(640, 360))
    transcript = tmp_path / "t.jsonl"
    session = host.start_session(
        FileSource(clip), rec, query="Describe.", transcript_path=transcript, max_pixels=200 * 28 * 28
    )
    assert rec.finished.wait(TIMEOUT)
    assert rec.ended.reason == "finished" and rec.ended.chunks == 4
    done = [e for e in rec.events if isinstance(e, ChunkDone)]
    assert [(d.t0, d.t1) for d in done] == [(0.0, 3.0), (3.0, 4.0), (4.0, 5.0), (5.0, 6.0)]
    assert [r["end"] for r in read_transcript(transcript)] == [3.0, 4.0, 5.0, 6.0]
    assert [s.processed for s in rec.stats] == [1, 2, 3, 4] and all(s.lag_s is None for s in rec.stats)
    assert session.pacer.dropped == 0 and rec.previews and max(rec.previews) <= 6.0

    srt, vtt, jsonl = (export_transcript(done, tmp_path / f"out.{f}") for f in ("srt", "vtt", "jsonl"))
    spoken = [d for d in done if not d.silent]
    cues = parse_srt(srt.read_text(encoding="utf-8"))
    assert len(cues) == len(parse_vtt(vtt.read_text(encoding="utf-8")))
    assert bool(cues) == bool(spoken)
    assert [r["index"] for r in read_transcript(jsonl)] == [0, 1, 2, 3]
    with pytest.raises(OutputError, match="srt, .vtt or .jsonl"):
        export_transcript(done, tmp_path / "out.txt")


def test_stop_mid_file_ends_after_the_chunk_in_flight(host, tmp_path):
    host, rec = host
    clip = write_test_video(tmp_path / "long.mp4", 30.0, fps=5)
    first = threading.Event()
    original = rec.on_event
    rec.on_event = lambda e: (original(e), isinstance(e, ChunkDone) and first.set())
    session = host.start_session(FileSource(clip), rec, query="q", transcript_path=None, max_pixels=200 * 28 * 28)
    assert first.wait(TIMEOUT)
    session.stop()
    assert rec.finished.wait(TIMEOUT) and rec.ended.reason == "stopped"
    assert session.wait(TIMEOUT)
    assert 1 <= rec.ended.chunks < 28


def test_a_missing_file_ends_the_session_with_the_reason(host, tmp_path):
    host, rec = host
    host.start_session(
        FileSource(tmp_path / "nope.mp4"), rec, query="q", transcript_path=None, max_pixels=200 * 28 * 28
    )
    assert rec.finished.wait(TIMEOUT)
    assert rec.ended.reason == "source_failed" and "not found" in rec.ended.message


def test_an_unwritable_transcript_fails_at_start(host, tmp_path):
    host, rec = host
    with pytest.raises(OutputError):
        host.start_session(
            FileSource(tmp_path / "x.mp4"),
            rec,
            query="q",
            transcript_path=tmp_path / "no" / "t.jsonl",
            max_pixels=200 * 28 * 28,
        )
    assert host.session is None


def test_an_engine_that_fails_every_chunk_ends_the_session_with_its_error(tiny_model, tmp_path):
    from tests.models.test_model_file_checks import copy_pair, fill_tensor

    (tmp_path / "nan").mkdir()
    text, mmproj = copy_pair(tiny_model, tmp_path / "nan")
    fill_tensor(mmproj, "mm.2.weight", float("nan"))  # weights our header checks cannot see
    rec = Recorder()
    host = EngineHost(rec, tmp_path / "logs")
    options = engine_options(Settings().replace("model", n_ctx=4096, n_threads=1).replace("commentary", greedy=True))
    host.load(Load(str(text), str(mmproj), options, "Describe."))
    try:
        assert rec.ready.wait(TIMEOUT) and host.state is EngineState.READY
        clip = write_test_video(tmp_path / "clip.mp4", 12.0, fps=5, size=(320, 240))
        host.start_session(FileSource(clip), rec, query="q", transcript_path=None, max_pixels=200 * 28 * 28)
        assert rec.finished.wait(TIMEOUT)
        assert rec.ended.reason == "error" and "invalid numbers" in rec.ended.message
        assert rec.ended.chunks == 0 and len(rec.warnings) == FAILED_CHUNKS_TO_STOP - 1
        # each chunk failed for the model's own reason, not because the one before left the cache out of step
        assert all("invalid numbers" in w for w in rec.warnings), rec.warnings
    finally:
        host.shutdown()
