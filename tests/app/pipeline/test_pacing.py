"""The real-time drop policy and the lag it leaves, on a simulated clock (no wall time)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from app.pipeline.pacing import EveryChunk, LagMeter, NewestChunkWins
from models.engine.records import ChunkDone, ChunkStats, Frame, VideoChunk


def _chunk(i: int) -> VideoChunk:
    frame = Frame(float(i), np.zeros((28, 28, 3), np.uint8))
    return VideoChunk(i, (frame, frame), float(i), float(i + 1))


def test_newest_chunk_wins_keeps_one_waiting_and_counts_drops():
    pacer = NewestChunkWins()
    for i in range(5):
        pacer.offer(_chunk(i))
    assert pacer.take().index == 4
    assert pacer.take() is None
    assert (pacer.offered, pacer.dropped) == (5, 4)


def test_every_chunk_blocks_the_producer_and_drops_nothing():
    pacer = EveryChunk(depth=2)
    offered = []

    def produce():
        for i in range(6):
            pacer.offer(_chunk(i))
            offered.append(i)

    producer = threading.Thread(target=produce)
    producer.start()
    taken = []
    while len(taken) < 6:
        chunk = pacer.take()
        if chunk is not None:
            taken.append(chunk.index)
        else:
            threading.Event().wait(0.001)
    producer.join(10)
    assert taken == list(range(6)) and pacer.dropped == 0


def test_close_wakes_a_blocked_producer():
    pacer = EveryChunk(depth=1)
    pacer.offer(_chunk(0))
    producer = threading.Thread(target=pacer.offer, args=(_chunk(1),))
    producer.start()
    pacer.close()
    producer.join(10)
    assert not producer.is_alive() and pacer.pending == 0


@pytest.mark.parametrize("engine_s", [0.3, 1.5, 4.0])
def test_lag_stays_bounded_when_the_engine_is_slower_than_real_time(engine_s):
    """Simulate one hour: a chunk per stream second; the engine needs ``engine_s`` per chunk."""
    now = [0.0]
    pacer, meter = NewestChunkWins(), LagMeter(lambda: now[0])
    busy_until, in_flight, lags = 0.0, None, []
    for tick in range(1, 3600 * 10 + 1):
        now[0] = tick / 10
        if tick % 10 == 0 and now[0] >= 3.0:
            pacer.offer(_chunk(int(now[0]) - 1))
        if in_flight is not None and now[0] >= busy_until:
            done = ChunkDone(in_flight.index, in_flight.t0, in_flight.t1, "", ChunkStats(wall_s=engine_s))
            lags.append(meter.update(done, pacer.dropped).lag_s)
            in_flight = None
        if in_flight is None:
            in_flight = pacer.take()
            busy_until = now[0] + engine_s
    bound = 1.5 + 2 * engine_s + 0.2  # last frame to chunk end, waiting slot, one in flight; 0.1 s steps
    assert max(lags) <= bound
    assert max(lags[-100:]) <= bound  # no growth over the hour
    if engine_s > 1.0:
        assert pacer.dropped > 0
    else:
        assert pacer.dropped == 0
