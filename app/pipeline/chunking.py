"""LiveCC's chunking rule: the first turn sees 6 frames (3 s), every later turn 2 (1 s).

Qwen2-VL encodes video in temporal patches of two consecutive frames, so a chunk
must hold an even number of frames. When the stream ends on an odd frame, the
last frame is repeated, as the Qwen2-VL processor does to make the frame count
divisible by the temporal patch size; the chunk's span still ends half a second
after the last *real* frame. A stream shorter than the first chunk gives one
short first chunk (padded the same way).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from models.engine.records import Frame, VideoChunk

TEMPORAL_PATCH = 2


class LiveCCChunker:
    """Groups sampled frames into :class:`VideoChunk` turns.

    Feed frames with :meth:`push` (or all at once with :meth:`chunks`), then call
    :meth:`flush` at the end of the stream for the partial chunk, if any.

    Args:
        first_frames: frames in the first chunk (LiveCC: 6).
        frames_per_chunk: frames in every later chunk (LiveCC: 2).
        fps: sampling rate; a chunk ends ``1 / fps`` after its last frame.
    """

    def __init__(self, first_frames: int = 6, frames_per_chunk: int = 2, fps: float = 2.0) -> None:
        for name, n in (("first_frames", first_frames), ("frames_per_chunk", frames_per_chunk)):
            if n <= 0 or n % TEMPORAL_PATCH:
                raise ValueError(f"{name} must be a positive multiple of {TEMPORAL_PATCH}, got {n}")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.first_frames = first_frames
        self.frames_per_chunk = frames_per_chunk
        self.fps = fps
        self._index = 0
        self._pending: list[Frame] = []

    @property
    def next_index(self) -> int:
        """The index the next chunk will get."""
        return self._index

    def _wanted(self) -> int:
        return self.first_frames if self._index == 0 else self.frames_per_chunk

    def _emit(self, frames: list[Frame]) -> VideoChunk:
        t1 = frames[-1].t + 1.0 / self.fps
        while len(frames) % TEMPORAL_PATCH:
            frames.append(frames[-1])
        chunk = VideoChunk(self._index, tuple(frames), frames[0].t, t1)
        self._index += 1
        return chunk

    def push(self, frame: Frame) -> VideoChunk | None:
        """Add one frame; return the chunk it completes, else ``None``."""
        self._pending.append(frame)
        if len(self._pending) < self._wanted():
            return None
        frames, self._pending = self._pending, []
        return self._emit(frames)

    def flush(self) -> VideoChunk | None:
        """The partial chunk left at the end of the stream, padded to even; ``None`` if empty."""
        if not self._pending:
            return None
        frames, self._pending = self._pending, []
        return self._emit(frames)

    def chunks(self, frames: Iterable[Frame]) -> Iterator[VideoChunk]:
        """Every chunk of ``frames``, the partial last one included."""
        for frame in frames:
            chunk = self.push(frame)
            if chunk is not None:
                yield chunk
        tail = self.flush()
        if tail is not None:
            yield tail
