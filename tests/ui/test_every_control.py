"""Every toolbar button, menu action and dialog button, clicked through the real widgets.

Calling a slot directly misses wiring bugs ("Draw region…" shipped dead because
``clicked`` passes ``checked`` to a signal that takes no argument), so these
tests only click: ``QAction.trigger()`` for actions in menus and toolbars,
``qtbot.mouseClick`` for buttons. An exception raised in any slot fails the test
(pytest-qt's capture, checked by ``slot_exceptions_fail`` in ``conftest.py``).
Modal dialogs answer at once: file dialogs and message boxes are replaced by
stand-ins, and ``QDialog.exec()`` is driven by a timer that clicks its buttons.
Actions are collected from the menus and toolbars, so a new one is clicked too.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QColorDialog,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QInputDialog,
    QMenu,
    QMessageBox,
    QToolBar,
    QWidget,
)

from app.engine.host import EngineState
from ui.review.layout import EXPORTS

ENGINE_TIMEOUT_MS = 180_000


class Dialogs:
    """Stand-ins for Qt's static dialogs; ``open_file`` / ``save_file`` say what they answer."""

    def __init__(self, monkeypatch) -> None:
        self.open_file: Callable[[str], str] = lambda _title: ""
        self.save_file: Callable[[str], str] = lambda _title: ""
        self.asked: list[str] = []
        monkeypatch.setattr(
            QFileDialog, "getOpenFileName", lambda *a, **k: (self._log(a[1]) or self.open_file(a[1]), "")
        )
        monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: (self._log(a[1]) or [], ""))
        monkeypatch.setattr(
            QFileDialog, "getSaveFileName", lambda *a, **k: (self._log(a[1]) or self.save_file(a[1]), "")
        )
        monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: self._log(a[1]) or "")
        for name in ("information", "warning", "critical"):
            monkeypatch.setattr(QMessageBox, name, lambda *a, **k: self._log(a[1]) or QMessageBox.StandardButton.Ok)
        monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: self._log(a[1]) or QMessageBox.StandardButton.Yes)
        monkeypatch.setattr(QInputDialog, "getMultiLineText", lambda *a, **k: (self._log(a[1]) or "edited", True))
        monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: (self._log(a[1]) or "edited", True))
        monkeypatch.setattr(QColorDialog, "getColor", lambda *a, **k: self._log("colour") or QColor("#FFCC00"))

    def _log(self, title) -> None:
        self.asked.append(str(title))


@pytest.fixture
def dialogs(monkeypatch) -> Dialogs:
    return Dialogs(monkeypatch)


def click(qtbot, button: QAbstractButton) -> None:
    assert button.isVisible() and button.isEnabled(), f"{button.text()!r} cannot be clicked"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def when_modal(act: Callable[[QDialog], None]) -> list[str]:
    """Run ``act`` on the next modal dialog as soon as it is shown; returns a list that gets its title."""
    seen: list[str] = []

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, QDialog) and dialog.isVisible():
            seen.append(dialog.windowTitle())
            act(dialog)
        else:
            QTimer.singleShot(20, poll)

    QTimer.singleShot(0, poll)
    return seen


def actions_of(window) -> list[QAction]:
    """Every action in the window's menus (submenus too) and toolbars, once each, in order."""
    found: list[QAction] = []

    def add(action: QAction) -> None:
        if action.menu() is not None:
            for sub in action.menu().actions():
                add(sub)
        elif not action.isSeparator() and action not in found:
            found.append(action)

    for action in window.menuBar().actions():
        add(action)
    for bar in window.findChildren(QToolBar):
        for action in bar.actions():
            add(action)
    return found


