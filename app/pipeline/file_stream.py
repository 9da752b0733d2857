"""Commentary on a video file: source → sampler → chunker → engine → sinks.

Used by the CLI's ``commentate`` (one video or a batch). The pipeline is a generator of engine
events; sinks (printer, transcript, subtitles) consume the events they care
about. Outputs are opened before the model loads, so a bad output path fails
in a second, not after minutes of work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from app.atomic_files import create_temp, os_failure, resolve_output
from app.pipeline.chunking import LiveCCChunker
from app.pipeline.sampling import FrameSampler
from app.sinks.subtitles import Cue, CueBuilder, write_srt, write_vtt
from app.sinks.transcript import JsonlTranscriptWriter
from app.sources.file_source import FileSource
from models.engine.protocol import Engine
from models.engine.records import ChunkDone, CommentaryEvent, VideoChunk


def stream_file(
    engine: Engine, source: FileSource, *, max_pixels: int, realtime: bool = False
) -> Iterator[CommentaryEvent]:
    """Engine events for every chunk of ``source``, in order, none dropped.

    ``realtime`` paces the file at its own speed (:func:`paced`), as a live source would run:
    for rehearsing a stream's overlay with a recording.
    """
    sampler = FrameSampler(max_pixels=max_pixels)
    chunker = LiveCCChunker()
    with source:
        chunks = chunker.chunks(sampler.sample(source.frames()))
        for chunk in paced(chunks) if realtime else chunks:
            yield from engine.feed(chunk)


def paced(
    chunks: Iterable[VideoChunk],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[VideoChunk]:
    """``chunks`` no faster than their timestamps: a chunk ending at stream time ``t1`` is given
    out once ``t1 - t0_first`` seconds have passed since the first chunk's start. A slower
    consumer is never waited for twice: the stream then runs behind, as a live one would."""
    origin: tuple[float, float] | None = None  # (stream time, clock) of the first chunk's start
    for chunk in chunks:
        if origin is None:
            origin = (chunk.t0, clock())
        wait = origin[1] + (chunk.t1 - origin[0]) - clock()
        if wait > 0:
            sleep(wait)
        yield chunk


@dataclass
class OutputFiles:
    """Where a run writes its transcript and subtitles (each optional)."""

    jsonl: Path | None = None
    srt: Path | None = None
    vtt: Path | None = None

    def check_writable(self) -> None:
        """Fail early, with the path in the message, if an output cannot be written.

        Nothing is created at the output paths: a probe file beside each proves
        the folder takes new files, and is removed.
        """
        for path in (self.jsonl, self.srt, self.vtt):
            if path is None:
                continue
            target = resolve_output(path)
            try:
                create_temp(target.parent, f".{target.name}.", ".probe").unlink()
            except OSError as exc:
                raise os_failure(path, exc) from exc


class SubtitleSink:
    """SRT/WebVTT files that hold every finished cue as soon as it is finished.

    Each time a chunk closes one or more cues, the files are replaced
    atomically with everything so far: a kill, a crash or a full disk keeps all
    finished cues, and a full disk stops the run at the first cue that cannot be
    saved instead of after the whole video. :meth:`write` adds the words still
    open at the end.
    """

    def __init__(self, srt: Path | None, vtt: Path | None) -> None:
        self.srt, self.vtt = srt, vtt
        self.builder = CueBuilder()
        self.cues: list[Cue] = []

    def handle(self, event: object) -> None:
        if isinstance(event, ChunkDone):
            finished = list(self.builder.add(event))
            if finished:
                self.cues.extend(finished)
                self._save()

    def write(self) -> None:
        self.cues.extend(self.builder.finish())
        self.builder = CueBuilder()
        self._save()

    def _save(self) -> None:
        if self.srt:
            write_srt(self.cues, self.srt)
        if self.vtt:
            write_vtt(self.cues, self.vtt)


class TranscriptSink:
    """Appends each finished chunk to a JSONL file, flushed and synced per line."""

    def __init__(self, path: Path) -> None:
        self.writer = JsonlTranscriptWriter(path)

    def handle(self, event) -> None:
        if isinstance(event, ChunkDone):
            self.writer.write(event)

    def close(self) -> None:
        self.writer.close()
