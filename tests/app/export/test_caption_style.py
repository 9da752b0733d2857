"""CaptionStyle's display controls: place, lines, shown; the defaults draw as before."""

from __future__ import annotations

import numpy as np
import pytest

from app.export.captions import CaptionRenderer, CaptionStyle

W, H = 640, 360
LONG = "A long pass out to the wing, the full back overlaps and crosses low into the box for the striker to finish"


def test_by_default_commentary_is_at_the_bottom_and_notes_at_the_top():
    bottom, top = CaptionRenderer(W, H), CaptionRenderer(W, H, position="top")
    assert bottom.box("Pass")[3] == H - round(0.05 * H)
    assert top.box("Note")[1] == round(0.05 * H)


def test_top_swaps_the_commentary_and_the_notes():
    style = CaptionStyle(position="top")
    assert CaptionRenderer(W, H, style).box("Pass")[1] == round(0.05 * H)
    assert CaptionRenderer(W, H, style, position="top").box("Note")[3] == H - round(0.05 * H)


def test_max_lines_keeps_the_newest_commentary_and_the_first_of_a_note():
    full = CaptionRenderer(W, H)
    one = CaptionRenderer(W, H, CaptionStyle(max_lines=1))
    assert one.box(LONG)[3] - one.box(LONG)[1] < full.box(LONG)[3] - full.box(LONG)[1]
    lines = full._limit(["first", "second", "third"])
    assert lines == ["first", "second", "third"]
    assert one._limit(["first", "second", "third"]) == ["third"]
    note = CaptionRenderer(W, H, CaptionStyle(max_lines=2), position="top")
    assert note._limit(["Q: who?", "A: the winger,", "then the back"]) == ["Q: who?", "A: the winger…"]


def test_hidden_captions_draw_nothing():
    frame = np.full((H, W, 3), 90, np.uint8)
    for renderer in (
        CaptionRenderer(W, H, CaptionStyle(visible=False)),
        CaptionRenderer(W, H, CaptionStyle(notes_visible=False), position="top"),
    ):
        renderer.draw(frame, LONG)
        assert renderer.box(LONG) is None
    assert (frame == 90).all()
    CaptionRenderer(W, H, CaptionStyle(visible=False), position="top").draw(frame, "Note")  # notes still show
    assert not (frame == 90).all()


def test_a_bad_style_is_refused():
    with pytest.raises(ValueError):
        CaptionStyle(position="middle")
    with pytest.raises(ValueError):
        CaptionStyle(max_lines=-1)