def dialog_buttons(dialog: QWidget) -> list[QAbstractButton]:
    """The dialog's buttons other than those that close it (the button box's accept/reject)."""
    closing = set()
    for box in dialog.findChildren(QDialogButtonBox):
        for button in box.buttons():
            if box.buttonRole(button) in (
                QDialogButtonBox.ButtonRole.AcceptRole,
                QDialogButtonBox.ButtonRole.RejectRole,
            ):
                closing.add(button)
    return [
        b for b in dialog.findChildren(QAbstractButton) if b not in closing and not type(b).__name__.startswith("QTab")
    ]


def click_every_button_on_every_tab(qtbot, dialog: QDialog) -> list[str]:
    from PySide6.QtWidgets import QTabWidget

    clicked = []
    tabs = dialog.findChild(QTabWidget)
    for index in range(tabs.count() if tabs else 1):
        if tabs:
            tabs.setCurrentIndex(index)
        for button in dialog_buttons(dialog):
            if button.isVisible() and button.isEnabled():
                qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
                clicked.append(button.text() or button.objectName())
    return clicked


def ok_button(dialog: QDialog, which=QDialogButtonBox.StandardButton.Ok) -> QAbstractButton:
    return dialog.findChild(QDialogButtonBox).button(which)


def test_every_main_window_action_and_live_button_can_be_clicked(
    qtbot, make_main_window, tiny_settings, clips, dialogs, tmp_path
):
    window = make_main_window(tiny_settings)
    actions = actions_of(window)
    texts = [a.text() for a in actions]
    for expected in (
        "Start",
        "Overlay",
        "Click-through",
        "Voice",
        "Settings…",
        "Clear transcript",
        "Export SRT…",
        "Open video…",
        "Review a video…",
        "Open transcripts folder",
        "Restart engine",
        "Reset overlay position",
        "Quit",
    ):
        assert expected in texts, f"{expected} is not in a menu or toolbar: {texts}"

    # The Live tab's buttons first, page by page (they need a window that is not yet closed).
    picker = window.source
    for kind in ("screen", "region", "window", "camera", "file"):
        picker.set_kind(kind)
        for button in picker.pages.currentWidget().findChildren(QAbstractButton):
            if button is picker.draw_region:
                click(qtbot, button)  # opens the region selector: Esc closes it
                from ui.live.region_selector import _ScreenCover

                covers = [w for w in QApplication.topLevelWidgets() if isinstance(w, _ScreenCover) and w.isVisible()]
                assert covers
                qtbot.keyClick(covers[0], Qt.Key.Key_Escape)
            elif button.isEnabled():
                click(qtbot, button)
    qtbot.waitUntil(lambda: picker.refresh_cameras.isEnabled(), timeout=60_000)  # the camera probe came back
    dialogs.open_file = lambda title: str(clips["short"])
    click(qtbot, picker.browse)
    assert picker.file_path.text() == str(clips["short"])

    panel = window.model_panel
    dialogs.open_file = lambda title: ""  # Open GGUF… cancelled
    click(qtbot, panel.open_files)
    with qtbot.waitSignal(window.bridge.loaded, timeout=ENGINE_TIMEOUT_MS):
        click(qtbot, panel.load_button)
    window.question.setText("what is happening?")
    click(qtbot, window.ask_button)
    window.show_banner("a test banner", "warn", restart=True)
    with qtbot.waitSignal(window.bridge.loaded, timeout=ENGINE_TIMEOUT_MS):
        click(qtbot, window.banner_restart)
    window.show_banner("a test banner", "warn")
    click(qtbot, window.banner_close)
    assert not window.banner_box.isVisible()

    # Then every action in the menus and toolbars.
    quit_action = next(a for a in actions if a.text() == "Quit")
    for action in actions:
        if action is quit_action:
            continue
        text = action.text()
        if text == "Settings…":
            clicked: list[str] = []

            def every_button_then_ok(d: QDialog, clicked=clicked) -> None:
                clicked.extend(click_every_button_on_every_tab(qtbot, d))
                qtbot.mouseClick(ok_button(d), Qt.MouseButton.LeftButton)

            seen = when_modal(every_button_then_ok)
            action.trigger()
            assert seen == ["LiveCC Desk settings"]
            assert "Restore Defaults" in clicked and "Copy" in clicked and "#FFCC00" in clicked
            seen = when_modal(
                lambda d: qtbot.mouseClick(
                    ok_button(d, QDialogButtonBox.StandardButton.Cancel), Qt.MouseButton.LeftButton
                )
            )
            action.trigger()
            assert seen == ["LiveCC Desk settings"]
        elif text == "Start":
            window.source.set_kind("file")
            window.source.file_path.setText(str(clips["short"]))
            qtbot.waitUntil(
                lambda a=action: window.bridge.state is EngineState.READY and a.isEnabled(), timeout=ENGINE_TIMEOUT_MS
            )
            with qtbot.waitSignal(window.bridge.sessionFinished, timeout=ENGINE_TIMEOUT_MS):
                action.trigger()
                assert window.running
                action.trigger()  # the same action stops
        elif text == "Restart engine":
            with qtbot.waitSignal(window.bridge.loaded, timeout=ENGINE_TIMEOUT_MS):
                action.trigger()
        elif text.startswith("Export"):
            fmt = action.objectName().removeprefix("export_")
            dialogs.save_file = lambda title, f=fmt: str(tmp_path / f"out.{f}")
            action.trigger()
            dialogs.save_file = lambda title: ""
            action.trigger()  # and cancelled
        elif text == "Review a video…":
            dialogs.open_file = lambda title: str(clips["short"])
            action.trigger()
            assert window.tabs.currentWidget() is window.review_holder
            window.review.close_video()
            window.tabs.setCurrentIndex(0)
            dialogs.open_file = lambda title: ""
        elif action.isCheckable():
            before = action.isChecked()
            action.trigger()
            assert action.isChecked() != before
            action.trigger()
            assert action.isChecked() == before
        else:
            action.trigger()
    # The overlay's right-click menu.
    window.set_overlay_visible(True)
    window.overlay.show_text("Menu test")
    for text in (
        "Click-through (the game gets the mouse)",
        "Click-through (the game gets the mouse)",
        "Reset position",
        "Clear text",
        "Hide overlay",
    ):
        window.overlay.show_text("Menu test")
        menu = window.overlay.context_menu()
        next(a for a in menu.actions() if a.text() == text).trigger()
    assert not window.overlay_action.isChecked() and not window.overlay.click_through
    assert not window.settings.overlay.click_through

    assert window.isVisible()
    quit_action.trigger()
    qtbot.waitUntil(lambda: not window.isVisible())


