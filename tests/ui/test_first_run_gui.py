"""A first run in the window, through real clicks: Try it now, banners that clear themselves, the Help menu."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog

from app.settings import Settings
from models.engine.records import ChunkDone

ENGINE_TIMEOUT_MS = 180_000  # the machine may be busy; never a measure of speed


@pytest.fixture(autouse=True)
def private_folders(monkeypatch, tmp_path):
    """The user's cache, data and models folders under tmp_path."""
    for var, name in (("XDG_CACHE_HOME", "cache"), ("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config-home")):
        monkeypatch.setenv(var, str(tmp_path / name))
    monkeypatch.setenv("LIVECC_DESK_MODELS", str(tmp_path / "models"))


@pytest.fixture
def opened(monkeypatch):
    """The URLs the app asked the system to open (QDesktopServices.openUrl), recorded instead."""
    urls = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: urls.append(url) or True)
    return urls


def empty_settings(tmp_path) -> Settings:
    s = Settings().replace("capture", transcript_dir=str(tmp_path / "transcripts"))
    s = s.replace("model", n_ctx=4096, n_threads=1)
    return s.replace("commentary", greedy=True)


def click(qtbot, widget):
    assert widget.isVisible() and widget.isEnabled(), widget.objectName()
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def test_try_it_now_commentates_a_sample_clip_with_the_tiny_model(qtbot, make_main_window, tmp_path):
    window = make_main_window(empty_settings(tmp_path))
    panel = window.model_panel
    assert panel.current() is None and panel.try_button.isVisible()  # the empty state offers it
    chunks = []
    window.bridge.engineEvent.connect(lambda e: isinstance(e, ChunkDone) and chunks.append(e))
    with qtbot.waitSignal(window.bridge.sessionFinished, timeout=ENGINE_TIMEOUT_MS) as finished:
        click(qtbot, panel.try_button)
    assert finished.args[0].reason == "finished", finished.args[0].message
    assert chunks and chunks[0].t0 == 0.0
    demo = tmp_path / "cache" / "livecc-desk" / "demo"
    assert Path(panel.current().text_path).parent == demo / "tiny-model"
    assert "noise" in panel.current().label
    assert "noise" in window.transcript.toPlainText()  # labelled where the words appear
    assert window.source.file_path.text() == str(demo / "demo-clip.mp4")
    assert not panel.try_button.isVisible()  # a model is chosen now
    again = make_main_window()  # the next start remembers it, still labelled as noise
    assert "noise" in again.model_panel.current().label


def test_choose_a_model_first_goes_away_once_a_model_is_chosen(
    qtbot, make_main_window, tmp_path, tiny_model, monkeypatch
):
    window = make_main_window(empty_settings(tmp_path))
    click(qtbot, window.start_button)
    assert window.banner_box.isVisible() and "Choose a model first" in window.banner.text()
    assert "Try it now" in window.banner.text()  # and says what to do next
    picks = iter([str(tiny_model.text_path), str(tiny_model.mmproj_path)])
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (next(picks), ""))
    click(qtbot, window.model_panel.open_files)
    assert window.model_panel.current() is not None
    assert not window.banner_box.isVisible()


def test_a_download_error_goes_when_another_model_is_picked_or_a_retry_succeeds(
    qtbot, make_main_window, tmp_path, tiny_model, monkeypatch
):
    import ui.live.model_panel as model_panel

    outcomes = iter([OSError("connection reset"), None])

    def fake_installer():
        def run(entry_id, progress, cancel, quant=None):
            outcome = next(outcomes)
            if outcome is not None:
                raise outcome

        return run

    monkeypatch.setattr(model_panel, "_installer", fake_installer)
    window = make_main_window(empty_settings(tmp_path))
    panel = window.model_panel
    with qtbot.waitSignal(panel.downloadEnded, timeout=30_000):
        click(qtbot, panel.get_button)
        click(qtbot, panel.confirm.ok_button)
    assert "failed" in panel.device.text() and "try again" in panel.device.text()
    picks = iter([str(tiny_model.text_path), str(tiny_model.mmproj_path)])
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (next(picks), ""))
    click(qtbot, panel.open_files)
    assert "failed" not in panel.device.text()

    outcomes = iter([OSError("connection reset"), None])
    with qtbot.waitSignal(panel.downloadEnded, timeout=30_000):
        click(qtbot, panel.get_button)
        click(qtbot, panel.confirm.ok_button)
    assert "failed" in panel.device.text()
    with qtbot.waitSignal(panel.downloadEnded, timeout=30_000):
        click(qtbot, panel.get_button)  # the retry succeeds
        click(qtbot, panel.confirm.ok_button)
    assert "failed" not in panel.device.text() and "installed" in panel.device.text()


