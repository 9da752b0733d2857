"""The one engine host: the engine child, and the jobs that take turns on it.

The model stays loaded between jobs (loading a 7B model takes seconds), so the
engine process outlives each job. One host serves the Live tab, the Review tab
and the tests; the Qt side (``ui/engine_bridge.py``) only turns its listener
calls into signals. Jobs take turns, one at a time, on the one context:

- a **session** (:class:`~app.pipeline.session.Session`) streams a source into
  the engine: a live capture (the newest chunk wins), a whole file, or the span
  of a file that a review question is about (every chunk). Starting a session
  ends the one before at once; its late output is ignored.
- a **question** (:meth:`EngineHost.ask`) is answered on what the engine has
  seen; its answer goes to the listener given with it.

The host keeps the last load request: after the child dies, :meth:`restart`
starts a new one and loads the same model again, while transcripts (on disk and
on screen) are untouched. Messages from the child are routed to the running
session, to the question's listener, or, for the engine's own news, to the
host's listener. Every method returns at once; listeners are called from worker
threads.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol

from app.engine.process import (
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
from app.pipeline.session import Session, SessionListener
from app.sources.base import FrameSource
from models.engine.records import AnswerDelta, AnswerDone, AnswerEvent


class EngineState(str, Enum):
    """Where the engine is, in the order a healthy engine goes through the states."""

    NO_ENGINE = "no engine"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"  # the model could not be loaded
    DEAD = "dead"  # the child ended without being asked


class HostListener(Protocol):
    """The engine's own news; called from worker threads."""

    def on_engine_state(self, state: EngineState, detail: str) -> None: ...
    def on_loaded(self, loaded: Loaded) -> None: ...
    def on_engine_error(self, failed: EngineFailed) -> None: ...
    def on_engine_died(self, died: EngineDied) -> None: ...


class AnswerListener(Protocol):
    """Hears one question's answer as it is decoded, or why there is none."""

    def on_answer(self, event: AnswerEvent) -> None: ...
    def on_answer_failed(self, message: str) -> None: ...


@dataclass(frozen=True)
class _Question:
    session: int
    listener: AnswerListener