def test_every_review_tab_button_and_export_can_be_clicked(qtbot, make_main_window, clips, dialogs, tmp_path):
    window = make_main_window()  # no model: the review works without one
    window.tabs.setCurrentWidget(window.review_holder)
    view = window.review
    dialogs.open_file = lambda title: ""
    click(qtbot, view.open_button)  # cancelled
    dialogs.open_file = lambda title: str(clips["short"])
    click(qtbot, view.open_button)
    assert view.reader is not None
    click(qtbot, view.commentary_button)  # no model: says so
    for button in (view.play_button, view.play_button, view.forward_button, view.back_button, view.mark_button):
        click(qtbot, button)
    marks = view.timeline.row_ids()
    assert len(marks) == 1
    row = view.timeline.visualItemRect(view.timeline.topLevelItem(0)).center()
    qtbot.mouseClick(view.timeline.viewport(), Qt.MouseButton.LeftButton, pos=row)  # seeks there

    def edit_note_then_ok(dialog: QDialog) -> None:
        dialog.text.setText("edited")
        qtbot.mouseClick(ok_button(dialog), Qt.MouseButton.LeftButton)

    titles = when_modal(edit_note_then_ok)
    qtbot.mouseDClick(view.timeline.viewport(), Qt.MouseButton.LeftButton, pos=row)  # the mark's dialog
    assert titles and titles[0].startswith("Mark at") and view.session.get(marks[0]).text == "edited"
    view.timeline.setCurrentItem(view.timeline.topLevelItem(0))
    click(qtbot, view.delete_button)
    assert view.timeline.row_ids() == []
    view.question.setText("who has the ball?")
    click(qtbot, view.ask_button)
    menu = view.export_button.menu()
    assert isinstance(menu, QMenu)
    for action in menu.actions():
        dialogs.save_file = lambda title: ""  # MP4 and the rest: cancelling the file dialog
        action.trigger()
    for fmt in ("srt", "vtt", "jsonl"):
        dialogs.save_file = lambda title, f=fmt: str(tmp_path / f"review.{f}")
        next(a for a in menu.actions() if a.text() == EXPORTS[fmt]).trigger()
        assert (tmp_path / f"review.{fmt}").is_file()


