"""Subtitles from commentary: readable cues, SRT and WebVTT files.

The model speaks in one-second chunks, each a few words or silence. Showing one
cue per chunk flickers, so consecutive spoken chunks are joined and re-cut into
cues that read well: at most two lines of 42 characters and 7 seconds, ending
at a sentence end when the cue has been up for at least a second, and always
at a silence or a gap in time. Cue times come from the chunks' spans; when a
cue ends inside a chunk, the chunk's span is shared among its words by length.
Cues never overlap; one too short to read is held up to a second, but never
into the next cue.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.atomic_files import write_atomic
from models.engine.records import ChunkDone

LINE_CHARS = 42
MAX_LINES = 2
MAX_CUE_S = 7.0
MIN_CUE_S = 1.0
_GAP_S = 0.05  # chunks further apart than this are not contiguous speech
_SENTENCE_END = re.compile(r"[.!?\u2026][\"')\]\u201d\u2019]*$")


@dataclass(frozen=True)
class Cue:
    """One subtitle: ``text`` (lines separated by ``\\n``) shown from ``start`` to ``end`` seconds."""

    start: float
    end: float
    text: str

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"cue must have 0 <= start < end, got {self.start}..{self.end}")


def wrap(text: str, width: int = LINE_CHARS, max_lines: int = MAX_LINES) -> list[str] | None:
    """``text`` as at most ``max_lines`` balanced lines of at most ``width`` characters.

    ``None`` when it does not fit. A single word longer than ``width`` is one line.
    """
    words = text.split()
    if not words:
        return None
    if len(words) == 1 or len(text) <= width:
        return [" ".join(words)]
    # Greedy filling uses the fewest lines, so it decides whether the text fits.
    lines, current = [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    lines.append(current)
    if len(lines) > max_lines or any(len(line) > width for line in lines):
        return None
    if len(lines) == 2:
        # Re-split two lines where they are most even; ties keep the bottom line longer.
        splits = []
        for i in range(1, len(words)):
            top, bottom = " ".join(words[:i]), " ".join(words[i:])
            if len(top) <= width and len(bottom) <= width:
                splits.append((max(len(top), len(bottom)), len(top) > len(bottom), top, bottom))
        _, _, top, bottom = min(splits)
        lines = [top, bottom]
    return lines


@dataclass(frozen=True)
class _Word:
    text: str
    start: float
    end: float


def _words(done: ChunkDone) -> list[_Word]:
    """The chunk's words, its span shared among them in proportion to their length."""
    words = done.text.split()
    total = sum(len(w) + 1 for w in words)
    out, before = [], 0
    for w in words:
        start = done.t0 + (done.t1 - done.t0) * before / total
        before += len(w) + 1
        out.append(_Word(w, start, done.t0 + (done.t1 - done.t0) * before / total))
    return out


class CueBuilder:
    """Turns a stream of :class:`ChunkDone` into cues as soon as each one is complete.

    Args:
        line_chars: characters per line.
        max_lines: lines per cue.
        max_duration: longest cue, seconds.
        min_duration: a cue shorter than this is held longer if nothing follows at once.
    """

    def __init__(
        self,
        line_chars: int = LINE_CHARS,
        max_lines: int = MAX_LINES,
        max_duration: float = MAX_CUE_S,
        min_duration: float = MIN_CUE_S,
    ) -> None:
        self.line_chars, self.max_lines = line_chars, max_lines
        self.max_duration, self.min_duration = max_duration, min_duration
        self._words: list[_Word] = []
        self._last_t1: float | None = None  # end of the previous chunk
        self._last_end = 0.0  # end of the previous cue

    def _fits(self, words: list[_Word]) -> bool:
        text = " ".join(w.text for w in words)
        return (
            wrap(text, self.line_chars, self.max_lines) is not None
            and words[-1].end - words[0].start <= self.max_duration
        )

    def _close(self, limit: float) -> Iterator[Cue]:
        """Emit the words held as one cue; ``limit`` is the earliest the next cue may start."""
        if not self._words:
            return
        words, self._words = self._words, []
        start = max(words[0].start, self._last_end)
        end = max(words[-1].end, min(start + self.min_duration, limit))
        if end <= start:
            end = start + 0.001
        lines = wrap(" ".join(w.text for w in words), self.line_chars, self.max_lines)
        # A single over-long word is the only thing that can fail to wrap.
        text = "\n".join(lines) if lines else " ".join(w.text for w in words)
        self._last_end = end
        yield Cue(start, end, text)

    def add(self, done: ChunkDone) -> Iterator[Cue]:
        """Take one finished chunk; yield the cues it completes."""
        if self._last_t1 is not None and done.t0 > self._last_t1 + _GAP_S:
            yield from self._close(limit=done.t0)
        self._last_t1 = done.t1
        if done.silent:
            yield from self._close(limit=done.t1)
            return
        for word in _words(done):
            if self._words and not self._fits(self._words + [word]):
                yield from self._close(limit=word.start)
            self._words.append(word)
            held = self._words[-1].end - self._words[0].start
            if _SENTENCE_END.search(word.text) and held >= self.min_duration:
                yield from self._close(limit=word.end)

    def finish(self) -> Iterator[Cue]:
        """Yield the last cue, if words are still held."""
        yield from self._close(limit=float("inf"))


