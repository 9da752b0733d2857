"""Our own windows are blanked in a grab, wherever they overlap it."""

from __future__ import annotations

import threading

import numpy as np

from app.sources.own_windows import OwnWindows, blank_rects
from app.sources.screen_source import Rect


def test_only_the_overlapping_parts_are_blanked():
    grab = np.full((100, 200, 3), 255, np.uint8)
    at = Rect(1000, 500, 200, 100)  # where the grab was taken, in desktop pixels
    blank_rects(
        grab,
        at,
        [
            Rect(1150, 450, 100, 80),  # sticks out at the top right
            Rect(0, 0, 50, 50),
        ],
    )  # elsewhere on the desktop
    assert (grab[:30, 150:] == 0).all()
    assert (grab[30:, :] == 255).all() and (grab[:, :150] == 255).all()


def test_the_holder_hands_the_latest_rectangles_to_any_thread():
    holder = OwnWindows()
    assert holder() == ()
    holder.publish([Rect(1, 2, 3, 4)])
    seen = []
    reader = threading.Thread(target=lambda: seen.append(holder()))
    reader.start()
    reader.join()
    assert seen == [(Rect(1, 2, 3, 4),)]
