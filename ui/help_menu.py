"""The Help menu: keyboard shortcuts, the user guide, the data folder, the log, About.

Everything here works offline: the user guide is ``docs/user-guide.md``, shipped with
the app (``pyinstaller.spec`` carries it) and shown in a window of the app itself, so
it opens the same on a machine without a browser or a Markdown viewer. Folders and the
log file open in the system's file manager and text editor (``QDesktopServices``).
The dialogs are not modal: they stay open beside the window while the user tries
what they describe.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path

from PySide6 import __version__ as PYSIDE_VERSION
from PySide6.QtCore import Qt, QUrl, qVersion
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMainWindow,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

#: Shortcuts of the Review tab (``ui/review/layout.py``), which has no actions to read them from.
REVIEW_SHORTCUTS = (
    ("Space or K", "Review: play / pause"),
    ("J / L", "Review: 5 s back / forward"),
    ("Left / Right", "Review: one frame back / forward"),
    ("M", "Review: mark the moment"),
    ("I / O", "Review: in / out point (O ends a tagged range)"),
    ("Ctrl+Z", "Review: undo the last shape drawn at this moment"),
)
GUIDE_NAME = "user-guide.md"


def user_guide_path() -> Path:
    """``docs/user-guide.md`` beside the code, in a checkout and in the PyInstaller bundle alike."""
    return Path(__file__).resolve().parent.parent / "docs" / GUIDE_NAME


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def _native(sequence: QKeySequence) -> str:
    return sequence.toString(QKeySequence.SequenceFormat.NativeText)


def shortcut_rows(window: QMainWindow) -> list[tuple[str, str]]:
    """(keys, what) for every action of the window that has a shortcut, then the Review tab's and global hotkeys."""
    rows, seen = [], set()
    actions = list(window.actions())
    for menu_action in window.menuBar().actions():
        if menu_action.menu() is not None:
            actions.extend(menu_action.menu().actions())
    for action in actions:
        keys = ", ".join(_native(s) for s in action.shortcuts() if not s.isEmpty())
        name = action.text().replace("&", "").rstrip("…").strip()
        if keys and (keys, name) not in seen:
            seen.add((keys, name))
            rows.append((keys, name))
    rows.extend(REVIEW_SHORTCUTS)
    hotkeys = getattr(getattr(window, "settings", None), "hotkeys", None)
    if hotkeys is not None and hotkeys.enabled:
        for field, what in (
            ("start_stop", "start / stop"),
            ("overlay", "overlay on / off"),
            ("click_through", "click-through on / off"),
            ("voice", "voice on / off"),
        ):
            keys = getattr(hotkeys, field, "")
            if keys:
                rows.append((keys, f"Global hotkey (works while a game has the focus): {what}"))
    return rows


def _dialog(parent: QWidget, title: str, name: str, body: QWidget) -> QDialog:
    dialog = QDialog(parent, objectName=name)
    dialog.setWindowTitle(title)
    box = QVBoxLayout(dialog)
    box.addWidget(body, 1)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.close)
    box.addWidget(buttons)
    return dialog


class HelpMenu:
    """Builds the Help menu on ``window`` and answers its actions. ``dialogs`` holds the open ones by name."""

    def __init__(self, window: QMainWindow, data_dir, log_file) -> None:
        """``data_dir()`` and ``log_file()`` give the folder and the log file (the log is started if needed)."""
        self.window = window
        self._data_dir, self._log_file = data_dir, log_file
        self.dialogs: dict[str, QDialog] = {}
        menu = window.menuBar().addMenu("&Help")
        self.shortcuts_action = self._add(
            menu, "Keyboard shortcuts", self.show_shortcuts, "helpShortcuts", QKeySequence.StandardKey.HelpContents
        )
        self.guide_action = self._add(menu, "User guide", self.show_guide, "helpGuide")
        menu.addSeparator()
        self.data_action = self._add(menu, "Open data folder", self.open_data_folder, "helpDataFolder")
        self.log_action = self._add(menu, "Open log", self.open_log, "helpLog")
        menu.addSeparator()
        self.about_action = self._add(menu, "About LiveCC Desk", self.show_about, "helpAbout")
        self.menu = menu

    def _add(self, menu, text: str, slot, name: str, shortcut=None) -> QAction:
        action = QAction(text, self.window, objectName=name)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _show(self, name: str, dialog: QDialog) -> QDialog:
        old = self.dialogs.pop(name, None)
        if old is not None:
            old.close()
            old.deleteLater()
        self.dialogs[name] = dialog
        dialog.resize(560, 520)
        dialog.show()
        dialog.raise_()
        return dialog

    def show_shortcuts(self) -> QDialog:
        rows = "".join(
            f"<tr><td style='padding-right:18px'><b>{keys}</b></td><td>{what}</td></tr>"
            for keys, what in shortcut_rows(self.window)
        )
        label = QLabel(
            f"<table>{rows}</table><p><small>The menus and the buttons' tooltips show them too; "
            "Settings › Hotkeys changes the global ones.</small></p>",
            objectName="shortcutsTable",
        )
        label.setWordWrap(True)
        return self._show("shortcuts", _dialog(self.window, "Keyboard shortcuts", "shortcutsDialog", label))

    def show_guide(self) -> QDialog:
        browser = QTextBrowser(objectName="guideText")
        browser.setOpenExternalLinks(True)
        path = user_guide_path()
        try:
            browser.setMarkdown(path.read_text(encoding="utf-8"))
        except OSError as exc:
            browser.setPlainText(
                f"The user guide is missing from this installation ({path}: "
                f"{exc.strerror or exc}). `livecc-desk --help` describes the commands."
            )
        return self._show("guide", _dialog(self.window, "LiveCC Desk user guide", "guideDialog", browser))

    def open_data_folder(self) -> Path:
        folder = Path(self._data_dir())
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
        return folder

    def open_log(self) -> Path | None:
        path = self._log_file()
        if path is None:
            self.window.statusBar().showMessage(
                "The log file could not be written (is the data folder read-only?).", 6000
            )
            return None
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
        return path

    def about_text(self) -> str:
        device = getattr(getattr(self.window, "status", None), "device", None)
        where = device.text() if device is not None else ""
        where = where if where and where != "no model" else "no model loaded yet"
        return (
            f"<h3>LiveCC Desk {_version('livecc-desk')}</h3>"
            "<p>Live commentary on video with LiveCC (a Qwen2-VL-7B video model), run by llama.cpp "
            "in a separate engine process on this computer.</p>"
            f"<p><b>Model runs on:</b> {where}<br>"
            f"<b>llama.cpp:</b> llama-cpp-python {_version('llama-cpp-python')}<br>"
            f"<b>Qt:</b> {qVersion()} (PySide6 {PYSIDE_VERSION})<br>"
            f"<b>Python:</b> {platform.python_version()} on {platform.system()} {platform.machine()}"
            f"{' (bundled)' if getattr(sys, 'frozen', False) else ''}<br>"
            f"<b>Data folder:</b> {self._data_dir()}</p>"
        )

    def show_about(self) -> QDialog:
        label = QLabel(self.about_text(), objectName="aboutText", wordWrap=True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return self._show("about", _dialog(self.window, "About LiveCC Desk", "aboutDialog", label))
