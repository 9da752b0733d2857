"""The engine host seen as Qt signals: the UI thread never waits on the engine.

:class:`~app.engine.host.EngineHost` reports from worker threads (the engine's
reader thread, the capture thread). Emitting a signal from there to widgets in
the UI thread is a queued connection, so every slot runs in the UI thread and
every host call returns at once. Preview frames are turned into ``QImage``
in the worker thread (a copy of a small picture) and only the newest is kept
for the UI, so a slow UI never builds a backlog of frames.

One bridge (one host, one engine child) serves the whole window: the Live tab
listens to its own session and questions here; the Review tab runs its jobs on
``bridge.host`` with its own listener (``ui/review/job_signals.py``).
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from app.engine.host import EngineHost, EngineState
from app.engine.process import EngineDied, EngineFailed, Load, Loaded
from app.pipeline.pacing import LiveStats
from app.pipeline.session import Session, SessionEnded
from app.sources.base import FrameSource
from models.engine.records import Frame


def frame_to_qimage(frame: Frame) -> QImage:
    rgb = frame.rgb
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888).copy()


class EngineBridge(QObject):
    """Adapts the engine host (and its session) to signals.

    Signals carry plain records: ``engineEvent`` the engine records
    (ChunkStarted, CommentaryDelta, ChunkDone, AnswerDelta, AnswerDone).
    """

    engineState = Signal(object, str)  # EngineState, detail
    loaded = Signal(object)  # Loaded
    engineError = Signal(object)  # EngineFailed
    engineDied = Signal(object)  # EngineDied
    engineEvent = Signal(object)  # the live session's events and the answers to its questions
    askFailed = Signal(str)
    stats = Signal(object)  # LiveStats
    preview = Signal(QImage, float)  # picture, stream time
    warning = Signal(str)
    sessionStarted = Signal(object)  # Session
    sessionFinished = Signal(object)  # SessionEnded

    def __init__(self, log_dir: str | Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.host = EngineHost(self, log_dir)
        self._session: Session | None = None  # the Live tab's latest session
        self._preview_lock = threading.Lock()
        self._preview_pending = False

    # -- HostListener (worker threads) ------------------------------------------------

    def on_engine_state(self, state: EngineState, detail: str) -> None:
        self.engineState.emit(state, detail)

    def on_loaded(self, loaded: Loaded) -> None:
        self.loaded.emit(loaded)

    def on_engine_error(self, failed: EngineFailed) -> None:
        self.engineError.emit(failed)

    def on_engine_died(self, died: EngineDied) -> None:
        self.engineDied.emit(died)

    def on_event(self, event: object) -> None:
        self.engineEvent.emit(event)

    on_answer = on_event

    def on_answer_failed(self, message: str) -> None:
        self.askFailed.emit(message)

    def on_stats(self, stats: LiveStats) -> None:
        self.stats.emit(stats)

    def on_warning(self, text: str) -> None:
        self.warning.emit(text)

    def on_finished(self, ended: SessionEnded) -> None:
        self.sessionFinished.emit(ended)

    def on_preview(self, frame: Frame) -> None:
        with self._preview_lock:
            if self._preview_pending:
                return  # the UI has not shown the last one yet: skip this frame
            self._preview_pending = True
        self.preview.emit(frame_to_qimage(frame), frame.t)

    def preview_shown(self) -> None:
        """The UI calls this after painting a preview, to receive the next one."""
        with self._preview_lock:
            self._preview_pending = False

    # -- commands (UI thread; all return at once) --------------------------------------

    @property
    def state(self) -> EngineState:
        return self.host.state

    @property
    def session(self) -> Session | None:
        """The Live tab's latest session (the Review tab's jobs run on the host apart from it)."""
        return self._session

    def load(self, request: Load) -> None:
        self.host.load(request)

    def restart(self) -> None:
        self.host.restart()

    def start_session(self, source: FrameSource, **kwargs) -> Session:
        with self._preview_lock:
            self._preview_pending = False
        session = self.host.start_session(source, self, **kwargs)
        self._session = session
        self.sessionStarted.emit(session)
        return session

    def stop_session(self) -> None:
        if self._session is not None:
            self._session.stop()

    def set_query(self, query: str) -> None:
        self.host.set_query(query)

    def ask(self, question: str) -> bool:
        return self.host.ask(question, self)

    def shutdown(self) -> None:
        self.host.shutdown()
