"""Commentary on a video file: source → sampler → chunker → engine → sinks.

Shared by the CLI and (later) the GUI. The pipeline is a generator of engine
events; sinks (printer, transcript, subtitles) consume the events they care
about. Outputs are opened before the model loads, so a bad output path fails
in a second, not after minutes of work.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.chunking import LiveCCChunker
from app.errors import OutputError
from app.records import ChunkDone
from app.sampling import FrameSampler
from app.sources.file_source import FileSource
from app.subtitles import CueBuilder, write_srt, write_vtt
from app.transcript import JsonlTranscriptWriter


def stream_file(engine, source: FileSource, *, max_pixels: int) -> Iterator:
    """Engine events for every chunk of ``source``, in order, none dropped."""
    sampler = FrameSampler(max_pixels=max_pixels)
    chunker = LiveCCChunker()
    with source:
        for chunk in chunker.chunks(sampler.sample(source.frames())):
            yield from engine.feed(chunk)


@dataclass
class OutputFiles:
    """Where a run writes its transcript and subtitles (each optional)."""

    jsonl: Path | None = None
    srt: Path | None = None
    vtt: Path | None = None

    def check_writable(self) -> None:
        """Fail early, with the path in the message, if an output cannot be created."""
        for path in (self.jsonl, self.srt, self.vtt):
            if path is None:
                continue
            parent = path.parent if str(path.parent) else Path(".")
            if not parent.is_dir():
                raise OutputError(f"Cannot write {path}: the folder {parent} does not exist.")
            if path.is_dir():
                raise OutputError(f"Cannot write {path}: it is a folder.")
            try:
                with open(path, "a", encoding="utf-8"):
                    pass
            except OSError as exc:
                raise OutputError(f"Cannot write {path}: {exc.strerror or exc}.") from exc


class SubtitleSink:
    """Collects finished chunks and writes SRT/WebVTT (atomically) when asked."""

    def __init__(self, srt: Path | None, vtt: Path | None) -> None:
        self.srt, self.vtt = srt, vtt
        self.builder = CueBuilder()
        self.cues = []

    def handle(self, event) -> None:
        if isinstance(event, ChunkDone):
            self.cues.extend(self.builder.add(event))

    def write(self) -> None:
        cues = self.cues + list(self.builder.finish())
        self.cues = cues
        if self.srt:
            write_srt(cues, self.srt)
        if self.vtt:
            write_vtt(cues, self.vtt)


class TranscriptSink:
    """Appends each finished chunk to a JSONL file, flushed and synced per line."""

    def __init__(self, path: Path) -> None:
        self.writer = JsonlTranscriptWriter(path)

    def handle(self, event) -> None:
        if isinstance(event, ChunkDone):
            self.writer.write(event)

    def close(self) -> None:
        self.writer.close()
