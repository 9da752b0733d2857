"""The settings dialog: one tab per settings group, built from the groups' own fields.

Each field of a settings dataclass gets the editor its type asks for (check box,
spin box bounded by the field's declared range, colour button, font list), so
the dialog can never offer a value that :mod:`app.settings` would reject on
load, and a new setting appears here by being declared there. Labels and
tooltips are the only thing written per field.
"""

from __future__ import annotations

import dataclasses
import threading

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFontComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.settings import OVERLAY_DEFAULT_PORT, Settings, check_server_url
from app.sinks.overlay_server import overlay_url
from app.sinks.voice import playback_devices
from models.engine import defaults
from models.errors import LiveCCError

# (the settings groups on a tab, its title); the Engine tab shows where the model runs first.
TABS = (
    (("engine", "model"), "Engine"),
    (("commentary",), "Commentary"),
    (("context",), "Long streams"),
    (("overlay",), "Overlay"),
    (("voice",), "Voice"),
    (("capture",), "Capture"),
    (("obs",), "OBS"),
    (("hotkeys",), "Hotkeys"),
)
#: Model settings that only apply when the model runs on this computer (the server has its own).
LOCAL_ONLY = ("n_ctx", "n_gpu_layers", "device", "n_threads")
#: Longest wait for Test connection (a firewall that drops packets would otherwise take the whole timeout).
TEST_TIMEOUT_S = 15.0

