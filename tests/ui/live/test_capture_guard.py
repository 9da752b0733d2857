"""The capture guard publishes where our visible windows are, in physical pixels."""

from __future__ import annotations

import sys

from app.sources.own_windows import OwnWindows
from app.sources.screen_source import Rect


def test_the_overlay_is_published_while_shown_and_follows_moves(qtbot, make_main_window, tiny_settings):
    if sys.platform in ("win32", "darwin"):  # excluded by the OS there: nothing to publish
        return
    window = make_main_window(tiny_settings)
    holder = window.own_windows
    assert isinstance(holder, OwnWindows)
    dpr = window.screen().devicePixelRatio()

    def main_rect() -> Rect:
        g = window.frameGeometry()
        return Rect(g.x(), g.y(), round(g.width() * dpr), round(g.height() * dpr))

    qtbot.waitUntil(lambda: holder() == (main_rect(),))  # the frame may be added after the show
    window.set_overlay_visible(True)
    overlay = window.overlay
    assert len(holder()) == 1  # switched on but without text: hidden, nothing to blank
    overlay.show_text("Goal!")
    overlay.setGeometry(30, 40, 300, 80)
    assert Rect(30, 40, round(300 * dpr), round(80 * dpr)) in holder()
    overlay.move(60, 90)
    assert Rect(60, 90, round(300 * dpr), round(80 * dpr)) in holder()
    overlay.clear()  # no text: hidden again
    assert len(holder()) == 1
