"""Settings › Engine › Remote server through the real widgets, against a real llama-server.

Test connection connects in a worker thread as loading does (before any frame) and says
the result in one line; with Remote server chosen the window commentates without a
local model pair: the server has the model.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QPushButton

from app.engine.host import EngineState
from app.settings import Settings, SettingsStore
from tests.real_programs import free_port
from tests.remote_server import API_KEY, remote_server_fixture, server_binary  # noqa: F401  (fixtures)
from ui.settings_dialog import SettingsDialog

TIMEOUT_MS = 120_000


def _dialog(qtbot, window) -> SettingsDialog:
    dialog = SettingsDialog(window.settings, [], window)
    qtbot.addWidget(dialog)
    titles = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    dialog.tabs.setCurrentIndex(titles.index("Engine"))
    return dialog


def _test_connection(qtbot, dialog: SettingsDialog) -> str:
    button = dialog.findChild(QPushButton, "engine.test_connection")
    assert button.isEnabled()
    with qtbot.waitSignal(dialog.connectionTested, timeout=TIMEOUT_MS):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        assert not button.isEnabled()  # one test at a time; the window stays responsive
    qtbot.waitUntil(button.isEnabled, timeout=5_000)
    return dialog.findChild(QLabel, "engine.test_result").text()


def test_test_connection_names_the_model_or_says_what_is_wrong(qtbot, make_main_window, remote_server, tmp_path):
    window = make_main_window()
    dialog = _dialog(qtbot, window)
    backend = dialog.editors[("engine", "backend")]
    button = dialog.findChild(QPushButton, "engine.test_connection")
    assert backend.currentData() == "local" and not button.isEnabled()
    assert not dialog.editors[("engine", "url")].isEnabled() and dialog.editors[("model", "n_ctx")].isEnabled()
    backend.setCurrentIndex(backend.findData("remote"))
    assert dialog.editors[("engine", "url")].isEnabled() and not dialog.editors[("model", "n_ctx")].isEnabled()
    key = dialog.editors[("engine", "api_key")]
    assert key.echoMode() == QLineEdit.EchoMode.Password
    dialog.editors[("engine", "url")].setText(remote_server.url)
    key.setText(API_KEY)

    result = _test_connection(qtbot, dialog)
    assert result.startswith("✓ Connected: ") and "2048-token context" in result and remote_server.url in result

    key.setText("not-the-key")
    result = _test_connection(qtbot, dialog)
    assert result.startswith("✗ ") and "key" in result.lower() and "\n" not in result

    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    dialog.editors[("engine", "url")].setText(closed)
    result = _test_connection(qtbot, dialog)
    assert result.startswith("✗ ") and closed.split("//")[1] in result and "\n" not in result

    dialog.editors[("engine", "url")].setText("ftp://somewhere")  # said at once, no thread
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert "http://" in dialog.findChild(QLabel, "engine.test_result").text()

    dialog.editors[("engine", "url")].setText(remote_server.url)
    key.setText(API_KEY)
    window.apply_settings(dialog.result_settings())
    saved = SettingsStore(tmp_path / "config").load()
    assert saved.warnings == ()
    assert (saved.settings.engine.backend, saved.settings.engine.url, saved.settings.engine.api_key) == (
        "remote",
        remote_server.url,
        API_KEY,
    )
    dialog.restore_defaults()
    assert dialog.result_settings().engine == Settings().engine


def test_remote_server_commentates_a_file_without_a_local_model(
    qtbot, make_main_window, remote_server, clips, tmp_path
):
    settings = (
        Settings()
        .replace("engine", backend="remote", url=remote_server.url, api_key=API_KEY, timeout_s=30.0)
        .replace("model", max_pixels=100 * 28 * 28)
        .replace("commentary", greedy=True)
        .replace("capture", transcript_dir=str(tmp_path / "transcripts"))
    )
    window = make_main_window(settings)
    assert window.model_panel.current() is None  # no local pair anywhere
    window.source.set_kind("file")
    window.source.file_path.setText(str(clips["short"]))
    with qtbot.waitSignal(window.bridge.sessionFinished, timeout=TIMEOUT_MS) as finished:
        window.start_action.trigger()  # loads (connects), then starts once ready
    assert finished.args[0].reason == "finished", window.banner.text()
    assert [(c.t0, c.t1) for c in window.transcript.chunks] == [(0.0, 3.0), (3.0, 4.0), (4.0, 5.0)]
    assert window.bridge.host.last_load.server.url == remote_server.url
    assert window.status.device.text().startswith(f"llama-server at {remote_server.url}")


def test_a_closed_port_shows_the_load_failed_banner(qtbot, make_main_window, tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    window = make_main_window(Settings().replace("engine", backend="remote", url=closed, timeout_s=5.0))
    with qtbot.waitSignal(window.bridge.engineError, timeout=TIMEOUT_MS):
        window.start_action.trigger()
    qtbot.waitUntil(lambda: window.banner_box.isVisible(), timeout=5_000)
    assert window.bridge.state is EngineState.FAILED
    assert closed.split("//")[1] in window.banner.text() and window.banner_restart.isVisible()
    assert not window.running
