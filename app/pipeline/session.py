"""One live session: source → sampler → chunker → pacer → engine process → sinks.

A capture thread reads the source, samples and chunks the frames, and hands
each chunk to the pacer (live: the newest chunk wins; files: every chunk, read
only as fast as the engine goes). One chunk at a time is in the engine; when
it is done the next waiting one is sent. Engine messages arrive through
:meth:`Session.handle`, called by the owner of the engine process from its
reader thread. Every finished chunk is appended to the session's JSONL
transcript at once (flushed and synced), so a crash of the app or the engine
loses nothing already said.

Nothing here blocks the caller: :meth:`start` and :meth:`stop` return at once,
and the listener hears everything (from the capture or the reader thread).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2

from app.atomic_files import create_temp, resolve_output
from app.engine.process import Chunk, EngineDied, EngineFailed, EngineProcess, Output, Start, Stop
from app.errors import OutputError, SourceError
from app.pipeline.chunking import LiveCCChunker
from app.pipeline.pacing import EveryChunk, LagMeter, LiveStats, NewestChunkWins, Pacer
from app.pipeline.sampling import MAX_PIXELS, FrameSampler
from app.sinks.formats import EXPORT_FORMATS
from app.sinks.subtitles import build_cues, write_srt, write_vtt
from app.sinks.transcript import JsonlTranscriptWriter
from app.sources.base import FrameSource
from models.engine.records import ChunkDone, Frame, VideoChunk
from models.errors import LiveCCError

log = logging.getLogger(__name__)

PREVIEW_MAX_WIDTH = 640
FAILED_CHUNKS_TO_STOP = 3  # chunks the engine fails in a row before the session ends with its error


@dataclass(frozen=True)
class SessionEnded:
    """Why a session ended. ``reason``: stopped, finished, source_failed, engine_died or error."""

    reason: str
    message: str
    transcript_path: Path | None
    chunks: int


class SessionListener(Protocol):
    """What a session reports; every method may be called from a worker thread."""

    def on_preview(self, frame: Frame) -> None: ...
    def on_event(self, event: object) -> None: ...
    def on_stats(self, stats: LiveStats) -> None: ...
    def on_warning(self, text: str) -> None: ...
    def on_finished(self, ended: SessionEnded) -> None: ...


class Session:
    """Streams ``source`` into ``engine`` until the source ends or :meth:`stop` is called.

    Args:
        engine: a started engine process with a model loaded.
        source: an unopened frame source (opened in the capture thread).
        listener: receives previews, engine events, stats, warnings and the end.
        session_id: tags this session's engine messages (late ones of older sessions are ignored).
        query: what to commentate.
        transcript_path: the JSONL file appended to as chunks finish; ``None`` for none.
        max_pixels: frame size bound for the model.
        time_offset: added to live frame times, so a restarted live session continues
            the timeline of the one before (subtitles stay in order).
        preview_fps: most preview frames per second sent to the listener.
    """

    def __init__(
        self,
        engine: EngineProcess,
        source: FrameSource,
        listener: SessionListener,
        *,
        session_id: int,
        query: str,
        transcript_path: Path | None,
        max_pixels: int = MAX_PIXELS,
        time_offset: float = 0.0,
        preview_fps: float = 8.0,
    ) -> None:
        self.engine = engine
        self.source = source
        self.listener = listener
        self.id = session_id
        self.query = query
        self.transcript_path = Path(transcript_path) if transcript_path else None
        self.live = bool(source.is_live)
        self.time_offset = time_offset if self.live else 0.0
        self.pacer: Pacer = NewestChunkWins() if self.live else EveryChunk()
        self.sampler = FrameSampler(max_pixels=max_pixels)
        self.chunker = LiveCCChunker()
        self.meter = LagMeter(self._stream_clock() if self.live else None)
        self.chunks: list[ChunkDone] = []
        self.position_s = self.time_offset
        self._preview_period = 1.0 / preview_fps if preview_fps > 0 else float("inf")
        self._lock = threading.RLock()
        self._in_flight: VideoChunk | None = None
        self._capture_done = False
        self._capture_end = ("finished", "The video is finished.")
        self._stopping = threading.Event()
        self._ended: SessionEnded | None = None
        self._failed_in_a_row = 0
        self._first_failure = ""
        self._announced = threading.Event()
        self._writer: JsonlTranscriptWriter | None = None
        self._thread = threading.Thread(target=self._capture, name=f"capture-{session_id}", daemon=True)

    def _stream_clock(self) -> Callable[[], float]:
        clock = getattr(self.source, "stream_time", None)
        return (lambda: clock() + self.time_offset) if clock else (lambda: self.position_s)

    # -- control (any thread) -------------------------------------------------------

    def start(self) -> None:
        """Open the transcript (fails here if it cannot be written), then start capturing."""
        if self.transcript_path is not None:
            self._writer = JsonlTranscriptWriter(self.transcript_path)
        self.engine.send(Start(self.id, self.query))
        self._thread.start()

    def stop(self, *, now: bool = False, message: str = "Stopped.") -> None:
        """Stop capturing; the session ends once the chunk in the engine is done.

        ``now`` ends it at once, for a job that takes the engine over: the
        chunk in the engine is abandoned (its late output is ignored).
        """
        self._stopping.set()
        self.pacer.close()
        with self._lock:
            if now:
                self._in_flight = None
            if self._in_flight is None:
                self._finish("stopped", message)
        self._announce()

    @property
    def ended(self) -> SessionEnded | None:
        return self._ended

    @property
    def running(self) -> bool:
        return self._ended is None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the capture thread to end (for tests and shutdown)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- capture thread -----------------------------------------------------------------

    def _frames(self) -> Iterator[Frame]:
        """The source's frames, shifted to the session timeline, with previews on the side."""
        next_preview = 0.0
        for frame in self.source.frames():
            if self._stopping.is_set():
                return
            if self.time_offset:
                frame = Frame(frame.t + self.time_offset, frame.rgb)
            if frame.t >= next_preview:
                next_preview = frame.t + self._preview_period
                self.listener.on_preview(_preview(frame))
            yield frame

    def _capture(self) -> None:
        reason, message = "finished", "The video is finished."
        try:
            self.source.open()
            for sampled in self.sampler.sample(self._frames()):
                chunk = self.chunker.push(sampled)
                if chunk is not None:
                    self._offer(chunk)
                if self._stopping.is_set():
                    break
            if not self._stopping.is_set():
                tail = self.chunker.flush()
                if tail is not None:
                    self._offer(tail)
        except SourceError as exc:
            reason, message = "source_failed", str(exc)
        except LiveCCError as exc:
            reason, message = "error", str(exc)
        except Exception as exc:  # a bug: end the session with the reason rather than hang
            log.exception("capture failed")
            reason, message = "error", f"Capture failed ({type(exc).__name__}: {exc})."
        finally:
            self.source.close()
        for warning in self.source.warnings:
            self.listener.on_warning(warning)
        with self._lock:
            self._capture_done = True
            self._capture_end = (reason, message)
            self._maybe_finish()
        self._announce()

    def _offer(self, chunk) -> None:
        self.pacer.offer(chunk)
        self._pump()

    def _pump(self) -> None:
        """Send the next waiting chunk if the engine is free."""
        with self._lock:
            if self._in_flight is not None or self._ended is not None or self._stopping.is_set():
                return
            chunk = self.pacer.take()
            if chunk is not None:
                self._in_flight = chunk
                self.engine.send(Chunk(self.id, chunk))

    # -- engine messages (reader thread) ------------------------------------------------

    def handle(self, message: object) -> None:
        """Take one engine message meant for this session (or an EngineDied)."""
        try:
            self._handle(message)
        finally:
            self._announce()

    def _handle(self, message: object) -> None:
        if self._ended is not None:
            return
        if isinstance(message, EngineDied):
            self._stopping.set()
            self.pacer.close()
            with self._lock:
                self._in_flight = None
                self._finish("engine_died", f"The engine stopped: {message.reason}.")
            return
        if isinstance(message, EngineFailed):
            if message.during == "start":
                with self._lock:
                    self._stopping.set()
                    self._finish("error", message.message)
                return
            with self._lock:
                if message.during == "chunk":
                    self._failed_in_a_row += 1
                    if self._failed_in_a_row == 1:
                        self._first_failure = message.message  # the cause; later failures may only follow from it
                    if self._failed_in_a_row >= FAILED_CHUNKS_TO_STOP:
                        # A damaged model fails every chunk alike: one clear end, not a warning a second.
                        self._in_flight = None
                        self._stopping.set()
                        self._finish("error", self._first_failure)
                        return
            self.listener.on_warning(message.message)
            with self._lock:
                if message.during == "chunk":
                    self._in_flight = None
                    self._after_chunk()
            return
        if not isinstance(message, Output) or message.session != self.id:
            return
        event = message.event
        if isinstance(event, ChunkDone):
            self._record(event)
        self.listener.on_event(event)
        if isinstance(event, ChunkDone):
            self.listener.on_stats(self.meter.update(event, self.pacer.dropped))
            with self._lock:
                self._in_flight = None
                self._after_chunk()

    def _record(self, done: ChunkDone) -> None:
        self._failed_in_a_row = 0
        self.chunks.append(done)
        self.position_s = max(self.position_s, done.t1)
        if self._writer is not None:
            try:
                self._writer.write(done)
            except OutputError as exc:
                self._writer.close()
                self._writer = None
                self.listener.on_warning(f"{exc} The transcript is no longer saved; export it before closing.")

    def _after_chunk(self) -> None:
        if self._stopping.is_set():
            self._finish("stopped", "Stopped.")
        else:
            self._pump()
            self._maybe_finish()

    def _maybe_finish(self) -> None:
        """End once capture is over and no chunk is left (called with the lock held)."""
        if not self._capture_done or self._in_flight is not None:
            return
        reason, message = self._capture_end
        if reason == "finished" and self._stopping.is_set():
            self._finish("stopped", "Stopped.")
        elif reason != "finished" or self.pacer.pending == 0:
            self._finish(reason, message)

    def _finish(self, reason: str, message: str) -> None:
        """End the session once (called with the lock held; :meth:`_announce` tells the listener)."""
        if self._ended is not None:
            return
        self._stopping.set()
        self.pacer.close()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.engine.send(Stop(self.id))
        self._ended = SessionEnded(reason, message, self.transcript_path, len(self.chunks))

    def _announce(self) -> None:
        """Tell the listener the session ended, once, never with the lock held.

        A listener may start the next job from ``on_finished`` (a review
        question follows the seconds it is about); that takes the host's lock,
        which is taken before this session's lock elsewhere.
        """
        ended = self._ended
        if ended is None or self._announced.is_set():
            return
        with self._lock:
            if self._announced.is_set():
                return
            self._announced.set()
        self.listener.on_finished(ended)


