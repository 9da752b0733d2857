"""Owns the engine child across sessions: load, restart after a crash, route messages.

The model stays loaded between sessions (loading a 7B model takes seconds), so
the engine process outlives each :class:`~app.session.Session`. The host keeps
the last load request: after the child dies, :meth:`restart` starts a new one
and loads the same model again, while the transcript (on disk and in the GUI)
is untouched. Messages from the child are routed to the running session, or,
for everything not about a session, to the listener. No Qt here: the GUI's
``ui/engine_bridge.py`` turns the listener calls into signals.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Protocol

from app.engine_process import (
    Ask,
    EngineDied,
    EngineFailed,
    EngineMessage,
    EngineProcess,
    Load,
    Loaded,
    Output,
    SetQuery,
)
from app.records import AnswerDelta, AnswerDone
from app.session import Session, SessionListener
from app.sources.base import FrameSource

# Engine states, in the order a healthy engine goes through them.
NO_ENGINE, LOADING, READY, FAILED, DEAD = "no engine", "loading", "ready", "failed", "dead"


class HostListener(SessionListener, Protocol):
    """Session events plus the engine's own; called from worker threads."""

    def on_engine_state(self, state: str, detail: str) -> None: ...
    def on_loaded(self, loaded: Loaded) -> None: ...
    def on_engine_error(self, failed: EngineFailed) -> None: ...
    def on_engine_died(self, died: EngineDied) -> None: ...


class EngineHost:
    """The engine process and the session using it.

    Args:
        listener: hears engine state changes, errors, and the session's events.
        log_dir: where the child's log (llama.cpp's stderr) is kept; ``None`` leaves stderr alone.
    """

    def __init__(self, listener: HostListener, log_dir: str | Path | None = None) -> None:
        self.listener = listener
        self.log_dir = Path(log_dir) if log_dir else None
        self.process: EngineProcess | None = None
        self.session: Session | None = None
        self.state = NO_ENGINE
        self.loaded: Loaded | None = None
        self.last_load: Load | None = None
        self.restarts = 0
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    # -- engine ---------------------------------------------------------------------

    def _set_state(self, state: str, detail: str = "") -> None:
        self.state = state
        self.listener.on_engine_state(state, detail)

    def _spawn(self) -> EngineProcess:
        log_path = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.log_dir / "engine.log"
        process = EngineProcess(lambda m: self._on_message(process, m), log_path)
        process.start()
        return process

    def load(self, request: Load) -> None:
        """Load a model (starting the child if there is none); returns at once."""
        with self._lock:
            if self.session is not None and self.session.running:
                self.session.stop()
            if self.process is None or not self.process.alive:
                self._discard_process()
                self.process = self._spawn()
            self.last_load = request
            self.loaded = None
            self._set_state(LOADING, Path(request.model_path).name)
            self.process.send(request)

    def restart(self) -> None:
        """Kill the child if it lives, start a new one, and load the last model again."""
        with self._lock:
            if self.session is not None and self.session.running:
                self.session.stop()
            self._discard_process(timeout=0.0)  # a restart is asked for a stuck or dead engine
            self.restarts += 1
            if self.last_load is not None:
                self.load(self.last_load)
            else:
                self._set_state(NO_ENGINE)

    def _discard_process(self, timeout: float = 3.0) -> None:
        if self.process is not None:
            process, self.process = self.process, None
            process.shutdown(timeout=timeout)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def ready(self) -> bool:
        return self.state == READY and self.process is not None and self.process.alive

    def _on_message(self, process: EngineProcess, message: EngineMessage) -> None:
        """Route one message from the child (reader thread)."""
        with self._lock:
            if process is not self.process:
                return  # a message from a child we already replaced
            session = self.session
        if isinstance(message, Loaded):
            self.loaded = message
            self._set_state(READY, message.device)
            self.listener.on_loaded(message)
        elif isinstance(message, EngineDied):
            if session is not None:
                session.handle(message)
            self._set_state(DEAD, message.reason)
            self.listener.on_engine_died(message)
        elif isinstance(message, EngineFailed) and message.during == "load":
            self._set_state(FAILED, message.message)
            self.listener.on_engine_error(message)
        elif session is not None and session.running and getattr(message, "session", None) == session.id:
            session.handle(message)
        elif isinstance(message, Output) and isinstance(message.event, (AnswerDelta, AnswerDone)):
            self.listener.on_event(message.event)
        elif isinstance(message, EngineFailed):
            self.listener.on_engine_error(message)
        # Anything else (Stopped, late output of an ended session) needs no action.

    # -- sessions -----------------------------------------------------------------

    def start_session(self, source: FrameSource, *, query: str, transcript_path: Path | None,
                      max_pixels: int, time_offset: float = 0.0, preview_fps: float = 8.0) -> Session:
        """Start streaming ``source``; raises ``RuntimeError`` if no model is ready."""
        with self._lock:
            if not self.ready:
                raise RuntimeError("the engine is not ready")
            if self.session is not None and self.session.running:
                raise RuntimeError("a session is running already")
            session = Session(self.process, source, self.listener, session_id=next(self._ids),
                              query=query, transcript_path=transcript_path, max_pixels=max_pixels,
                              time_offset=time_offset, preview_fps=preview_fps)
            session.start()
            self.session = session
            return session

    def stop_session(self) -> None:
        with self._lock:
            if self.session is not None:
                self.session.stop()

    def set_query(self, query: str) -> None:
        """Change what to commentate; the next chunk carries it."""
        if self.process is not None:
            self.process.send(SetQuery(query))

    def ask(self, question: str) -> bool:
        """Ask about what the engine has seen; answers arrive as AnswerDelta/AnswerDone events."""
        if not self.ready or not question.strip():
            return False
        session_id = self.session.id if self.session is not None else 0
        self.process.send(Ask(session_id, question.strip()))
        return True

    def shutdown(self) -> None:
        with self._lock:
            if self.session is not None and self.session.running:
                self.session.stop()
            self._discard_process()
            self.state = NO_ENGINE
