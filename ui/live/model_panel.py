"""Choosing the model: an installed one, a catalog entry to download, or any local GGUF pair.

The model catalog and store live in ``models/`` and are built separately; they
are imported lazily, and if they are missing or fail, the panel still offers
local files (a text GGUF and its mmproj picked with file dialogs), which is all
the engine needs. Downloads run in a worker thread with progress and Cancel;
the installer is ``models.install.install`` (wrapped by ``_installer``), and the
panel says so plainly when this build has none.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.engine.host import EngineState
from app.timefmt import duration

GGUF_FILTER = "GGUF models (*.gguf);;All files (*)"


@dataclass(frozen=True)
class ModelChoice:
    """A model pair the engine can load."""

    label: str
    text_path: str
    mmproj_path: str
    catalog_id: str = ""


def installed_models() -> tuple[list[ModelChoice], list[str]]:
    """Installed pairs from the models folder, and problems met (never raises)."""
    try:
        from models.store import ModelStore

        found = ModelStore().installed()
    except Exception as exc:  # the store is optional here; say why it is empty
        return [], [f"Installed models could not be listed ({exc})."]
    return [ModelChoice(m.name, str(m.text_path), str(m.mmproj_path), m.name) for m in found], []


def catalog_entries() -> list:
    try:
        from models.catalog import load_catalog
        from models.store import models_dir

        return list(load_catalog(models_dir()).entries)
    except Exception:
        return []


def _installer():
    """``install(entry_id, progress=, cancel=)`` over ``models.install``, or ``None`` if unavailable."""
    try:
        from models.catalog import load_catalog
        from models.install import install
        from models.store import ModelStore
    except Exception:
        return None

    def run(entry_id: str, progress, cancel: threading.Event) -> None:
        store = ModelStore()
        install(load_catalog(store.root).find(entry_id), store, on_progress=progress, cancel=cancel)

    return run


def guess_mmproj(text_path: Path) -> Path | None:
    """The projector beside a text GGUF: the one ``.gguf`` in its folder with "mmproj" in its name."""
    candidates = [p for p in text_path.parent.glob("*.gguf") if "mmproj" in p.name.lower() and p != text_path]
    return candidates[0] if len(candidates) == 1 else None


class ModelPanel(QWidget):
    """The model chooser. ``loadRequested(ModelChoice)`` asks the engine to load a pair."""

    loadRequested = Signal(object)
    restartRequested = Signal()
    progressed = Signal(object)      # models.progress.Progress (from the worker)
    downloadEnded = Signal(str, str)  # entry id, error message ("" on success)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.models = QComboBox(objectName="modelCombo")
        self.models.setMinimumContentsLength(16)
        self.open_files = QPushButton("Open GGUF…", clicked=self.choose_files)
        self.open_files.setToolTip("Use a LiveCC GGUF and its mmproj from anywhere on disk")
        self.load_button = QPushButton("Load", objectName="loadButton", clicked=self._load_clicked)
        self.restart_button = QPushButton("Restart engine", clicked=self.restartRequested.emit)
        self.restart_button.hide()
        self.paths = QLabel(wordWrap=True, objectName="modelPaths")
        self.device = QLabel("No model loaded", objectName="deviceLabel", wordWrap=True)

        self.catalog = QComboBox()
        self.get_button = QPushButton("Download", clicked=self._download_clicked)
        self.progress = QProgressBar(textVisible=True)
        self.cancel_button = QPushButton("Cancel", clicked=self._cancel_download)
        for w in (self.progress, self.cancel_button):
            w.hide()
        self._cancel = threading.Event()
        self._downloading = False

        top = QHBoxLayout()
        top.addWidget(self.models, 1)
        top.addWidget(self.open_files)
        buttons = QHBoxLayout()
        buttons.addWidget(self.load_button)
        buttons.addWidget(self.restart_button)
        buttons.addStretch(1)
        get = QHBoxLayout()
        get.addWidget(self.catalog, 1)
        get.addWidget(self.get_button)
        bar = QHBoxLayout()
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for item in (top, buttons):
            layout.addLayout(item)
        layout.addWidget(self.paths)
        layout.addWidget(self.device)
        layout.addLayout(get)
        layout.addLayout(bar)

        self.models.currentIndexChanged.connect(self._show_paths)
        self.progressed.connect(self._show_progress)
        self.downloadEnded.connect(self._download_ended)

    # -- lists -----------------------------------------------------------------------

    def refresh(self, local: ModelChoice | None = None) -> None:
        """Fill the lists; ``local`` is the user's own pair from the settings, shown first."""
        keep = self.current()
        self.models.clear()
        if local is not None and local.text_path:
            self.models.addItem(local.label, local)
        found, _problems = installed_models()
        for choice in found:
            if local is None or choice.text_path != local.text_path:
                self.models.addItem(choice.label, choice)
        if self.models.count() == 0:
            self.models.addItem("No model yet: open a GGUF pair or download one", None)
        if keep is not None:
            self.select(keep)
        installed = {c.catalog_id for c in found}
        self.catalog.clear()
        for entry in catalog_entries():
            if entry.id not in installed:
                size = f" · {entry.download_bytes / 1e9:.1f} GB" if getattr(entry, "download_bytes", None) else ""
                self.catalog.addItem(f"{entry.title}{size}", entry.id)
        has_catalog = self.catalog.count() > 0
        self.catalog.setVisible(has_catalog)
        self.get_button.setVisible(has_catalog)
        self._show_paths()

    def current(self) -> ModelChoice | None:
        return self.models.currentData()

    def select(self, choice: ModelChoice) -> None:
        for i in range(self.models.count()):
            data = self.models.itemData(i)
            if data is not None and data.text_path == choice.text_path:
                self.models.setCurrentIndex(i)
                return
        if self.models.count() == 1 and self.models.itemData(0) is None:
            self.models.clear()
        self.models.insertItem(0, choice.label, choice)
        self.models.setCurrentIndex(0)

    def _show_paths(self) -> None:
        choice = self.current()
        self.load_button.setEnabled(choice is not None)
        self.paths.setText("" if choice is None else
                           f"<small>{Path(choice.text_path).name}<br>{Path(choice.mmproj_path).name}</small>")

    def choose_files(self) -> None:
        text, _ = QFileDialog.getOpenFileName(self, "Choose the LiveCC language model (GGUF)", "", GGUF_FILTER)
        if not text:
            return
        mmproj = guess_mmproj(Path(text))
        if mmproj is None:
            picked, _ = QFileDialog.getOpenFileName(self, "Choose its vision projector (mmproj GGUF)",
                                                    str(Path(text).parent), GGUF_FILTER)
            if not picked:
                return
            mmproj = Path(picked)
        self.select(ModelChoice(Path(text).stem, text, str(mmproj)))

    def _load_clicked(self) -> None:
        choice = self.current()
        if choice is not None:
            self.loadRequested.emit(choice)

    # -- engine state ----------------------------------------------------------------

    def show_engine_state(self, state: EngineState, detail: str) -> None:
        texts = {EngineState.LOADING: f"Loading {detail}…", EngineState.READY: detail,
                 EngineState.FAILED: "Load failed", EngineState.DEAD: "Engine stopped",
                 EngineState.NO_ENGINE: "No model loaded"}
        self.device.setText(texts[state])
        self.device.setProperty("state", state.value)  # the style sheet colours by state
        self.device.style().polish(self.device)
        self.restart_button.setVisible(state in (EngineState.DEAD, EngineState.FAILED))
        self.load_button.setEnabled(state is not EngineState.LOADING and self.current() is not None)

    # -- downloads -------------------------------------------------------------------

    def _download_clicked(self) -> None:
        entry_id = self.catalog.currentData()
        install = _installer()
        if entry_id is None:
            return
        if install is None:
            self.device.setText("This build cannot download models yet: run "
                                f"\u201clivecc-desk models download {entry_id}\u201d, then pick it here.")
            return
        self._cancel.clear()
        self._downloading = True
        self.progress.setRange(0, 0)
        self.progress.setFormat("Starting…")
        for w in (self.progress, self.cancel_button):
            w.show()
        self.get_button.setEnabled(False)

        def work() -> None:
            try:
                install(entry_id, progress=self.progressed.emit, cancel=self._cancel)
            except Exception as exc:  # reported in the panel; a failed download is not a crash
                self.downloadEnded.emit(entry_id, str(exc) or type(exc).__name__)
            else:
                self.downloadEnded.emit(entry_id, "")

        threading.Thread(target=work, name="model-download", daemon=True).start()

    def _show_progress(self, p) -> None:
        fraction = getattr(p, "fraction", None)
        if fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(fraction * 1000))
        rate = f" · {p.rate / 1e6:.1f} MB/s" if getattr(p, "rate", None) else ""
        eta = f" · {duration(p.eta_s)} left" if getattr(p, "eta_s", None) else ""
        self.progress.setFormat(f"{p.stage} {p.label} {p.index}/{p.count}: %p%{rate}{eta}")

    def _cancel_download(self) -> None:
        self._cancel.set()
        self.progress.setFormat("Cancelling…")

    def _download_ended(self, entry_id: str, error: str) -> None:
        self._downloading = False
        for w in (self.progress, self.cancel_button):
            w.hide()
        self.get_button.setEnabled(True)
        if self._cancel.is_set():
            self.device.setText("Download cancelled; it resumes where it stopped next time.")
        elif error:
            self.device.setText(f"Download of {entry_id} failed: {error}")
        else:
            self.device.setText(f"{entry_id} is installed: choose it and press Load.")
        self.refresh()