def build_cues(events: Iterable[ChunkDone], **options: Any) -> list[Cue]:
    """All cues of a finished run; ``options`` as for :class:`CueBuilder`."""
    builder = CueBuilder(**options)
    cues = [cue for done in events for cue in builder.add(done)]
    return cues + list(builder.finish())


# -- files -----------------------------------------------------------------------


def _clock(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _times(cue: Cue, sep: str) -> str:
    start, end = _clock(cue.start, sep), _clock(cue.end, sep)
    if end == start:  # both round to one millisecond
        end = _clock(cue.start + 0.001, sep)
    return f"{start} --> {end}"


def _srt_text(text: str) -> str:
    # "-->" would read as a timing line and a blank line would end the cue.
    return "\n".join(line.replace("-->", "->") for line in text.splitlines() if line.strip())


def _vtt_text(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "\n".join(line for line in text.splitlines() if line.strip())


def format_srt(cues: Iterable[Cue]) -> str:
    blocks = [f"{i}\n{_times(c, ',')}\n{_srt_text(c.text)}\n" for i, c in enumerate(cues, 1)]
    return "\n".join(blocks)


def format_vtt(cues: Iterable[Cue]) -> str:
    blocks = [f"{_times(c, '.')}\n{_vtt_text(c.text)}\n" for c in cues]
    return "\n".join(["WEBVTT\n", *blocks])


def write_srt(cues: Iterable[Cue], path: str | Path) -> None:
    """Write ``cues`` as SubRip (UTF-8), atomically."""
    write_atomic(Path(path), format_srt(cues))


def write_vtt(cues: Iterable[Cue], path: str | Path) -> None:
    """Write ``cues`` as WebVTT (UTF-8), atomically."""
    write_atomic(Path(path), format_vtt(cues))


# -- parsing (strict; for tests and for reading our own files back) -------------

_SRT_TIME = re.compile(r"^(\d{2,}):([0-5]\d):([0-5]\d),(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d),(\d{3})$")
_VTT_TIME = re.compile(
    r"^(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3}) --> (?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})(?:[ \t].*)?$"
)


def _seconds(h: str | None, m: str, s: str, ms: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def _blocks(text: str) -> list[list[str]]:
    text = text.replace("\r\n", "\n")
    return [b.split("\n") for b in re.split(r"\n{2,}", text.strip("\n")) if b.strip()]


def parse_srt(text: str) -> list[Cue]:
    """Cues of an SRT document; ``ValueError`` on any deviation from the format."""
    cues = []
    for n, block in enumerate(_blocks(text), 1):
        if block[0] != str(n):
            raise ValueError(f"SRT cue {n}: expected index {n}, got {block[0]!r}")
        if len(block) < 3:
            raise ValueError(f"SRT cue {n}: needs an index, a timing line and text")
        match = _SRT_TIME.match(block[1])
        if not match:
            raise ValueError(f"SRT cue {n}: bad timing line {block[1]!r}")
        g = match.groups()
        cues.append(Cue(_seconds(*g[:4]), _seconds(*g[4:]), "\n".join(block[2:])))
    return cues


def parse_vtt(text: str) -> list[Cue]:
    """Cues of a WebVTT document; ``ValueError`` on any deviation from the format."""
    blocks = _blocks(text.lstrip("\ufeff"))
    if not blocks or not re.match(r"^WEBVTT(?:[ \t].*)?$", blocks[0][0]):
        raise ValueError("WebVTT must start with a 'WEBVTT' line")
    cues = []
    for n, block in enumerate(blocks[1:], 1):
        if block[0].startswith("NOTE") or block[0] in ("STYLE", "REGION"):
            continue
        if "-->" not in block[0]:
            block = block[1:]  # a cue identifier
        timing = _VTT_TIME.match(block[0]) if block else None
        if timing is None or len(block) < 2:
            raise ValueError(f"WebVTT cue {n}: needs a timing line and text")
        g = timing.groups()
        body = "\n".join(block[1:]).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        cues.append(Cue(_seconds(*g[:4]), _seconds(*g[4:]), body))
    return cues
