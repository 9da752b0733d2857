"""The overlay (text, lines, fade, click-through, per-screen place) and settings in the GUI."""

from __future__ import annotations

import json

from PySide6.QtCore import QPoint
from PySide6.QtGui import QColor, QImage, QPainter

from app.settings import OverlaySettings, Settings, SettingsStore
from models.engine.records import ChunkDone, ChunkStarted, CommentaryDelta
from ui.live.overlay import OverlayWindow
from ui.settings_dialog import SettingsDialog


def _say(overlay, t0, text):
    overlay.handle_event(ChunkStarted(int(t0), t0, t0 + 1))
    for word in text.split():
        overlay.handle_event(CommentaryDelta(t0, t0 + 1, " " + word))
    overlay.handle_event(ChunkDone(int(t0), t0, t0 + 1, " " + text))


def _lit_pixels(widget) -> int:
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_ARGB32)
    white = 0
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            c = QColor(image.pixel(x, y))
            white += c.red() > 200 and c.green() > 200 and c.blue() > 200
    return white


def test_overlay_shows_words_as_they_come_and_keeps_the_last_lines(qtbot):
    overlay = OverlayWindow(OverlaySettings(lines=2, fade_after_s=0))
    qtbot.addWidget(overlay)
    overlay.resize(300, overlay.preferred_height())
    overlay.show()
    overlay.handle_event(ChunkStarted(0, 0.0, 3.0))
    overlay.handle_event(CommentaryDelta(0.0, 3.0, " What"))
    assert overlay.visible_lines() == ["What"]
    overlay.handle_event(CommentaryDelta(0.0, 3.0, " a goal"))
    assert overlay.text == "What a goal"
    overlay.handle_event(ChunkDone(0, 0.0, 3.0, " What a goal"))
    assert overlay.text == "What a goal"
    assert _lit_pixels(overlay) > 20  # white text is drawn
    for i in range(12):
        _say(overlay, 3.0 + i, f"the striker runs down the left wing again number {i}")
    lines = overlay.visible_lines()
    assert len(lines) == 2 and lines[-1].endswith("number 11")
    overlay.handle_event(ChunkDone(20, 20.0, 21.0, ""))  # silence adds nothing
    assert overlay.visible_lines()[-1].endswith("number 11")


def test_overlay_fades_out_after_the_set_time(qtbot):
    overlay = OverlayWindow(OverlaySettings(fade_after_s=0.05))
    qtbot.addWidget(overlay)
    overlay.show()
    _say(overlay, 0.0, "Into the net")
    assert overlay.alpha == 1.0
    qtbot.waitUntil(lambda: overlay.text == "", timeout=5000)
    _say(overlay, 1.0, "Back again")
    assert overlay.alpha == 1.0 and overlay.text == "Back again"


def test_overlay_click_through_and_geometry_per_screen(qtbot):
    overlay = OverlayWindow(OverlaySettings())
    qtbot.addWidget(overlay)
    overlay.show()
    with qtbot.waitSignal(overlay.clickThroughChanged) as changed:
        overlay.set_click_through(True)
    assert changed.args == [True] and overlay.click_through and overlay.isVisible()
    overlay.set_click_through(False)
    assert not overlay.click_through
    screen = overlay.screen()
    with qtbot.waitSignal(overlay.geometrySaved, timeout=3000) as saved:
        overlay.setGeometry(screen.geometry().x() + 40, screen.geometry().y() + 50, 420, 90)
    name, geometry = saved.args
    assert name == screen.name() and geometry == (40, 50, 420, 90)
    other = OverlayWindow(OverlaySettings())
    qtbot.addWidget(other)
    other.place_on(screen, {name: geometry})
    assert (other.x() - screen.geometry().x(), other.width()) == (40, 420)


def test_overlay_text_is_readable_over_white(qtbot):
    """Outline and box make white text visible over a white picture."""
    overlay = OverlayWindow(OverlaySettings(background_opacity=0.0, outline_width=3))
    qtbot.addWidget(overlay)
    overlay.resize(400, overlay.preferred_height())
    _say(overlay, 0.0, "Readable")
    canvas = QImage(overlay.size(), QImage.Format.Format_ARGB32)
    canvas.fill(QColor("white"))
    painter = QPainter(canvas)
    overlay.render(painter, QPoint(0, 0))
    painter.end()
    dark = sum(
        QColor(canvas.pixel(x, y)).lightness() < 60 for y in range(canvas.height()) for x in range(0, canvas.width(), 2)
    )
    assert dark > 30


