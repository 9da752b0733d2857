"""The main window's widgets, actions, menus and shortcuts, laid out once.

Kept apart from ``main_window.py`` (which reacts to the engine and the user)
so each file holds one idea: what the window contains, and what it does.

Shortcuts: F5 or Ctrl+Enter start/stop, F8 shows the overlay, Ctrl+Shift+L
toggles click-through, Ctrl+Shift+V voice, the platform's Preferences key the
settings, F1 the list of shortcuts (Help menu: ``ui/help_menu.py``). They work while
the app has focus; the global hotkeys of Settings › Hotkeys (``app/hotkeys.py``)
work while a game has it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.log_file import start_log_file
from app.paths import data_dir
from ui.help_menu import HelpMenu
from ui.live.model_panel import ModelPanel
from ui.live.preview import PreviewView
from ui.live.source_picker import SourcePicker
from ui.live.status_bar import LiveStatusBar
from ui.live.transcript_view import TranscriptView


class MainLayout:
    """Mixin for :class:`ui.main_window.MainWindow`: builds its widgets and actions."""

    def _build(self) -> None:
        self.source = SourcePicker()
        self.model_panel = ModelPanel()
        self.query = QLineEdit(objectName="queryEdit", placeholderText="What to commentate, in your words")
        self.query.setToolTip("Press Enter to change it while running; the next second uses it")
        self.question = QLineEdit(placeholderText="Ask about what it has seen…", objectName="askEdit")
        self.ask_button = QPushButton("Ask", clicked=self._ask)
        self.preview = PreviewView()
        self.transcript = TranscriptView()
        self.banner = QLabel(objectName="banner", wordWrap=True)
        self.banner_restart = QPushButton("Restart engine", clicked=self.bridge.restart)
        self.banner_close = QPushButton("Dismiss", clicked=lambda: self.banner_box.hide())
        self.status = LiveStatusBar()
        self.setStatusBar(self.status)

        left = QWidget(objectName="sidePanel")
        side = QVBoxLayout(left)
        for title, widget in (("Source", self.source), ("Model", self.model_panel)):
            group = QGroupBox(title)
            QVBoxLayout(group).addWidget(widget)
            side.addWidget(group)
        commentary = QGroupBox("Commentary")
        c = QVBoxLayout(commentary)
        c.addWidget(self.query)
        ask = QHBoxLayout()
        ask.addWidget(self.question, 1)
        ask.addWidget(self.ask_button)
        c.addLayout(ask)
        side.addWidget(commentary)
        side.addStretch(1)
        left.setMinimumWidth(330)
        left.setMaximumWidth(420)

        self.banner_box = QWidget(objectName="bannerBox")
        b = QHBoxLayout(self.banner_box)
        b.addWidget(self.banner, 1)
        b.addWidget(self.banner_restart)
        b.addWidget(self.banner_close)
        self.banner_box.hide()
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.preview)
        right.addWidget(self.transcript)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        right.setSizes([420, 280])
        column = QWidget()
        col = QVBoxLayout(column)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.banner_box)
        col.addWidget(right, 1)
        center = QSplitter()
        center.addWidget(left)
        center.addWidget(column)
        center.setStretchFactor(1, 1)
        # Live commentary, and the coach's review of a recorded file (built when first opened:
        # it runs its own engine child only when used).
        self.review_holder = QWidget(objectName="reviewHolder")
        QVBoxLayout(self.review_holder).setContentsMargins(0, 0, 0, 0)
        self.tabs = QTabWidget(objectName="modeTabs", documentMode=True)
        self.tabs.addTab(center, "Live")
        self.tabs.addTab(self.review_holder, "Review")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.setCentralWidget(self.tabs)
        self._build_actions()
        self.resize(1180, 760)

    def _action(self, text: str, slot, shortcut=None, checkable=False, name="") -> QAction:
        action = QAction(text, self, checkable=checkable)
        if shortcut:
            action.setShortcuts(
                [QKeySequence(s) for s in shortcut] if isinstance(shortcut, tuple) else [QKeySequence(shortcut)]
            )
            action.setToolTip(f"{text} ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})")
        action.setObjectName(name)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.start_action = self._action("Start", self.toggle_running, ("F5", "Ctrl+Return"), name="startAction")
        self.overlay_action = self._action("Overlay", self.set_overlay_visible, "F8", True, "overlayAction")
        self.click_through_action = self._action("Click-through", self._set_click_through, "Ctrl+Shift+L", True)
        self.voice_action = self._action("Voice", self._set_voice, "Ctrl+Shift+V", True, "voiceAction")
        self.settings_action = self._action("Settings…", self.open_settings, QKeySequence.StandardKey.Preferences)
        self.clear_action = self._action("Clear transcript", self.clear_transcript)
        exports = [
            self._action(f"Export {label}…", lambda _=False, f=fmt: self.export(f), name=f"export_{fmt}")
            for fmt, label in (("srt", "SRT"), ("vtt", "WebVTT"), ("jsonl", "JSONL"))
        ]
        bar = QToolBar("Main", objectName="mainToolbar", movable=False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for item in (
            self.start_action,
            None,
            self.overlay_action,
            self.click_through_action,
            self.voice_action,
            None,
            exports[0],
            self.clear_action,
            None,
            self.settings_action,
        ):
            bar.addSeparator() if item is None else bar.addAction(item)
        self.addToolBar(bar)
        self.start_button = bar.widgetForAction(self.start_action)
        self.start_button.setObjectName("startButton")
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction("Open video…", self._open_video, QKeySequence.StandardKey.Open)
        file_menu.addAction("Review a video…", self._review_video, "Ctrl+R")
        for action in exports:
            file_menu.addAction(action)
        file_menu.addAction("Open transcripts folder", self._show_transcripts_folder)
        file_menu.addSeparator()
        file_menu.addAction("Quit", self.close, QKeySequence.StandardKey.Quit)
        view = menu.addMenu("&View")
        for action in (self.overlay_action, self.click_through_action, self.voice_action, self.settings_action):
            view.addAction(action)
        view.addAction("Reset overlay position", lambda: self.reset_overlay_position())
        engine = menu.addMenu("&Engine")
        engine.addAction(self.start_action)
        engine.addAction("Restart engine", self.bridge.restart)
        self.help = HelpMenu(self, data_dir, start_log_file)
