"""Starting the desktop app: ``run_gui(argv)`` is what ``livecc-desk`` with no arguments calls."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from app.paths import APP_NAME, data_dir
from app.settings import SettingsStore

log = logging.getLogger(__name__)


def create_main_window(store: SettingsStore | None = None, log_dir: str | Path | None = None):
    """A ready main window (and its engine bridge), for ``run_gui`` and tests.

    Needs a ``QApplication``. The last model is loaded at once if its files still
    exist, so a streamer can press Start as soon as the window shows.
    """
    from ui.engine_bridge import EngineBridge
    from ui.main_window import MainWindow

    store = store or SettingsStore()
    loaded = store.load()
    bridge = EngineBridge(log_dir or data_dir() / "logs")
    window = MainWindow(store, loaded, bridge)
    model = loaded.settings.model
    if model.model_path and Path(model.model_path).is_file() and Path(model.mmproj_path).is_file():
        choice = window.model_panel.current()
        if choice is not None:
            window.load_model(choice)
    return window


def run_gui(argv: list[str] | None = None) -> int:
    """Open the main window; returns the exit status when it is closed."""
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from ui.style import apply_theme

    app = QApplication.instance() or QApplication(list(argv if argv is not None else sys.argv))
    app.setApplicationName("LiveCC Desk")
    app.setOrganizationName(APP_NAME)
    app.setDesktopFileName(APP_NAME)
    icon = Path(__file__).resolve().parent.parent / "resources" / "icon.png"
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    apply_theme(app)
    from app.log_file import start_log_file

    log_path = start_log_file()  # Help › Open log; a read-only profile only loses the log
    log.info("LiveCC Desk started (log: %s)", log_path)
    window = create_main_window()
    window.show()
    if window.settings.overlay.visible:
        window.set_overlay_visible(True)
    return int(app.exec())
