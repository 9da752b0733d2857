"""The engine in a child process: protocol, errors, and death by signal."""

from __future__ import annotations

import os
import queue
import signal

import numpy as np
import pytest

from app.engine.process import (
    Chunk,
    EngineDied,
    EngineFailed,
    EngineProcess,
    Load,
    Loaded,
    Output,
    Start,
    Stop,
    Stopped,
    describe_exit,
)
from app.settings import Settings, engine_options
from models.engine.records import ChunkDone, ChunkStarted, Frame, VideoChunk

TIMEOUT = 180


def _options():
    return engine_options(Settings().replace("model", n_ctx=4096, n_threads=1).replace("commentary", greedy=True))


def _chunk(index: int, t0: float, n: int = 2) -> VideoChunk:
    rng = np.random.default_rng(index)
    frames = tuple(Frame(t0 + i / 2, rng.integers(0, 255, (224, 308, 3), dtype=np.uint8)) for i in range(n))
    return VideoChunk(index, frames, t0, t0 + n / 2)


@pytest.fixture
def engine(tmp_path):
    inbox: queue.Queue = queue.Queue()
    process = EngineProcess(inbox.put, tmp_path / "engine.log")
    process.start()
    yield process, inbox
    process.shutdown()


def _until(inbox, kind):
    seen = []
    while True:
        message = inbox.get(timeout=TIMEOUT)
        seen.append(message)
        if isinstance(message, kind):
            return message, seen


def test_load_stream_and_stop(engine, tiny_model):
    process, inbox = engine
    process.send(Load(str(tiny_model.text_path), str(tiny_model.mmproj_path), _options(), "Describe."))
    loaded, _ = _until(inbox, Loaded)
    assert loaded.model_name and "CPU" in loaded.device and loaded.gpu is False
    process.send(Start(1, "Describe."))
    process.send(Chunk(1, _chunk(0, 0.0, 6)))
    process.send(Chunk(7, _chunk(1, 3.0)))  # not the current session: ignored
    process.send(Chunk(1, _chunk(1, 3.0)))
    process.send(Stop(1))
    stopped, seen = _until(inbox, Stopped)
    outputs = [m.event for m in seen if isinstance(m, Output)]
    assert all(m.session == 1 for m in seen if isinstance(m, Output))
    done = [e for e in outputs if isinstance(e, ChunkDone)]
    assert [(d.t0, d.t1) for d in done] == [(0.0, 3.0), (3.0, 4.0)]
    assert isinstance(outputs[0], ChunkStarted) and stopped.session == 1


def test_a_bad_model_is_an_error_not_a_crash(engine, tmp_path, tiny_model):
    process, inbox = engine
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 10)
    process.send(Load(str(bad), str(tiny_model.mmproj_path), _options(), "q"))
    failed, _ = _until(inbox, EngineFailed)
    assert failed.during == "load" and failed.user_error and "bad.gguf" in failed.message
    process.send(Chunk(1, _chunk(0, 0.0)))
    failed, _ = _until(inbox, EngineFailed)
    assert "No model is loaded" in failed.message
    assert process.alive


def test_death_by_signal_is_reported_with_its_cause(engine, tiny_model):
    process, inbox = engine
    process.send(Load(str(tiny_model.text_path), str(tiny_model.mmproj_path), _options(), "q"))
    _until(inbox, Loaded)
    os.kill(process.pid, signal.SIGKILL)
    died, _ = _until(inbox, EngineDied)
    assert died.exitcode == -signal.SIGKILL and "SIGKILL" in died.reason and "memory" in died.reason
    assert not process.alive
    process.send(Start(2, "q"))  # ignored once dead, never raises


def test_exit_descriptions():
    assert "aborted" in describe_exit(-signal.SIGABRT)
    assert "segmentation" in describe_exit(-signal.SIGSEGV)
    assert describe_exit(3) == "it exited with code 3"


def test_the_crash_report_keeps_llama_cpp_failure_lines_not_its_warnings(tmp_path):
    log = tmp_path / "engine.log"
    log.write_text(
        "llama_model_loader: loaded meta data with 30 key-value pairs\n"
        "load_tensors: warning: tensor type q4_K is slow on this CPU\n"
        "clip_model_loader: model name: tiny\n"
        "/src/ggml.c:1234: GGML_ASSERT(ne0 > 0) failed\n"
        "warning: not all layers fit\n",
        encoding="utf-8",
    )
    process = EngineProcess(lambda message: None, log)
    assert process._log_tail() == "/src/ggml.c:1234: GGML_ASSERT(ne0 > 0) failed"