def test_settings_dialog_round_trip_through_the_window(qtbot, make_main_window, tiny_settings, tmp_path):
    window = make_main_window(tiny_settings)
    dialog = SettingsDialog(window.settings, [("en", "English")], window)
    qtbot.addWidget(dialog)
    dialog.editors[("overlay", "font_size")].setValue(40)
    dialog.editors[("overlay", "lines")].setValue(3)
    dialog.editors[("overlay", "text_color")].set_color("#FFCC00")
    dialog.editors[("voice", "rate")].setValue(150)
    dialog.editors[("voice", "voice_id")].setCurrentIndex(1)
    dialog.editors[("model", "n_ctx")].setValue(2048)
    policy, vision = dialog.editors[("context", "policy")], dialog.editors[("context", "vision_window_s")]
    assert policy.currentData() == "streaming" and vision.text() == "Auto (half the context)"
    assert dialog.editors[("model", "n_gpu_layers")].text() == "Auto (as many as fit)"
    policy.setCurrentIndex(policy.findData("evict"))
    vision.setValue(15)
    window.apply_settings(dialog.result_settings())
    assert window.overlay.settings.font_size == 40 and window.overlay.settings.lines == 3
    reloaded = SettingsStore(tmp_path / "config").load()
    assert reloaded.warnings == ()
    s = reloaded.settings
    assert (s.overlay.font_size, s.overlay.text_color, s.voice.rate, s.voice.voice_id, s.model.n_ctx) == (
        40,
        "#FFCC00",
        150,
        "en",
        2048,
    )
    assert (s.context.policy, s.context.vision_window_s) == ("evict", 15)
    assert s == window.settings
    titles = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    for title, group in (("Overlay", "overlay"), ("Long streams", "context")):
        dialog.tabs.setCurrentIndex(titles.index(title))
        dialog.restore_defaults()
        assert getattr(dialog.result_settings(), group) == getattr(Settings(), group)


def test_a_damaged_settings_file_opens_with_defaults_and_a_warning(qtbot, make_main_window, tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.json").write_text('{"overlay": {"font_size": ', encoding="utf-8")
    window = make_main_window()
    assert window.settings == Settings()
    assert window.banner_box.isVisible() and "defaults are used" in window.banner.text()
    assert (config / "settings.json.bak").read_text(encoding="utf-8").startswith('{"overlay"')
    window.save_settings()
    assert json.loads((config / "settings.json").read_text(encoding="utf-8"))["overlay"]["font_size"] == 28


def test_no_speech_engine_turns_voice_off_with_one_message(qtbot, make_main_window, tiny_settings):
    from app.sinks.voice import Speaker

    def broken():
        raise OSError("no speech engine on this system")

    window = make_main_window(tiny_settings, speaker_factory=lambda *a, **k: Speaker(*a, engine_factory=broken, **k))
    with qtbot.waitSignal(window.speechProblem, timeout=10_000):
        window.voice_action.trigger()
    assert not window.voice_action.isChecked() and not window.settings.voice.enabled
    assert "Voice is off" in window.banner.text()
    window.speaker.say("ignored")
    assert window.speaker.spoken == []


def test_run_gui_opens_the_window_and_returns_when_it_closes(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ui.app import run_gui

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    seen = []

    def close_all():
        seen.extend(w.windowTitle() for w in QApplication.topLevelWidgets() if w.isVisible())
        QApplication.closeAllWindows()
        QApplication.quit()

    QTimer.singleShot(300, close_all)
    try:
        assert run_gui([]) == 0
    finally:
        # A finished exec() + quit() leaves Qt quitting: every later QEventLoop.exec() (so every
        # qtbot.waitSignal in later tests) would return at once. One more empty run clears it.
        QTimer.singleShot(0, lambda: QApplication.exit(0))
        QApplication.exec()
    # The overlay is on (the default) but waits for text: no empty box on first launch.
    assert "LiveCC Desk" in seen and "LiveCC Desk overlay" not in seen
    assert (tmp_path / "config" / "livecc-desk" / "settings.json").is_file()