class EngineHost:
    """The engine process and the job using it.

    Args:
        listener: hears engine state changes, load results, errors and the child's death.
        log_dir: where the child's log (llama.cpp's stderr) is kept; ``None`` leaves stderr alone.
    """

    def __init__(self, listener: HostListener, log_dir: str | Path | None = None) -> None:
        self.listener = listener
        self.log_dir = Path(log_dir) if log_dir else None
        self.process: EngineProcess | None = None
        self.session: Session | None = None
        self.state = EngineState.NO_ENGINE
        self.loaded: Loaded | None = None
        self.last_load: Load | None = None
        self.restarts = 0
        self._question: _Question | None = None
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    # -- the engine ---------------------------------------------------------------------

    def _set_state(self, state: EngineState, detail: str = "") -> None:
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
        """Load a model, or connect to the llama-server ``request.server`` (starting the child if
        there is none); the running job ends."""
        with self._lock:
            self._end_jobs("The model is being changed.")
            if self.process is None or not self.process.alive:
                self._discard_process()
                self.process = self._spawn()
            self.last_load = request
            self.loaded = None
            self._set_state(EngineState.LOADING, request.describe())
            self.process.send(request)

    def restart(self) -> None:
        """Kill the child if it lives, start a new one, and load the last model again."""
        with self._lock:
            self._end_jobs("The engine is restarting.")
            self._discard_process(timeout=0.0)  # a restart is asked for a stuck or dead engine
            self.restarts += 1
            if self.last_load is not None:
                self.load(self.last_load)
            else:
                self._set_state(EngineState.NO_ENGINE)

    def _discard_process(self, timeout: float = 3.0) -> None:
        if self.process is not None:
            process, self.process = self.process, None
            process.shutdown(timeout=timeout)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def ready(self) -> bool:
        return self.state is EngineState.READY and self.process is not None and self.process.alive

    def _on_message(self, process: EngineProcess, message: EngineMessage) -> None:
        """Route one message from the child (reader thread)."""
        with self._lock:
            if process is not self.process:
                return  # a message from a child we already replaced
            session, question = self.session, self._question
        tag = getattr(message, "session", None)
        if isinstance(message, Loaded):
            self.loaded = message
            self._set_state(EngineState.READY, message.device)
            self.listener.on_loaded(message)
        elif isinstance(message, EngineDied):
            if session is not None:
                session.handle(message)
            self._answer_failed(question, f"The engine stopped: {message.reason}.")
            self._set_state(EngineState.DEAD, message.reason)
            self.listener.on_engine_died(message)
        elif isinstance(message, EngineFailed) and message.during == "load":
            self._set_state(EngineState.FAILED, message.message)
            self.listener.on_engine_error(message)
        elif question is not None and tag == question.session and self._is_answer(message):
            self._answer(question, message)
        elif session is not None and session.running and tag == session.id:
            session.handle(message)
        elif isinstance(message, EngineFailed) and message.during not in ("chunk", "start", "stop"):
            self.listener.on_engine_error(message)
        # Anything else (Stopped, late output of an ended job) needs no action.

    @staticmethod
    def _is_answer(message: EngineMessage) -> bool:
        if isinstance(message, Output):
            return isinstance(message.event, (AnswerDelta, AnswerDone))
        return isinstance(message, EngineFailed) and message.during == "ask"

    def _answer(self, question: _Question, message: EngineMessage) -> None:
        if isinstance(message, EngineFailed):
            self._answer_failed(question, message.message)
            return
        assert isinstance(message, Output)
        if isinstance(message.event, AnswerDone):
            with self._lock:
                if self._question is question:
                    self._question = None
        question.listener.on_answer(message.event)

    def _answer_failed(self, question: _Question | None, message: str) -> None:
        if question is None:
            return
        with self._lock:
            if self._question is not question:
                return
            self._question = None
        question.listener.on_answer_failed(message)

    # -- jobs ---------------------------------------------------------------------------

    def start_session(
        self,
        source: FrameSource,
        listener: SessionListener,
        *,
        query: str,
        transcript_path: Path | None,
        max_pixels: int,
        time_offset: float = 0.0,
        preview_fps: float = 8.0,
    ) -> Session:
        """Start streaming ``source``; a running job ends first ("stopped").

        Raises ``RuntimeError`` if no model is ready, and the transcript's
        ``OutputError`` if it cannot be written.
        """
        with self._lock:
            if not self.ready or self.process is None:
                raise RuntimeError("the engine is not ready")
            self._end_jobs("Stopped for another job.")
            session = Session(
                self.process,
                source,
                listener,
                session_id=next(self._ids),
                query=query,
                transcript_path=transcript_path,
                max_pixels=max_pixels,
                time_offset=time_offset,
                preview_fps=preview_fps,
            )
            session.start()
            self.session = session
            return session

    def stop_session(self, *, now: bool = False) -> None:
        """Stop the running session once the chunk in the engine is done (``now``: at once)."""
        with self._lock:
            if self.session is not None:
                self.session.stop(now=now)

    def _end_jobs(self, message: str) -> None:
        """End the running session and any pending question now (called with the lock held)."""
        if self.session is not None and self.session.running:
            self.session.stop(now=True, message=message)
        self._answer_failed(self._question, message)

    def set_query(self, query: str) -> None:
        """Change what to commentate; the next chunk carries it."""
        if self.process is not None:
            self.process.send(SetQuery(query))

    def ask(self, question: str, listener: AnswerListener) -> bool:
        """Ask about what the engine has seen; the answer goes to ``listener``.

        False (and nothing is sent) when no model is ready or the question is
        empty. A question still unanswered is dropped (its listener hears why).
        """
        question = question.strip()
        with self._lock:
            if not self.ready or not question or self.process is None:
                return False
            self._answer_failed(self._question, "Another question was asked.")
            session_id = self.session.id if self.session is not None else 0
            self._question = _Question(session_id, listener)
            self.process.send(Ask(session_id, question))
            return True

    def shutdown(self) -> None:
        with self._lock:
            self._end_jobs("The engine was shut down.")
            self._discard_process()
            self.state = EngineState.NO_ENGINE
