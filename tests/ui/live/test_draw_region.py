""" "Draw region…" opens the region selector when its real button is clicked, and a drawn region is used."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QPushButton

from ui.live.region_selector import _ScreenCover


def _covers() -> list[_ScreenCover]:
    from PySide6.QtWidgets import QApplication

    return [w for w in QApplication.topLevelWidgets() if isinstance(w, _ScreenCover) and w.isVisible()]


def test_clicking_draw_region_opens_the_selector_and_sets_the_region(qtbot, make_main_window, tiny_settings):
    window = make_main_window(tiny_settings)
    window.source.set_kind("region")
    button = window.source.draw_region
    assert isinstance(button, QPushButton) and button.isVisible()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    covers = _covers()
    assert covers, "no region selector opened"
    cover = covers[0]
    qtbot.mousePress(cover, Qt.MouseButton.LeftButton, pos=QPoint(20, 30))
    qtbot.mouseMove(cover, QPoint(220, 180))
    qtbot.mouseRelease(cover, Qt.MouseButton.LeftButton, pos=QPoint(220, 180))
    qtbot.waitUntil(lambda: not _covers())
    region = window.source.region
    assert region is not None and region.width >= 150 and region.height >= 100
    assert window.source.build_source(2.0) is not None


def test_escape_closes_the_selector_without_a_region(qtbot, make_main_window, tiny_settings):
    window = make_main_window(tiny_settings)
    window.source.set_kind("region")
    qtbot.mouseClick(window.source.draw_region, Qt.MouseButton.LeftButton)
    cover = _covers()[0]
    qtbot.keyClick(cover, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not _covers())
    assert window.source.region is None


def test_an_exception_in_a_clicked_slot_is_caught_by_the_session_hook(qtbot, request):
    """The hook these GUI tests rely on: a slot that raises is recorded (and would fail the test)."""
    button = QPushButton("boom")
    qtbot.addWidget(button)

    def boom():
        raise RuntimeError("raised in a slot")

    button.clicked.connect(boom)
    capture = request.node.qt_exception_capture_manager
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert [str(e[1]) for e in capture.exceptions] == ["raised in a slot"]
    capture.exceptions.clear()  # expected here; anywhere else it fails the test
