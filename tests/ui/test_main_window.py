"""The main window with the real engine process on the tiny model: start, stop, crash, restart."""

from __future__ import annotations

import os
import signal
import time

from PySide6.QtCore import QTimer

from app.engine.host import EngineState
from app.sinks.transcript import read_transcript
from models.engine.records import ChunkDone
from tests.ui.signal_log import SignalLog

ENGINE_TIMEOUT_MS = 180_000  # the machine may be busy; never a measure of speed


class StallMeter:
    """Largest gap between ticks of a 10 ms timer: how long the event loop was blocked."""

    def __init__(self) -> None:
        self.max_gap = 0.0
        self._last = time.perf_counter()
        self.timer = QTimer(interval=10, timeout=self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.max_gap = max(self.max_gap, now - self._last)
        self._last = now


def _is_chunk_done(event) -> bool:
    return isinstance(event, ChunkDone)


def _ready(qtbot, window):
    window.load_model(window.model_panel.current())
    # The engine's state changes on its reader thread; the window hears of it by a
    # queued signal. Wait for the window too, or Start may still be disabled.
    qtbot.waitUntil(
        lambda: (
            window.bridge.state is EngineState.READY
            and window.start_action.isEnabled()
            and window.status.device.text() != "no model"
        ),
        timeout=ENGINE_TIMEOUT_MS,
    )


def _use_file(window, path, start=0.0):
    window.source.set_kind("file")
    window.source.file_path.setText(str(path))
    window.source.start_at.setValue(start)


def test_start_runs_a_file_to_the_end_and_saves_the_transcript(
    qtbot, make_main_window, tiny_settings, tmp_path, clips, record_property
):
    window = make_main_window(tiny_settings)
    _ready(qtbot, window)
    window.set_overlay_visible(True)
    _use_file(window, clips["short"])
    stall = StallMeter()
    with qtbot.waitSignal(window.bridge.sessionFinished, timeout=ENGINE_TIMEOUT_MS) as finished:
        window.start_action.trigger()
        assert window.running, f"did not start: state {window.bridge.state!r}, banner {window.banner.text()!r}"
        assert window.start_action.text() == "Stop"
    stall.timer.stop()
    record_property("max_event_loop_stall_ms", round(stall.max_gap * 1000, 1))
    print(f"max event-loop stall during the session: {stall.max_gap * 1000:.1f} ms")

    ended = finished.args[0]
    assert ended.reason == "finished"
    # 5 s at 2 fps = 10 frames: the 6-frame opening chunk and two 2-frame chunks.
    assert [(c.t0, c.t1) for c in window.transcript.chunks] == [(0.0, 3.0), (3.0, 4.0), (4.0, 5.0)]
    assert window.start_action.text() == "Start" and not window.running
    lines = read_transcript(ended.transcript_path)
    assert [line["end"] for line in lines] == [3.0, 4.0, 5.0]
    assert ended.transcript_path.parent == tmp_path / "transcripts"
    assert window.status.latency.text().startswith("chunk ")
    assert window.status.lag.text() == "at 5 s"  # files are not real time: position, not lag
    assert window.status.device.text() == "CPU"
    spoken = window.transcript.spoken_text
    if spoken:  # random weights may stay silent; when they speak, the overlay shows it
        assert window.overlay.visible_lines() and window.overlay.text.split()[-1] == spoken.split()[-1]
    assert window.preview.frames_shown > 0


def test_stop_ends_a_session_early_and_export_writes_what_was_said(
    qtbot, make_main_window, tiny_settings, tmp_path, clips, monkeypatch
):
    window = make_main_window(tiny_settings)
    _ready(qtbot, window)
    _use_file(window, clips["long"])
    SignalLog(window.bridge.engineEvent).wait_for(qtbot, _is_chunk_done, ENGINE_TIMEOUT_MS, action=window.start)
    with qtbot.waitSignal(window.bridge.sessionFinished, timeout=ENGINE_TIMEOUT_MS) as finished:
        window.start_action.trigger()  # the same action stops
    assert finished.args[0].reason == "stopped"
    done = len(window.transcript.chunks)
    assert 1 <= done < 38
    assert len(read_transcript(finished.args[0].transcript_path)) == done

    from PySide6.QtWidgets import QFileDialog

    for fmt in ("srt", "vtt", "jsonl"):
        target = tmp_path / f"out.{fmt}"
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, t=target: (str(t), ""))
        assert window.export(fmt) == target and target.stat().st_size > 0
    assert len(read_transcript(tmp_path / "out.jsonl")) == done