def test_an_mp4_export_can_be_cancelled_from_its_progress_dialog(qtbot, make_main_window, clips, dialogs, tmp_path):
    from PySide6.QtWidgets import QProgressDialog

    window = make_main_window()
    window.tabs.setCurrentWidget(window.review_holder)
    view = window.review
    dialogs.open_file = lambda title: str(clips["long"])
    click(qtbot, view.open_button)
    dialogs.save_file = lambda title: str(tmp_path / "review.mp4")
    menu = view.export_button.menu()
    next(a for a in menu.actions() if a.text() == EXPORTS["mp4"]).trigger()
    assert len(view.jobs) == 1
    progress = next(d for d in view.findChildren(QProgressDialog) if d.isVisible())
    qtbot.mouseClick(progress.findChild(QAbstractButton), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.jobs, timeout=60_000)
    # Cancelled, unless the machine was quick enough to finish first.
    assert "cancelled" in view.status.text() or "Saved" in view.status.text()


def test_model_panel_restart_download_and_cancel_buttons(
    qtbot, make_main_window, tiny_settings, tiny_model, tmp_path, monkeypatch
):
    """The panel's buttons that only show in some states: Restart engine (after a failed load),
    Download and Cancel (a download from a slow local stand-in for the hub)."""
    import json

    from tests.hub_server import HubServer

    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("LIVECC_DESK_MODELS", str(models))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for var in ("HF_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    (models / "catalog.json").write_text(
        json.dumps(
            {
                "models": [
                    {
                        "id": "tiny-hub",
                        "repo": "me/tiny",
                        "model": {"file": "tiny.gguf"},
                        "mmproj": {"file": "mmproj.gguf"},
                    }
                ]
            }
        )
    )
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf at all")
    window = make_main_window(tiny_settings.replace("model", model_path=str(bad)))
    panel = window.model_panel
    with qtbot.waitSignal(window.bridge.engineError, timeout=ENGINE_TIMEOUT_MS):
        click(qtbot, panel.load_button)
    qtbot.waitUntil(lambda: panel.restart_button.isVisible())
    with qtbot.waitSignal(window.bridge.engineError, timeout=ENGINE_TIMEOUT_MS):  # the same bad file again
        click(qtbot, panel.restart_button)

    files = {"tiny.gguf": tiny_model.text_path.read_bytes(), "mmproj.gguf": tiny_model.mmproj_path.read_bytes()}
    with HubServer({"me/tiny": files}, delay_s=0.05) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        panel.refresh()
        panel.catalog.setCurrentIndex(panel.catalog.findData("tiny-hub"))
        with qtbot.waitSignal(panel.downloadEnded, timeout=60_000) as ended:
            click(qtbot, panel.get_button)
            click(qtbot, panel.confirm.ok_button)  # the download is confirmed first
            click(qtbot, panel.cancel_button)
    assert ended.args[0] == "tiny-hub"
    assert "cancelled" in panel.device.text() or "installed" in panel.device.text()
