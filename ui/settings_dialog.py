"""The settings dialog: one tab per settings group, built from the groups' own fields.

Each field of a settings dataclass gets the editor its type asks for (check box,
spin box bounded by the field's declared range, colour button, font list), so
the dialog can never offer a value that :mod:`app.settings` would reject on
load, and a new setting appears here by being declared there. Labels and
tooltips are the only thing written per field.
"""

from __future__ import annotations

import dataclasses

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

from app.settings import OVERLAY_DEFAULT_PORT, Settings
from app.sinks.overlay_server import overlay_url
from app.sinks.voice import playback_devices
from models.engine import defaults

TABS = (
    ("model", "Engine"),
    ("commentary", "Commentary"),
    ("context", "Long streams"),
    ("overlay", "Overlay"),
    ("voice", "Voice"),
    ("capture", "Capture"),
    ("obs", "OBS"),
    ("hotkeys", "Hotkeys"),
)

LABELS = {
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
        for group, title in TABS:
            self.tabs.addTab(self._page(group), title)
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

    def _page(self, group: str) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
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
        if group == "obs":
            self._add_obs_help(form)
        return page

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
        group = TABS[self.tabs.currentIndex()][0]
        defaults = getattr(Settings(), group)
        for (g, name), editor in self.editors.items():
            if g == group:
                self._set(editor, getattr(defaults, name))

    def result_settings(self) -> Settings:
        settings = self.settings
        for group, _title in TABS:
            changes = {name: self._get(editor) for (g, name), editor in self.editors.items() if g == group}
            settings = settings.replace(group, **changes)
        return settings
