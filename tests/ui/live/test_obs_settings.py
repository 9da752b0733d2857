"""Settings › OBS through the real widgets, and the main window feeding the outputs it turns on."""

from __future__ import annotations

import http.client
import json

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLineEdit, QPushButton

from models.engine.records import ChunkDone
from tests.real_programs import free_port
from ui.settings_dialog import SettingsDialog


def test_the_obs_tab_shows_the_page_url_and_copies_it(qtbot, make_main_window, tmp_path):
    window = make_main_window()
    dialog = SettingsDialog(window.settings, [], window)
    qtbot.addWidget(dialog)
    titles = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    dialog.tabs.setCurrentIndex(titles.index("OBS"))
    url = dialog.findChild(QLineEdit, "obs.overlay_url")
    assert url.text() == "http://127.0.0.1:18765/overlay"
    dialog.editors[("obs", "overlay_port")].setValue(19000)
    dialog.editors[("obs", "lan_access")].setChecked(True)
    dialog.editors[("obs", "lan_token")].setText("token-1234")
    assert url.text() == "http://127.0.0.1:19000/overlay?token=token-1234"
    qtbot.mouseClick(dialog.findChild(QPushButton, "obs.copy_url"), Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == url.text()
    assert dialog.editors[("obs", "password")].echoMode() == QLineEdit.EchoMode.Password


def test_the_window_serves_the_page_and_writes_the_captions_file_it_is_told_to(qtbot, make_main_window, tmp_path):
    window = make_main_window()
    port = free_port()
    captions = tmp_path / "captions.txt"
    settings = window.settings.replace("obs", overlay_server=True, overlay_port=port, captions_file=str(captions))
    window.apply_settings(settings)
    assert window.outputs is not None and window.outputs.server.port == port
    window._engine_event(ChunkDone(0, 0.0, 3.0, " Into the net"))
    assert captions.read_text() == "Into the net"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/events")
    reply = conn.getresponse()
    line = b""
    while not line.startswith(b"data: "):
        line = reply.readline()
    assert json.loads(line[6:])["words"] == ["Into", "the", "net"]
    conn.close()
    window.apply_settings(window.settings.replace("obs", overlay_server=False, captions_file=""))
    assert window.outputs is None


def test_a_port_in_use_is_a_banner_not_a_crash(qtbot, make_main_window):
    import socket

    window = make_main_window()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        if port < 1024:
            return
        window.apply_settings(window.settings.replace("obs", overlay_server=True, overlay_port=port))
    assert window.outputs is None
    assert "already in use" in window.banner.text()
