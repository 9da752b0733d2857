"""The overlay waits for text, keeps to a screen, avoids the app's window, and resets its place."""

from __future__ import annotations

from PySide6.QtCore import QRect

from app.settings import OverlaySettings
from models.engine.records import ChunkDone, ChunkStarted
from ui.live.overlay import OverlayWindow, first_place, keep_on


def _overlay(qtbot, **settings) -> OverlayWindow:
    overlay = OverlayWindow(OverlaySettings(**settings))
    qtbot.addWidget(overlay)
    return overlay


def test_switched_on_it_stays_hidden_until_there_is_text_and_hides_when_cleared(qtbot):
    overlay = _overlay(qtbot, fade_after_s=0)
    overlay.set_wanted(True)
    assert not overlay.isVisible()
    overlay.handle_event(ChunkStarted(0, 0.0, 3.0))
    overlay.handle_event(ChunkDone(0, 0.0, 3.0, ""))  # silence is not text
    assert not overlay.isVisible()
    overlay.show_text("Kick-off")
    assert overlay.isVisible()
    overlay.clear()
    assert not overlay.isVisible() and overlay.wanted
    overlay.set_wanted(False)
    overlay.show_text("not shown while off")
    assert not overlay.isVisible()


def test_it_hides_again_when_its_text_has_faded(qtbot):
    overlay = _overlay(qtbot, fade_after_s=0.05)
    overlay.set_wanted(True)
    overlay.show_text("Into the net")
    assert overlay.isVisible()
    qtbot.waitUntil(lambda: not overlay.isVisible(), timeout=5000)


def test_a_saved_place_off_every_screen_is_moved_back_and_clamped(qtbot):
    overlay = _overlay(qtbot)
    screen = overlay.screen()
    area = screen.availableGeometry()
    overlay.place_on(screen, {screen.name(): (area.width() + 3000, -900, area.width() * 2, 90)})
    g = overlay.geometry()
    assert area.contains(g), (g, area)
    assert g.width() == area.width() and g.height() == 90


def test_the_first_place_keeps_the_grip_on_screen_and_avoids_the_app_window():
    area = QRect(0, 0, 1280, 800)
    rect = first_place(area, 100)
    assert area.contains(rect) and rect.right() < area.right()  # room for the grip at the right
    app_window = QRect(50, 20, 1180, 600)
    clear = first_place(area, 100, avoid=app_window)
    assert area.contains(clear) and not clear.intersects(app_window)
    everything = QRect(0, 0, 1280, 800)  # nowhere is clear: still on the screen
    assert area.contains(first_place(area, 100, avoid=everything))
    assert keep_on(QRect(-500, 700, 300, 300), area, 160, 48) == QRect(0, 500, 300, 300)


def test_main_window_overlay_never_opens_over_it_and_reset_position_works(qtbot, make_main_window, tiny_settings):
    window = make_main_window(tiny_settings)
    window.resize(700, 400)
    window.move(100, 40)
    qtbot.waitUntil(lambda: window.frameGeometry().top() >= 0)
    window.set_overlay_visible(True)
    overlay = window.overlay
    assert not overlay.isVisible()  # no text yet
    overlay.show_text("Commentary")
    assert overlay.isVisible()
    assert not overlay.geometry().intersects(window.frameGeometry())
    overlay.move(overlay.x() + 1, window.y() + 10)  # dragged over the window
    reset = [
        a for a in window.menuBar().findChildren(type(window.overlay_action)) if a.text() == "Reset overlay position"
    ]
    assert reset
    reset[0].trigger()
    assert not overlay.geometry().intersects(window.frameGeometry())
    saved = window.settings.overlay.positions[overlay.screen().name()]
    assert saved[1] == overlay.y() - overlay.screen().geometry().y()
    menu = overlay.context_menu()
    texts = [a.text() for a in menu.actions()]
    assert "Reset position" in texts
    for action in menu.actions():
        if action.text() == "Hide overlay":
            action.trigger()
    assert not overlay.isVisible() and not window.overlay_action.isChecked()
