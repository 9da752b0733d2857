"""LiveCC chunking: 6 frames first, then 2, even counts, spans as the release writes them."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.chunking import LiveCCChunker
from models.engine.records import Frame


def _frames(n, t0=0.0):
    return [Frame(t0 + i * 0.5, np.full((28, 28, 3), i, np.uint8)) for i in range(n)]


def test_ten_second_clip_gives_livecc_spans():
    chunks = list(LiveCCChunker().chunks(_frames(20)))  # 0.0 .. 9.5 s at 2 fps
    assert [(c.t0, c.t1) for c in chunks] == [(0.0, 3.0)] + [(float(s), float(s + 1)) for s in range(3, 10)]
    assert [len(c.frames) for c in chunks] == [6] + [2] * 7
    assert [c.index for c in chunks] == list(range(8))
    assert [f.t for c in chunks for f in c.frames] == [i * 0.5 for i in range(20)]


def test_odd_tail_repeats_last_frame_and_ends_half_a_second_after_it():
    frames = _frames(21)  # ends with a lone frame at 10.0 s
    last = list(LiveCCChunker().chunks(frames))[-1]
    assert last.index == 8
    assert last.frames == (frames[-1], frames[-1])
    assert (last.t0, last.t1) == (10.0, 10.5)


@pytest.mark.parametrize(("n", "n_out", "t1"), [(1, 2, 0.5), (4, 4, 2.0), (5, 6, 2.5)])
def test_short_stream_gives_one_short_first_chunk(n, n_out, t1):
    frames = _frames(n)
    (chunk,) = LiveCCChunker().chunks(frames)
    assert len(chunk.frames) == n_out and chunk.frames[:n] == tuple(frames)
    assert (chunk.index, chunk.t0, chunk.t1) == (0, 0.0, t1)


def test_empty_stream_gives_no_chunk():
    assert list(LiveCCChunker().chunks([])) == []


def test_push_and_flush_stream_the_same_chunks():
    chunker = LiveCCChunker()
    done = []
    for frame in _frames(9, t0=40.0):
        chunk = chunker.push(frame)
        if chunk is not None:
            done.append(chunk)
        # a chunk is released the moment its last frame arrives
        assert chunker.next_index == (0 if frame.t < 42.5 else 1 + int((frame.t - 42.5) // 1.0))
    tail = chunker.flush()
    assert [(c.t0, c.t1) for c in done] == [(40.0, 43.0), (43.0, 44.0)]
    assert (tail.index, tail.t0, tail.t1, len(tail.frames)) == (2, 44.0, 44.5, 2)
    assert chunker.flush() is None


def test_other_rates_and_sizes():
    frames = [Frame(i * 0.25, np.zeros((28, 28, 3), np.uint8)) for i in range(8)]
    chunks = list(LiveCCChunker(first_frames=4, frames_per_chunk=4, fps=4.0).chunks(frames))
    assert [(c.t0, c.t1) for c in chunks] == [(0.0, 1.0), (1.0, 2.0)]


def test_rejects_odd_chunk_sizes():
    with pytest.raises(ValueError):
        LiveCCChunker(first_frames=5)
    with pytest.raises(ValueError):
        LiveCCChunker(frames_per_chunk=0)
