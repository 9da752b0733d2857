"""The CLI's three progress lines draw through one routine, and only on a terminal."""

from __future__ import annotations

import io

from app.cli.batch_progress import BatchProgress
from app.cli.console import ProgressBar
from app.cli.progress import ProgressLine, StatusLine, bar
from models.engine.records import ChunkStarted
from models.progress import Progress

ERASE = "\r\033[K"


def test_a_bar_has_the_width_asked_for():
    assert bar(0.5, 10) == "[#####-----]"
    assert bar(None, 4) == "[----]" and bar(1.7, 3) == "[###]" and bar(-1, 3) == "[---]"


def test_a_status_line_redraws_in_place_and_clears_once():
    out = io.StringIO()
    line = StatusLine(out, enabled=True)
    line.show("one")
    line.show("two")
    line.clear()
    line.clear()
    assert out.getvalue() == f"{ERASE}one{ERASE}two{ERASE}"


def test_nothing_is_drawn_off_a_terminal():
    out = io.StringIO()
    line = StatusLine(out)  # a StringIO is not a terminal
    line.show("x")
    line.clear()
    bar_ = ProgressBar(0.0, 10.0, err=out)
    bar_.update(ChunkStarted(0, 2.0, 3.0))
    batch = BatchProgress(2, err=out)
    batch.start_video(0, "a.mp4", 0.0, 10.0)
    batch.update(ChunkStarted(0, 2.0, 3.0))
    assert out.getvalue() == ""


def test_the_video_and_batch_bars_show_position_and_share():
    out = io.StringIO()
    ProgressBar(0.0, 10.0, err=out, enabled=True).update(ChunkStarted(0, 5.0, 6.0))
    assert out.getvalue().startswith(ERASE + "[") and " 50%  0:05.0/0:10.0  " in out.getvalue()
    out = io.StringIO()
    batch = BatchProgress(2, err=out, enabled=True)
    batch.start_video(1, "b.mp4", 0.0, 10.0)
    batch.update(ChunkStarted(0, 5.0, 6.0))
    assert " 75%  video 2/2  b.mp4  0:05.0/0:10.0" in out.getvalue()
    batch.clear()
    assert out.getvalue().endswith(ERASE)


def test_the_model_progress_line_shows_bytes_and_eta():
    out = io.StringIO()
    with ProgressLine(out, live=True) as line:
        line(Progress("download", "model.gguf", done=500, total=1000, rate=100.0, eta_s=5.0))
    text = out.getvalue()
    assert "Downloading model.gguf" in text and " 50% 500 B/1.0 KB 100 B/s ETA 0:05" in text
    assert text.endswith(ERASE)