def _preview(frame: Frame) -> Frame:
    """A small copy of ``frame`` for the preview (the UI never needs full resolution)."""
    h, w = frame.rgb.shape[:2]
    if w <= PREVIEW_MAX_WIDTH:
        return frame
    size = (PREVIEW_MAX_WIDTH, max(1, round(h * PREVIEW_MAX_WIDTH / w)))
    return Frame(frame.t, cv2.resize(frame.rgb, size, interpolation=cv2.INTER_AREA))


# -- export -----------------------------------------------------------------------------


def export_transcript(chunks: Sequence[ChunkDone], path: str | Path, fmt: str | None = None) -> Path:
    """Write ``chunks`` as SubRip, WebVTT or JSONL (by ``fmt`` or the file's suffix), atomically."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in EXPORT_FORMATS:
        raise OutputError(f"Cannot export to {path.name}: choose a .srt, .vtt or .jsonl file.")
    ordered = sorted(chunks, key=lambda c: (c.t0, c.t1))
    if fmt == "srt":
        write_srt(build_cues(ordered), path)
    elif fmt == "vtt":
        write_vtt(build_cues(ordered), path)
    else:
        path = resolve_output(path)
        tmp = create_temp(path.parent, f".{path.name}.", ".tmp")
        try:
            with JsonlTranscriptWriter(tmp) as writer:
                for done in ordered:
                    writer.write(done)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return path
