"""The app's look: Qt's Fusion style with a dark palette, and a small style sheet.

Streamers work in dark rooms next to dark OBS and game UIs; a dark theme that
does not depend on the desktop's theme also makes screenshots the same on
every system. Dynamic properties (``kind``, ``level``, ``running``) set by the
widgets pick the colours of state labels, banners and the Start button.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

STYLE_SHEET = """
QGroupBox { font-weight: bold; border: 1px solid #30363d; border-radius: 6px; margin-top: 10px; padding-top: 6px; }
QGroupBox::title { subcontrol-origin: margin; left: 8px; padding: 0 4px; color: #8b949e; }
QToolBar { spacing: 6px; padding: 4px; border: none; }
QToolBar QToolButton { padding: 5px 12px; border-radius: 5px; }
QToolBar QToolButton:checked { background: #1f6feb; color: white; }
QToolButton#startButton { background: #238636; color: white; font-weight: bold; min-width: 64px; }
QToolButton#startButton[running="true"] { background: #da3633; }
QWidget#bannerBox { border-radius: 6px; padding: 2px; }
QWidget#bannerBox[level="warn"] { background: #3d2f00; }
QWidget#bannerBox[level="error"] { background: #4c1014; }
QWidget#bannerBox QLabel { color: #f0f6fc; }
QLabel#stateLabel[kind="live"] { color: #3fb950; font-weight: bold; }
QLabel#stateLabel[kind="busy"] { color: #d29922; }
QLabel#stateLabel[kind="error"] { color: #f85149; }
QLabel#lagLabel[level="warn"] { color: #d29922; }
QLabel#lagLabel[level="bad"] { color: #f85149; font-weight: bold; }
QLabel#deviceStatus[gpu="true"] { color: #3fb950; font-weight: bold; }
QLabel#deviceLabel[state="failed"], QLabel#deviceLabel[state="dead"] { color: #f85149; }
QLabel#sourceProblem { color: #d29922; }
QStatusBar QLabel { padding: 0 8px; }
QPlainTextEdit#transcript { background: #0d1117; border: 1px solid #30363d; border-radius: 6px; padding: 4px; }
"""


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    p = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#161b22",
        QPalette.ColorRole.WindowText: "#e6edf3",
        QPalette.ColorRole.Base: "#0d1117",
        QPalette.ColorRole.AlternateBase: "#161b22",
        QPalette.ColorRole.Text: "#e6edf3",
        QPalette.ColorRole.Button: "#21262d",
        QPalette.ColorRole.ButtonText: "#e6edf3",
        QPalette.ColorRole.Highlight: "#1f6feb",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#21262d",
        QPalette.ColorRole.ToolTipText: "#e6edf3",
        QPalette.ColorRole.PlaceholderText: "#6e7681",
        QPalette.ColorRole.Link: "#58a6ff",
    }
    for role, color in colors.items():
        p.setColor(role, QColor(color))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#6e7681"))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#6e7681"))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText, QColor("#6e7681"))
    app.setPalette(p)
    app.setStyleSheet(STYLE_SHEET)
