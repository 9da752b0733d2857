"""Immutable records for the data that flows from a source to the sinks.

Everything that crosses a module boundary is one of these, never a loose dict.
Times are stream seconds: the file position for files, the monotonic clock since
start for live sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded picture and the stream time it belongs to.

    ``rgb`` is an ``H x W x 3`` ``uint8`` array in RGB order.
    """

    t: float
    rgb: np.ndarray

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


@dataclass(frozen=True, eq=False)
class VideoChunk:
    """The frames the model sees in one turn, and the span it covers.

    ``t0`` is the first frame's time; ``t1`` is the last frame's time plus one
    frame interval (0.5 s at 2 fps), as the LiveCC release writes it.
    """

    index: int
    frames: tuple[Frame, ...]
    t0: float
    t1: float


@dataclass(frozen=True)
class ChunkStarted:
    """The engine began a chunk covering ``t0``..``t1``."""

    index: int
    t0: float
    t1: float


@dataclass(frozen=True)
class CommentaryDelta:
    """New commentary text, as decoded, for the chunk covering ``t0``..``t1``."""

    t0: float
    t1: float
    text: str


@dataclass(frozen=True)
class ChunkStats:
    """What one chunk cost. Seconds are wall-clock on this machine."""

    prompt_tokens: int = 0
    generated_tokens: int = 0
    evicted_tokens: int = 0
    kv_tokens: int = 0
    n_past: int = 0
    prefill_s: float = 0.0
    generate_s: float = 0.0
    wall_s: float = 0.0
    llama_s: float = 0.0


@dataclass(frozen=True)
class ChunkDone:
    """The chunk is finished. ``text`` is its whole commentary, ``""`` when silent."""

    index: int
    t0: float
    t1: float
    text: str
    stats: ChunkStats = field(default_factory=ChunkStats)

    @property
    def silent(self) -> bool:
        return not self.text.strip()


CommentaryEvent = ChunkStarted | CommentaryDelta | ChunkDone


@dataclass(frozen=True)
class AnswerDelta:
    """New text of an answer in conversation mode."""

    text: str


@dataclass(frozen=True)
class AnswerDone:
    """A finished answer to ``question``."""

    question: str
    text: str
    stats: ChunkStats = field(default_factory=ChunkStats)


AnswerEvent = AnswerDelta | AnswerDone
