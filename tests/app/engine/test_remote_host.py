"""The engine host on a llama-server: Settings › Engine › Remote server, without Qt.

The child process connects a ``RemoteEngine`` instead of loading llama.cpp; a file
session commentates through it exactly as through the local engine, and a wrong
URL or key leaves the host in its load-failed state with one clear line.
"""

from __future__ import annotations

import threading

import pytest

from app.engine.host import EngineHost, EngineState
from app.engine.process import RemoteTarget
from app.settings import Settings, engine_load
from app.sinks.transcript import read_transcript
from app.sources.file_source import FileSource
from app.sources.synthetic import write_test_video
from models.engine.records import ChunkDone
from tests.real_programs import free_port
from tests.remote_server import API_KEY, remote_server_fixture, server_binary  # noqa: F401  (fixtures)

TIMEOUT = 120


class Recorder:
    """The host's and the session's listener: keeps everything, signals load results and the end."""

    def __init__(self) -> None:
        self.events, self.errors, self.states, self.loaded = [], [], [], []
        self.ended = None
        self.settled = threading.Event()  # loaded or failed
        self.finished = threading.Event()

    def on_engine_state(self, state, detail):
        self.states.append((state, detail))

    def on_loaded(self, loaded):
        self.loaded.append(loaded)
        self.settled.set()

    def on_engine_error(self, failed):
        self.errors.append(failed)
        self.settled.set()

    def on_engine_died(self, died):
        self.errors.append(died)
        self.settled.set()

    def on_preview(self, frame):
        pass

    def on_event(self, event):
        self.events.append(event)

    def on_stats(self, stats):
        pass

    def on_warning(self, text):
        pass

    def on_finished(self, ended):
        self.ended = ended
        self.finished.set()


def remote_settings(url: str, key: str = API_KEY) -> Settings:
    return (
        Settings()
        .replace("engine", backend="remote", url=url, api_key=key, timeout_s=30.0)
        .replace("commentary", greedy=True)
    )


@pytest.fixture
def host(tmp_path):
    recorder = Recorder()
    host = EngineHost(recorder, tmp_path / "logs")
    yield host, recorder
    host.shutdown()


def test_the_host_loads_a_remote_server_and_a_file_session_commentates_through_it(host, remote_server, tmp_path):
    host, rec = host
    request = engine_load(remote_settings(remote_server.url), "Describe.")
    assert request.server == RemoteTarget(remote_server.url, API_KEY, 30.0) and request.model_path == ""
    assert API_KEY not in repr(request)  # the key never reaches a log
    host.load(request)
    assert rec.settled.wait(TIMEOUT) and not rec.errors, rec.errors
    assert host.state is EngineState.READY
    assert rec.states[0] == (EngineState.LOADING, f"llama-server at {remote_server.url}")
    loaded = rec.loaded[0]
    assert loaded.device.startswith(f"llama-server at {remote_server.url} (2048-token context")
    assert not loaded.gpu and loaded.model_name

    clip = write_test_video(tmp_path / "clip.mp4", 5.0, fps=10, size=(320, 240))
    transcript = tmp_path / "t.jsonl"
    host.start_session(FileSource(clip), rec, query="Describe.", transcript_path=transcript, max_pixels=100 * 28 * 28)
    assert rec.finished.wait(TIMEOUT)
    assert rec.ended.reason == "finished" and rec.ended.chunks == 3, rec.ended
    done = [e for e in rec.events if isinstance(e, ChunkDone)]
    assert [(d.t0, d.t1) for d in done] == [(0.0, 3.0), (3.0, 4.0), (4.0, 5.0)]
    assert [r["end"] for r in read_transcript(transcript)] == [3.0, 4.0, 5.0]


def test_a_wrong_url_leaves_the_host_failed_with_one_line(host):
    host, rec = host
    port = free_port()  # nothing listens there
    host.load(engine_load(remote_settings(f"http://127.0.0.1:{port}"), "q"))
    assert rec.settled.wait(TIMEOUT)
    assert host.state is EngineState.FAILED and not rec.loaded
    failed = rec.errors[0]
    assert failed.during == "load" and failed.user_error
    assert f"127.0.0.1:{port}" in failed.message and "\n" not in failed.message
    assert rec.states[-1] == (EngineState.FAILED, failed.message)


def test_a_wrong_key_fails_the_load_before_any_frame(host, remote_server):
    host, rec = host
    host.load(engine_load(remote_settings(remote_server.url, key="not-the-key"), "q"))
    assert rec.settled.wait(TIMEOUT)
    assert host.state is EngineState.FAILED
    assert "key" in rec.errors[0].message.lower() and "\n" not in rec.errors[0].message
