from __future__ import annotations

from app.timefmt import clock, duration


def test_a_stream_position_reads_to_a_tenth_of_a_second():
    assert clock(0) == "0:00.0" and clock(-3) == "0:00.0"
    assert clock(62.54) == "1:02.5" and clock(3725.0) == "1:02:05.0"


def test_a_duration_reads_in_whole_seconds():
    assert duration(None) == "--:--" and duration(7.9) == "0:07"
    assert duration(187) == "3:07" and duration(3725) == "1:02:05"