def test_download_asks_first_then_pauses_resumes_and_cancels(qtbot, make_main_window, tmp_path, monkeypatch):
    import ui.live.model_panel as model_panel
    from models.store import ModelStore

    calls = []

    def fake_installer():
        def run(entry_id, progress, cancel, quant=None):  # stands in for the hub: runs until stopped
            calls.append((entry_id, quant))
            cancel.wait(60)
            raise InterruptedError("stopped")

        return run

    monkeypatch.setattr(model_panel, "_installer", fake_installer)
    window = make_main_window(empty_settings(tmp_path))
    panel = window.model_panel
    panel.catalog.setCurrentIndex(panel.catalog.findData("livecc-7b-instruct"))

    click(qtbot, panel.get_button)
    dialog = panel.confirm
    assert dialog.isVisible()
    assert dialog.size.text() == "16.6 GB"
    assert dialog.destination.text() == str(tmp_path / "models" / "livecc-7b-instruct")
    assert dialog.free.text().endswith("GB") or "not enough" in dialog.free.text()
    assert "Mbit/s" in dialog.time.text() and "converting" in dialog.time.text()
    q4_disk = dialog.disk.text()
    dialog.quants.setCurrentIndex(dialog.quants.findData("Q8_0"))
    assert dialog.disk.text() != q4_disk  # the numbers follow the quantization
    click(qtbot, dialog.buttons.button(dialog.buttons.StandardButton.Cancel))
    assert calls == []  # nothing moves without a yes

    click(qtbot, panel.get_button)
    panel.confirm.quants.setCurrentIndex(panel.confirm.quants.findData("Q8_0"))
    if not panel.confirm.ok_button.isEnabled():
        pytest.skip("this disk has too little free space for the real model's plan")
    click(qtbot, panel.confirm.ok_button)
    qtbot.waitUntil(lambda: len(calls) == 1)
    assert calls == [("livecc-7b-instruct", "Q8_0")]
    with qtbot.waitSignal(panel.downloadEnded, timeout=30_000):
        click(qtbot, panel.pause_button)
    assert "paused" in panel.device.text() and panel.resume_button.isVisible()
    assert not panel.get_button.isEnabled()

    click(qtbot, panel.resume_button)
    qtbot.waitUntil(lambda: len(calls) == 2)
    assert calls[-1] == ("livecc-7b-instruct", "Q8_0")  # resumed as chosen, without asking again
    part = ModelStore().source_folder("chenjoya/LiveCC-7B-Instruct") / "model-00001-of-00004.safetensors.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 1000)
    with qtbot.waitSignal(panel.downloadEnded, timeout=30_000):
        click(qtbot, panel.cancel_button)
    assert "cancelled" in panel.device.text() and not part.exists()
    assert panel.get_button.isEnabled() and not panel.progress.isVisible()


def test_help_menu_shortcuts_guide_folders_log_and_about(qtbot, make_main_window, tmp_path, opened):
    window = make_main_window(empty_settings(tmp_path))
    help_menu = window.help
    titles = [a.text() for a in help_menu.menu.actions() if not a.isSeparator()]
    assert titles == ["Keyboard shortcuts", "User guide", "Open data folder", "Open log", "About LiveCC Desk"]

    help_menu.shortcuts_action.trigger()
    table = help_menu.dialogs["shortcuts"].findChild(object, "shortcutsTable").text()
    for keys in ("F5", "F8", "Ctrl+Shift+L", "Ctrl+Shift+V", "Space", "Left / Right", "<b>M</b>"):
        assert keys in table, keys
    assert "F5" in window.start_action.toolTip()  # in tooltips too

    help_menu.guide_action.trigger()
    guide = help_menu.dialogs["guide"].findChild(object, "guideText").toPlainText()
    assert "Try it now" in guide and "Keyboard shortcuts" in guide

    help_menu.data_action.trigger()
    assert opened[-1].toLocalFile() == str(tmp_path / "data" / "livecc-desk")

    help_menu.log_action.trigger()
    log_file = Path(opened[-1].toLocalFile())
    assert log_file == tmp_path / "data" / "livecc-desk" / "logs" / "livecc-desk.log" and log_file.is_file()
    click(qtbot, window.start_button)  # a banner is logged, for bug reports
    for handler in __import__("logging").getLogger().handlers:
        handler.flush()
    assert "Choose a model first" in log_file.read_text(encoding="utf-8")

    help_menu.about_action.trigger()
    about = help_menu.dialogs["about"].findChild(object, "aboutText").text()
    from PySide6.QtCore import qVersion

    assert "llama-cpp-python" in about and qVersion() in about and "no model loaded yet" in about


@pytest.fixture(autouse=True)
def no_log_file_left(request):
    """The log handler Open log adds points into tmp_path: take it off after the test."""
    import logging
    import logging.handlers

    before = set(logging.getLogger().handlers)
    yield
    for handler in set(logging.getLogger().handlers) - before:
        if isinstance(handler, logging.handlers.RotatingFileHandler):
            logging.getLogger().removeHandler(handler)
            handler.close()


def test_the_user_guide_is_bundled():
    spec = (Path(__file__).resolve().parents[2] / "pyinstaller.spec").read_text(encoding="utf-8")
    assert '"docs" / "user-guide.md"' in spec