LABELS = {
    "engine.backend": (
        "Where the model runs",
        "This computer runs the model pair you choose; a remote server is a llama-server on another "
        "machine (start it there with: livecc-desk serve --model NAME --host 0.0.0.0 --api-key-env VAR)",
    ),
    "engine.url": ("Server URL", "The address livecc-desk serve printed, e.g. http://192.168.1.20:8080"),
    "engine.api_key": (
        "Server API key",
        "The key the server was started with; empty for none. Stored as the OBS password is: "
        "in plain text in your settings file",
    ),
    "engine.timeout_s": (
        "Wait for the server (seconds)",
        "How long to wait to connect and for each reply, and for a restarted server to come back",
    ),
    "n_ctx": (
        "Model memory (tokens)",
        "How much the model can keep in mind at once (its context, in tokens of "
        "about ¾ of a word); more uses more memory. Sizes the windows on the Long "
        "streams tab",
    ),
    "n_gpu_layers": (
        "Model layers on the GPU",
        "Auto offloads as many layers as fit the GPU's free memory; -1 every layer, 0 runs on the CPU only",
    ),
    "device": (
        "Where the model runs (device)",
        "Auto runs the model on the first GPU (through Vulkan, CUDA or "
        "Metal) and on the CPU when there is none; choose a GPU when you "
        "have several, or the CPU to leave the GPU to a game",
    ),
    "n_threads": (
        "CPU cores to use (threads)",
        f"Auto uses every core but {defaults.SPARE_CORES}, leaving it to "
        "capture, the window and other programs (llama.cpp slows sharply "
        "when it has to share a core); the command line's --threads 0 is "
        "the same rule",
    ),
    "max_pixels": (
        "Picture detail (most pixels per frame)",
        "Each frame is shrunk to at most this many pixels before the model sees it; more detail is "
        f"slower (LiveCC: {defaults.MAX_PIXELS} = about 640×470)",
    ),
    "greedy": (
        "Same words every run (greedy)",
        "Always take the most likely word: the same video gives the same commentary",
    ),
    "temperature": ("Variety (temperature)", "Higher gives more varied, less predictable words"),
    "seed": ("Random seed (number)", "The same seed and settings give the same commentary"),
    "repetition_penalty": (
        "Avoid repeating words (penalty)",
        f"Above 1 discourages saying the same words again; LiveCC uses {defaults.REPETITION_PENALTY}",
    ),
    "talk_more": ("Talk more", "Speak more often: stay silent only when the model is sure there is nothing to say"),
    "talk_more_base": (
        "Talk more: silence needs at least (probability 0–1)",
        "Silence is allowed only when the model is at least this sure of it",
    ),
    "talk_more_step": (
        "Talk more: rise per word (probability)",
        "Added to the above for each word already said in that second, so long lines end sooner",
    ),
    "max_new_tokens": (
        "Most words per second (tokens)",
        "The longest the model may speak about each second of video, in tokens (a token is a "
        f"word or part of one); LiveCC uses {defaults.MAX_NEW_TOKENS}",
    ),
    "font_family": ("Font", ""),
    "font_size": ("Text size (pt)", ""),
    "bold": ("Bold", ""),
    "text_color": ("Text colour", ""),
    "outline_color": ("Outline colour", ""),
    "outline_width": ("Outline width (px)", "0 for none"),
    "shadow": ("Drop shadow", ""),
    "background_color": ("Box colour", ""),
    "background_opacity": ("Box opacity (0–1)", "0 is invisible, 1 solid"),
    "lines": ("Lines shown", "Most lines of commentary on screen at once"),
    "fade_after_s": ("Fade after (seconds)", "0 never fades"),
    "show_silence": ("Show silence as …", ""),
    "click_through": ("Click-through", "The mouse goes to the window below"),
    "hotkeys.enabled": (
        "Global hotkeys",
        "Keys that work while another program (the game) has the focus: "
        "X11 and Windows; on macOS and Wayland only inside the app",
    ),
    "hotkeys.start_stop": ("Start / stop", "e.g. Ctrl+Shift+F5; empty for none"),
    "hotkeys.overlay": ("Overlay on / off", ""),
    "hotkeys.click_through": ("Click-through on / off", ""),
    "hotkeys.voice": ("Voice on / off", ""),
    "enabled": ("Speak commentary", ""),
    "voice_id": ("Voice", ""),
    "output_device": (
        "Output device",
        "Where speech is played (Linux); pick the device OBS captures or a virtual "
        "cable. Windows and macOS use the system's default output.",
    ),
    "rate": ("Rate (words/min)", ""),
    "volume": ("Volume (0–1)", ""),
    "max_delay_s": ("Skip phrases older than (seconds)", "Keeps speech close to the picture"),
    "policy": ("Keep in context", "What stays when the context is full"),
    "vision_window_s": ("Video remembered (seconds)", "How many of the last seconds of video the model still sees"),
    "text_window_tokens": (
        "Commentary remembered (tokens)",
        "How much of its own recent commentary the model keeps after the frames go, so it does not repeat itself",
    ),
    "reprime_vision_s": (
        "Video re-read on a rebuild (seconds)",
        "When positions near the trained range, everything after the instructions is rebuilt; "
        "this many seconds of frames are encoded again (more is slower)",
    ),
    "capture_fps": ("Capture rate (frames per second)", "Pictures grabbed per second from a screen, window or webcam"),
    "transcript_dir": ("Transcripts folder", "Empty: the app's data folder"),
    "overlay_server": ("Browser-source page", "Serve the commentary as a web page for OBS's Browser Source"),
    "overlay_port": ("Page port", f"The page's TCP port (default {OVERLAY_DEFAULT_PORT})"),
    "lan_access": (
        "Allow other computers",
        "Listen on every network interface (a second PC runs OBS); needs the token below",
    ),
    "lan_token": ("LAN token", "A secret of 8 or more characters that the page's URL must carry"),
    "websocket": ("Push into an OBS text source", "Over obs-websocket (OBS 28 or later)"),
    "url": ("OBS WebSocket URL", "OBS › Tools › WebSocket Server Settings"),
    "password": ("OBS password", "OBS › Tools › WebSocket Server Settings › Show Connect Info"),
    "source_name": ("Text source name", "The OBS text source the commentary goes into"),
    "create_source": ("Create it if missing", "Add the text source to the current scene when OBS has none"),
    "stream_captions": ("Stream captions", "Also send finished lines as CEA-608 captions while streaming"),
    "captions_file": (
        "Captions file",
        "Keep the last lines in this file, for a text source's 'Read from file' (empty: none)",
    ),
}
# Shown for a choice setting's values.
CHOICES = {
    "backend": {"local": "This computer", "remote": "Remote server (llama-server)"},
    "policy": {"streaming": "Recent window (for hours-long streams)", "evict": "Everything, oldest out first"},
}
# Shown when a number is at its minimum, which means "chosen for you".
AUTO_TEXT = {
    "n_threads": f"Auto (all cores but {defaults.SPARE_CORES})",
    "n_gpu_layers": "Auto (as many as fit)",
    "vision_window_s": "Auto (half the context)",
    "text_window_tokens": "Auto (3/16 of the context)",
}
HIDDEN = {
    "model_path",
    "mmproj_path",
    "catalog_id",
    "positions",
    "visible",
    "kind",
    "monitor",
    "region",
    "window_title",
    "camera",
    "file_path",
    "query",
}