def test_engine_killed_mid_stream_keeps_the_transcript_and_restarts(
    qtbot, make_main_window, tiny_settings, tmp_path, clips
):
    window = make_main_window(tiny_settings)
    _ready(qtbot, window)
    _use_file(window, clips["long"])
    SignalLog(window.bridge.engineEvent).wait_for(qtbot, _is_chunk_done, ENGINE_TIMEOUT_MS, action=window.start)
    pid = window.bridge.host.pid
    died, finished = SignalLog(window.bridge.engineDied), SignalLog(window.bridge.sessionFinished)
    os.kill(pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: bool(died.args and finished.args), timeout=ENGINE_TIMEOUT_MS)
    kept = list(window.transcript.chunks)
    assert kept, "the chunks said before the crash stay in the transcript"
    assert window.bridge.state is EngineState.DEAD
    assert window.banner_box.isVisible() and "SIGKILL" in window.banner.text()
    assert window.banner_restart.isVisibleTo(window)
    assert window.source.start_at.value() == kept[-1].t1  # Start resumes where commentary stopped
    assert window.start_action.text() == "Start"

    with qtbot.waitSignal(window.bridge.loaded, timeout=ENGINE_TIMEOUT_MS):
        window.banner_restart.click()
    assert window.bridge.host.pid != pid and window.bridge.state is EngineState.READY
    SignalLog(window.bridge.engineEvent).wait_for(qtbot, _is_chunk_done, ENGINE_TIMEOUT_MS, action=window.start)
    window.stop()
    qtbot.waitUntil(lambda: not window.running, timeout=ENGINE_TIMEOUT_MS)
    after = window.transcript.chunks
    assert after[: len(kept)] == kept
    assert after[len(kept)].t0 >= kept[-1].t1  # the new session continued the file, not from 0


def test_a_bad_model_file_is_reported_and_the_window_keeps_working(
    qtbot, make_main_window, tiny_settings, tiny_model, tmp_path
):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf at all")
    settings = tiny_settings.replace("model", model_path=str(bad))
    window = make_main_window(settings)
    with qtbot.waitSignal(window.bridge.engineError, timeout=ENGINE_TIMEOUT_MS) as error:
        window.load_model(window.model_panel.current())
    assert error.args[0].user_error and "broken.gguf" in error.args[0].message
    assert window.banner_box.isVisible()
    assert window.bridge.state is EngineState.FAILED
    # The same engine process loads a good pair afterwards.
    from ui.live.model_panel import ModelChoice

    with qtbot.waitSignal(window.bridge.loaded, timeout=ENGINE_TIMEOUT_MS):
        window.load_model(ModelChoice("tiny", str(tiny_model.text_path), str(tiny_model.mmproj_path)))


def test_start_without_a_source_says_what_is_missing(qtbot, make_main_window, tiny_settings, tmp_path):
    window = make_main_window(tiny_settings)
    _ready(qtbot, window)
    window.source.set_kind("file")
    window.source.file_path.setText("")
    window.start()
    assert not window.running
    assert window.banner_box.isVisible() and "video file" in window.banner.text()


def test_the_review_tab_is_built_when_first_opened(qtbot, make_main_window, tiny_settings, clips):
    window = make_main_window(tiny_settings)
    assert window.review is None
    window.tabs.setCurrentWidget(window.review_holder)
    review = window.review
    assert review is not None and review.isVisibleTo(window)
    window.tabs.setCurrentIndex(0)
    window.tabs.setCurrentWidget(window.review_holder)
    assert window.review is review  # built once
