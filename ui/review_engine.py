"""The review view's engine: a child process fed chunks of one video file.

Review needs two jobs the live session does not: commentary of a whole file
ahead of playback (every chunk, none dropped, as fast as the engine goes) and
questions about any moment, answered from a context rebuilt from the seconds
before it (:func:`app.review.window_span`). Both run in an
:class:`~app.engine_process.EngineProcess` (llama.cpp's aborts cannot take the
window down) driven through its plain protocol: ``Start`` resets the context,
``Chunk`` feeds one chunk, ``Ask`` answers. A feeder thread decodes chunks and
keeps at most :data:`IN_FLIGHT` in the child's queue, so an hour of video never
sits in memory. Each job gets a new session id; late output of a cancelled job
is ignored. Every method returns at once; results arrive as signals in the UI
thread.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.engine_process import Ask, Chunk, EngineDied, EngineFailed, EngineProcess, Load, Loaded, Output, Start
from app.errors import LiveCCError, VideoOpenError
from app.protocol import DEFAULT_QUERY
from app.records import AnswerDelta, AnswerDone, ChunkDone
from app.review import file_chunks, window_span
from app.sampling import MAX_PIXELS

IN_FLIGHT = 2  # chunks queued ahead of the engine: enough to never leave it idle


@dataclass
class _Job:
    kind: str  # "commentary" or "ask"
    session: int
    cancel: threading.Event = field(default_factory=threading.Event)
    room: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(IN_FLIGHT))
    sent: int = 0
    done: int = 0
    fed_all: bool = False


class ReviewEngine(QObject):
    """Commentary ahead and questions on one engine child.

    Args:
        load: the model to load (the main window builds it from its settings).
        log_path: file for the child's stderr (llama.cpp's messages).
    """

    stateChanged = Signal(str, str)      # "off", "loading", "ready", "failed", "dead"; detail
    commentaryEvent = Signal(object)     # ChunkStarted / CommentaryDelta / ChunkDone
    commentaryEnded = Signal(str, str)   # "finished", "stopped" or "error"; message
    answerEvent = Signal(object)         # AnswerDelta / AnswerDone
    askFailed = Signal(str)

    def __init__(self, load: Load, log_path: str | Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.load_request = load
        self.query = load.query or DEFAULT_QUERY
        self.log_path = log_path
        self.process: EngineProcess | None = None
        self.state = "off"
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._job: _Job | None = None

    # -- the process -------------------------------------------------------------------
    def start(self) -> None:
        """Start the child and load the model (again, after a crash)."""
        self.shutdown()
        process = EngineProcess(lambda m: self._on_message(process, m), self.log_path)
        process.start()
        self.process = process
        self._set_state("loading", Path(self.load_request.model_path).name)
        process.send(self.load_request)

    def shutdown(self) -> None:
        self._end_job()
        if self.process is not None:
            process, self.process = self.process, None
            process.shutdown()
        self.state = "off"

    @property
    def busy(self) -> str | None:
        """The running job's kind, or ``None``."""
        job = self._job
        return job.kind if job is not None else None

    def _set_state(self, state: str, detail: str = "") -> None:
        self.state = state
        self.stateChanged.emit(state, detail)

    # -- jobs ----------------------------------------------------------------------------
    def _new_job(self, kind: str) -> _Job:
        self._end_job()
        if self.process is None or not self.process.alive:
            self.start()
        job = _Job(kind, next(self._ids))
        with self._lock:
            self._job = job
        self.process.send(Start(job.session, self.query))
        return job

    def _end_job(self, reason: str | None = "stopped", message: str = "Stopped.") -> None:
        with self._lock:
            job, self._job = self._job, None
        if job is None:
            return
        job.cancel.set()
        job.room.release()
        if job.kind == "commentary" and reason is not None:
            self.commentaryEnded.emit(reason, message)

    def commentate(self, video: str | Path, start: float = 0.0, max_pixels: int = MAX_PIXELS) -> None:
        """Commentate ``video`` from ``start`` to its end; stops any running job."""
        job = self._new_job("commentary")
        threading.Thread(target=self._feed_file, args=(job, Path(video), start, max_pixels),
                         name="review-feeder", daemon=True).start()

    def stop(self) -> None:
        """Stop the running job (commentary ends with ``"stopped"``)."""
        self._end_job()

    def ask(self, video: str | Path, t: float, question: str, window_s: float,
            max_pixels: int = MAX_PIXELS) -> None:
        """Answer ``question`` about moment ``t``; a running commentary is stopped first."""
        self._end_job(message="Paused for a question.")
        job = self._new_job("ask")
        threading.Thread(target=self._feed_question, args=(job, Path(video), t, question, window_s, max_pixels),
                         name="review-question", daemon=True).start()

    # -- feeder threads ------------------------------------------------------------------
    def _send_chunk(self, job: _Job, chunk) -> bool:
        while not job.room.acquire(timeout=0.2):
            if job.cancel.is_set():
                return False
        if job.cancel.is_set() or self.process is None:
            return False
        job.sent += 1
        self.process.send(Chunk(job.session, chunk))
        return True

    def _feed_file(self, job: _Job, video: Path, start: float, max_pixels: int) -> None:
        try:
            for chunk in file_chunks(video, start=start, max_pixels=max_pixels):
                if not self._send_chunk(job, chunk):
                    return
        except VideoOpenError as exc:
            if not (start > 0 and job.sent == 0 and video.exists()):
                self._fail(job, str(exc))
                return
            # no frame after ``start``: a resumed run of a video already commentated to its end
        except LiveCCError as exc:
            self._fail(job, str(exc))
            return
        with self._lock:
            job.fed_all = True
            finished = job.done >= job.sent
        if finished:
            self._finish(job)

    def _feed_question(self, job: _Job, video: Path, t: float, question: str, window_s: float,
                       max_pixels: int) -> None:
        start, end = window_span(t, window_s)
        try:
            for chunk in file_chunks(video, start=start, end=end, max_pixels=max_pixels):
                if not self._send_chunk(job, chunk):
                    return
        except LiveCCError as exc:
            self._fail(job, str(exc))
            return
        if not job.cancel.is_set() and self.process is not None:
            self.process.send(Ask(job.session, question))

    def _finish(self, job: _Job) -> None:
        with self._lock:
            if self._job is not job:
                return
            self._job = None
        self.commentaryEnded.emit("finished", "Commentary is complete.")

    def _fail(self, job: _Job, message: str) -> None:
        with self._lock:
            if self._job is not job:
                return
        if job.kind == "ask":
            self._end_job(None)
            self.askFailed.emit(message)
        else:
            self._end_job("error", message)

    # -- messages from the child (reader thread) -----------------------------------------
    def _on_message(self, process: EngineProcess, message: object) -> None:
        if process is not self.process:
            return
        if isinstance(message, Loaded):
            self._set_state("ready", message.device)
        elif isinstance(message, EngineDied):
            self._set_state("dead", message.reason)
            if self._job is not None:
                self._fail(self._job, f"The engine stopped: {message.reason}.")
        elif isinstance(message, EngineFailed):
            if message.during == "load":
                self._set_state("failed", message.message)
            job = self._job
            if job is not None and message.session in (None, job.session):
                self._fail(job, message.message)
        elif isinstance(message, Output):
            self._output(message)

    def _output(self, message: Output) -> None:
        job = self._job
        if job is None or message.session != job.session:
            return  # late output of a job that was stopped
        event = message.event
        if job.kind == "ask":
            if isinstance(event, (AnswerDelta, AnswerDone)):
                self.answerEvent.emit(event)
                if isinstance(event, AnswerDone):
                    self._end_job(None)
            elif isinstance(event, ChunkDone):
                job.room.release()
            return
        self.commentaryEvent.emit(event)
        if isinstance(event, ChunkDone):
            job.room.release()
            with self._lock:
                job.done += 1
                finished = job.fed_all and job.done >= job.sent
            if finished:
                self._finish(job)