_SELECTABLE = Qt.TextInteractionFlag.TextSelectableByMouse


class ColorButton(QPushButton):
    """A button showing a colour; click to pick another (with alpha)."""

    def __init__(self, color: str) -> None:
        super().__init__()
        self.set_color(color)
        self.clicked.connect(self._pick)

    def set_color(self, color: str) -> None:
        self.color = QColor(color).name(QColor.NameFormat.HexRgb).upper()
        self.setText(self.color)
        self.setStyleSheet(f"background:{self.color}; color:{'#000' if QColor(color).lightness() > 128 else '#fff'};")

    def _pick(self) -> None:
        chosen = QColorDialog.getColor(QColor(self.color), self, "Choose a colour")
        if chosen.isValid():
            self.set_color(chosen.name())


class SettingsDialog(QDialog):
    """Edits a copy of ``settings``; :meth:`result_settings` gives the edited copy.

    Args:
        voices: (id, name) pairs for the voice list; empty shows "System default" only.
        gpus: (ggml name, label) of each GPU for the device list (``app.device_probe``);
            empty offers Auto and CPU only.
    """

    #: Test connection's result (ok, the one line shown), from its worker thread.
    connectionTested = Signal(bool, str)

    def __init__(
        self,
        settings: Settings,
        voices: list[tuple[str, str]] = (),
        parent: QWidget | None = None,
        gpus: list[tuple[str, str]] = (),
    ) -> None:
        super().__init__(parent)
        self.gpus = list(gpus)
        self.setWindowTitle("LiveCC Desk settings")
        self.setMinimumWidth(620)  # all seven tabs visible, no scroll arrows
        self.settings = settings
        self.voices = list(voices)
        self.editors: dict[tuple[str, str], QWidget] = {}
        self.tabs = QTabWidget()
        for groups, title in TABS:
            self.tabs.addTab(self._page(groups), title)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self.restore_defaults)
        note = QLabel("<small>Engine settings apply when the model is next loaded.</small>")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def _page(self, groups: tuple[str, ...]) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        for group in groups:
            if group == "model" and "engine" in groups:
                form.addRow(QLabel("<b>On this computer</b>"))
            values = getattr(self.settings, group)
            for f in dataclasses.fields(values):
                if f.name in HIDDEN:
                    continue
                editor = self._editor(f, getattr(values, f.name))
                label, tip = LABELS.get(f"{group}.{f.name}") or LABELS.get(
                    f.name, (f.name.replace("_", " ").capitalize(), "")
                )
                editor.setToolTip(tip)
                editor.setObjectName(f"{group}.{f.name}")
                self.editors[(group, f.name)] = editor
                form.addRow(label, editor)
            if group == "engine":
                self._add_engine_help(form)
            if group == "obs":
                self._add_obs_help(form)
        if "engine" in groups:
            self._backend_changed()
        return page

    def _add_engine_help(self, form: QFormLayout) -> None:
        """The key masked, and Test connection: reach the server as loading would, say the result in one line."""
        self.editors[("engine", "api_key")].setEchoMode(QLineEdit.EchoMode.Password)
        self.test_button = QPushButton("Test connection", objectName="engine.test_connection")
        self.test_button.setToolTip("Connect to the server and check it serves a LiveCC model, without sending video")
        self.test_result = QLabel("", objectName="engine.test_result")
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(self.test_result.textInteractionFlags() | _SELECTABLE)
        row = QHBoxLayout()
        row.addWidget(self.test_button)
        row.addWidget(self.test_result, 1)
        form.addRow("", row)
        self.test_button.clicked.connect(self.test_connection)
        self.connectionTested.connect(self._show_test_result)
        self.editors[("engine", "backend")].currentIndexChanged.connect(self._backend_changed)

    def _backend_changed(self, *_args) -> None:
        """Offer the server's fields with Remote server, the local engine's with This computer."""
        remote = self._get(self.editors[("engine", "backend")]) == "remote"
        for name in ("url", "api_key", "timeout_s"):
            self.editors[("engine", name)].setEnabled(remote)
        self.test_button.setEnabled(remote and not getattr(self, "_testing", False))
        for name in LOCAL_ONLY:
            if ("model", name) in self.editors:
                self.editors[("model", name)].setEnabled(not remote)

    def test_connection(self) -> None:
        """Connect to the server in a worker thread, as loading does (before any frame is sent)."""
        try:
            url = check_server_url(self._get(self.editors[("engine", "url")]))
        except LiveCCError as exc:
            self._show_test_result(False, str(exc))
            return
        key = self._get(self.editors[("engine", "api_key")]) or None
        timeout = min(float(self._get(self.editors[("engine", "timeout_s")])), TEST_TIMEOUT_S)
        self._testing = True
        self.test_button.setEnabled(False)
        self.test_result.setProperty("ok", None)
        self.test_result.setText(f"Connecting to {url}…")
        threading.Thread(
            target=self._test_worker, args=(url, key, timeout), name="test-connection", daemon=True
        ).start()

    def _test_worker(self, url: str, key: str | None, timeout: float) -> None:
        ok, text = check_connection(url, key, timeout)
        try:
            self.connectionTested.emit(ok, text)
        except RuntimeError:  # the dialog was closed meanwhile
            pass

    def _show_test_result(self, ok: bool, text: str) -> None:
        self._testing = False
        self.test_result.setText(("✓ " if ok else "✗ ") + text)
        self.test_result.setProperty("ok", ok)
        self.test_result.setStyleSheet("" if ok else "color: #c0392b;")
        self.test_button.setEnabled(self._get(self.editors[("engine", "backend")]) == "remote")

    def _add_obs_help(self, form: QFormLayout) -> None:
        """The page's URL with a Copy button, kept current, and how to use it in OBS."""
        self.editors[("obs", "password")].setEchoMode(QLineEdit.EchoMode.Password)
        self.overlay_url = QLineEdit(readOnly=True, objectName="obs.overlay_url")
        copy = QPushButton("Copy", objectName="obs.copy_url")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.overlay_url.text()))
        row = QHBoxLayout()
        row.addWidget(self.overlay_url, 1)
        row.addWidget(copy)
        form.addRow("Page URL", row)
        howto = QLabel(
            "In OBS, add a <b>Browser</b> source, paste the page URL, and set its size (e.g. 1920×300): "
            "the background stays transparent and the commentary appears word by word, styled like the "
            "overlay (add <code>?lines=3&amp;size=40&amp;align=left</code> to the URL to change it per source). "
            "Or let the app fill an OBS <b>Text</b> source over WebSocket, or point a Text source's "
            "<i>Read from file</i> at the captions file. With <i>Allow other computers</i>, use this PC's "
            "network address instead of 127.0.0.1 on the streaming PC; the token stays in the URL."
        )
        howto.setWordWrap(True)
        form.addRow(howto)
        for name in ("overlay_port", "lan_access", "lan_token"):
            editor = self.editors[("obs", name)]
            signal = getattr(editor, "valueChanged", None) or getattr(editor, "toggled", None) or editor.textChanged
            signal.connect(self._update_overlay_url)
        self._update_overlay_url()

    def _update_overlay_url(self, *_args) -> None:
        lan = self._get(self.editors[("obs", "lan_access")])
        token = self._get(self.editors[("obs", "lan_token")]) if lan else ""
        self.overlay_url.setText(
            overlay_url(
                "0.0.0.0" if lan else "127.0.0.1", self._get(self.editors[("obs", "overlay_port")]), token or None
            )
        )

    def _editor(self, f: dataclasses.Field, value) -> QWidget:
        lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
        if isinstance(value, bool):
            box = QCheckBox()
            box.setChecked(value)
            return box
        if isinstance(value, int):
            spin = QSpinBox()
            spin.setRange(int(lo if lo is not None else -(10**9)), int(hi if hi is not None else 10**9))
            if f.name in AUTO_TEXT:
                spin.setSpecialValueText(AUTO_TEXT[f.name])  # shown at the minimum
            spin.setValue(value)
            return spin
        if isinstance(value, float):
            spin = QDoubleSpinBox(decimals=2, singleStep=0.05 if (hi or 10) <= 2 else 0.5)
            spin.setRange(float(lo if lo is not None else -1e9), float(hi if hi is not None else 1e9))
            spin.setValue(value)
            return spin
        if f.metadata.get("choices"):
            combo = QComboBox()
            for choice in f.metadata["choices"]:
                combo.addItem(CHOICES.get(f.name, {}).get(choice, choice), choice)
            combo.setCurrentIndex(max(0, combo.findData(value)))
            return combo
        if f.name.endswith("_color"):
            return ColorButton(value)
        if f.name == "font_family":
            combo = QFontComboBox()
            combo.setCurrentFont(QFont(value))
            return combo
        if f.name == "device":
            combo = QComboBox()
            combo.addItem("Auto (the GPU if there is one)", "auto")
            combo.addItem("CPU only", "cpu")
            for name, label in self.gpus:
                combo.addItem(f"{label} — {name}", name)
            if combo.findData(value) < 0:  # chosen earlier, not found now: kept, never silently dropped
                combo.addItem(f"{value} (not found now: Auto is used)", value)
            combo.setCurrentIndex(max(0, combo.findData(value)))
            return combo
        if f.name == "voice_id":
            combo = QComboBox()
            combo.addItem("System default", "")
            for voice_id, name in self.voices:
                combo.addItem(name, voice_id)
            combo.setCurrentIndex(max(0, combo.findData(value)))
            return combo
        if f.name == "output_device":
            return self._output_devices(value)
        return QLineEdit(str(value))

    @staticmethod
    def _output_devices(value: str) -> QComboBox:
        """The audio outputs speech can go to (Linux: ``aplay -L``); elsewhere the system's default only."""
        combo = QComboBox()
        combo.addItem("System default", "")
        for name, description in playback_devices():
            combo.addItem(description, name)
        if value and combo.findData(value) < 0:
            combo.addItem(f"{value} (not found now)", value)
        combo.setCurrentIndex(max(0, combo.findData(value)))
        combo.setEnabled(combo.count() > 1)
        return combo

    def _set(self, editor: QWidget, value) -> None:
        if isinstance(editor, QCheckBox):
            editor.setChecked(value)
        elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            editor.setValue(value)
        elif isinstance(editor, ColorButton):
            editor.set_color(value)
        elif isinstance(editor, QFontComboBox):
            editor.setCurrentFont(QFont(value))
        elif isinstance(editor, QComboBox):
            editor.setCurrentIndex(max(0, editor.findData(value)))
        elif isinstance(editor, QLineEdit):
            editor.setText(str(value))

    @staticmethod
    def _get(editor: QWidget):
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            return editor.value()
        if isinstance(editor, ColorButton):
            return editor.color
        if isinstance(editor, QFontComboBox):
            return editor.currentFont().family()
        if isinstance(editor, QComboBox):
            return editor.currentData() or ""
        return editor.text().strip()

    def restore_defaults(self) -> None:
        """Put every editor on the current tab back to its default."""
        groups = TABS[self.tabs.currentIndex()][0]
        for (g, name), editor in self.editors.items():
            if g in groups:
                self._set(editor, getattr(getattr(Settings(), g), name))

    def result_settings(self) -> Settings:
        settings = self.settings
        for groups, _title in TABS:
            for group in groups:
                changes = {name: self._get(editor) for (g, name), editor in self.editors.items() if g == group}
                settings = settings.replace(group, **changes)
        return settings


def check_connection(url: str, api_key: str | None, timeout_s: float) -> tuple[bool, str]:
    """Connect to the llama-server at ``url`` as the engine does before any frame; (ok, one line).

    Checks what loading checks (reachable, the key, a Qwen2-VL/LiveCC model with its vision
    projector) and closes the connection again; the line names the model and its context, or
    says what is wrong. Blocks for up to ``timeout_s``: call it from a worker thread.
    """
    from models.engine.remote import RemoteEngine, RemoteOptions

    try:
        engine = RemoteEngine(RemoteOptions(url=url, api_key=api_key, timeout_s=timeout_s))
    except LiveCCError as exc:
        return False, " ".join(str(exc).split())
    except Exception as exc:  # a bug or an odd reply: still one line, never a crash of the window
        return False, f"The server at {url} could not be checked ({type(exc).__name__}: {exc})."
    try:
        slots = f", {engine.total_slots} streams at once" if engine.total_slots > 1 else ""
        stock = "" if engine.frame_pairs else "; a stock llama-server: one frame per pair, not LiveCC's frame pairs"
        return True, f"Connected: {engine.model_name}, {engine.n_ctx}-token context{slots} ({url}){stock}"
    finally:
        engine.close()
