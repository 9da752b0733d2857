"""Choosing the model: an installed one, a catalog entry to download, or any local GGUF pair.

The model catalog and store live in ``models/`` and are built separately; they
are imported lazily, and if they are missing or fail, the panel still offers
local files (a text GGUF and its mmproj picked with file dialogs), which is all
the engine needs. Download first asks (``download_dialog``: size, destination,
free space, time, quantization), then runs in a worker thread with progress,
Pause/Resume (a paused download resumes where it stopped) and Cancel (which
deletes the partial files); the new model is chosen in the list when done. The
installer is ``models.install.install`` (wrapped by ``_installer``), and the
panel says so plainly when this build has none.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
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
    """``install(entry_id, progress=, cancel=, quant=)`` over ``models.install``, or ``None`` if unavailable.

    It returns the installed text GGUF's path.
    """
    try:
        from models.catalog import load_catalog
        from models.install import InstallOptions, install
        from models.store import ModelStore
    except Exception:
        return None

    def run(entry_id: str, progress, cancel: threading.Event, quant: str | None = None):
        store = ModelStore()
        options = InstallOptions(quant=quant) if quant else InstallOptions()
        installed = install(
            load_catalog(store.root).find(entry_id), store, options, on_progress=progress, cancel=cancel
        )
        return str(installed.text_path)

    return run


def guess_mmproj(text_path: Path) -> Path | None:
    """The projector beside a text GGUF: the one ``.gguf`` in its folder with "mmproj" in its name."""
    candidates = [p for p in text_path.parent.glob("*.gguf") if "mmproj" in p.name.lower() and p != text_path]
    return candidates[0] if len(candidates) == 1 else None


class ModelPanel(QWidget):
    """The model chooser. ``loadRequested(ModelChoice)`` asks the engine to load a pair."""

    loadRequested = Signal(object)
    restartRequested = Signal()
    tryRequested = Signal()  # "Try it now": the tiny test model on a sample clip
    progressed = Signal(object)  # models.progress.Progress (from the worker)
    downloadEnded = Signal(str, str)  # entry id, error message ("" on success)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.models = QComboBox(objectName="modelCombo")
        self.models.setMinimumContentsLength(16)
        self.open_files = QPushButton("Open GGUF…", clicked=self.choose_files)
        self.open_files.setToolTip("Use a LiveCC GGUF and its mmproj from anywhere on disk")
        self.load_button = QPushButton("Load", objectName="loadButton", clicked=self._load_clicked)
        # A lambda: ``clicked`` passes ``checked``, which a signal without arguments refuses.
        self.restart_button = QPushButton("Restart engine", clicked=lambda: self.restartRequested.emit())
        self.restart_button.hide()
        self.try_button = QPushButton(
            "Try it now (tiny test model, no download)",
            objectName="tryButton",
            clicked=lambda: self.tryRequested.emit(),
        )
        self.try_button.setToolTip(
            "Commentate a generated clip with a tiny model made here in seconds. Its words "
            "are noise (random weights), but every control works as with LiveCC."
        )
        self.paths = QLabel(wordWrap=True, objectName="modelPaths")
        self.device = QLabel("No model loaded", objectName="deviceLabel", wordWrap=True)

        self.catalog = QComboBox()
        self.get_button = QPushButton("Download", clicked=self._download_clicked)
        self.progress = QProgressBar(textVisible=True)
        self.cancel_button = QPushButton("Cancel", clicked=self._cancel_download)
        self.cancel_button.setToolTip("Stop and delete what this download wrote so far")
        self.pause_button = QPushButton("Pause", objectName="pauseButton", clicked=self._pause_download)
        self.pause_button.setToolTip("Stop for now; Resume goes on where it stopped, also after a restart")
        self.resume_button = QPushButton("Resume", objectName="resumeButton", clicked=self._resume_download)
        for w in (self.progress, self.pause_button, self.resume_button, self.cancel_button):
            w.hide()
        self.confirm: QDialog | None = None  # the open "Download …?" dialog
        self._last: tuple[str, str | None] | None = None  # (entry id, quant) of the last download
        self._pausing = self._paused = False
        self._cancel = threading.Event()
        self._downloading = False
        self._download_note = False  # the device line shows a download's outcome, not the engine's state
        self._engine_text = "No model loaded"

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
        for w in (self.pause_button, self.resume_button, self.cancel_button):
            bar.addWidget(w)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for item in (top, buttons):
            layout.addLayout(item)
        layout.addWidget(self.try_button)
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
        self.try_button.setVisible(choice is None)  # the empty state offers a try without a download
        if self._download_note and not self._downloading:
            self._download_note = False  # another model is picked: the old download message is stale
            self.device.setText(self._engine_text)
        self.paths.setText(
            "" if choice is None else f"<small>{Path(choice.text_path).name}<br>{Path(choice.mmproj_path).name}</small>"
        )

    def choose_files(self) -> None:
        text, _ = QFileDialog.getOpenFileName(self, "Choose the LiveCC language model (GGUF)", "", GGUF_FILTER)
        if not text:
            return
        mmproj = guess_mmproj(Path(text))
        if mmproj is None:
            picked, _ = QFileDialog.getOpenFileName(
                self, "Choose its vision projector (mmproj GGUF)", str(Path(text).parent), GGUF_FILTER
            )
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
        texts = {
            EngineState.LOADING: f"Loading {detail}…",
            EngineState.READY: detail,
            EngineState.FAILED: "Load failed",
            EngineState.DEAD: "Engine stopped",
            EngineState.NO_ENGINE: "No model loaded",
        }
        self._engine_text = texts[state]
        self._download_note = False
        self.device.setText(texts[state])
        self.device.setProperty("state", state.value)  # the style sheet colours by state
        self.device.style().polish(self.device)
        self.restart_button.setVisible(state in (EngineState.DEAD, EngineState.FAILED))
        self.load_button.setEnabled(state is not EngineState.LOADING and self.current() is not None)

    # -- downloads -------------------------------------------------------------------

    def _download_clicked(self) -> None:
        """Ask first (size, destination, free space, time, quantization); download on the user's yes."""
        entry_id = self.catalog.currentData()
        if entry_id is None or self._downloading:
            return
        if _installer() is None:
            self.device.setText(
                "This build cannot download models yet: run "
                f"\u201clivecc-desk models download {entry_id}\u201d, then pick it here."
            )
            return
        from ui.live.download_dialog import DownloadDialog, download_planner

        planner = download_planner(entry_id)
        if planner is None:
            self._start_download(entry_id, None)
            return

        plan_for, quants, quant = planner
        self.confirm = DownloadDialog(plan_for, quants, quant, self)
        self.confirm.accepted.connect(lambda d=self.confirm: self._start_download(entry_id, d.quant()))
        self.confirm.open()

    def _start_download(self, entry_id: str, quant: str | None) -> None:
        install = _installer()
        if install is None:
            return
        self._last = (entry_id, quant)
        self._cancel.clear()
        self._downloading, self._pausing, self._paused = True, False, False
        self._download_note = False
        self.device.setText(self._engine_text)  # a retry: the last failure no longer applies
        self.progress.setRange(0, 0)
        self.progress.setFormat("Starting…")
        for w in (self.progress, self.pause_button, self.cancel_button):
            w.show()
        self.resume_button.hide()
        self.get_button.setEnabled(False)

        def work() -> None:
            try:
                self._installed_path = install(
                    entry_id, progress=self.progressed.emit, cancel=self._cancel, quant=quant
                )
            except Exception as exc:  # reported in the panel; a failed download is not a crash
                self.downloadEnded.emit(entry_id, str(exc) or type(exc).__name__)
            else:
                self.downloadEnded.emit(entry_id, "")

        self._installed_path = None
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

    def _pause_download(self) -> None:
        self._pausing = True
        self._cancel.set()
        self.progress.setFormat("Pausing…")

    def _resume_download(self) -> None:
        if self._last is not None:
            self._start_download(*self._last)

    def _cancel_download(self) -> None:
        self._pausing = False
        if self._paused:  # nothing runs: discard now
            self._paused = False
            self._finish_cancel()
            return
        self._cancel.set()
        self.progress.setFormat("Cancelling…")

    def _finish_cancel(self) -> None:
        for w in (self.progress, self.pause_button, self.resume_button, self.cancel_button):
            w.hide()
        self.get_button.setEnabled(True)
        from ui.live.download_dialog import discard_partial

        freed = discard_partial(self._last[0]) if self._last else 0
        self.device.setText(
            "Download cancelled" + (f"; {freed / 1e9:.1f} GB of partial files deleted." if freed else ".")
        )
        self._download_note = True

    def _download_ended(self, entry_id: str, error: str) -> None:
        self._downloading = False
        if self._cancel.is_set() and self._pausing:
            self._pausing, self._paused = False, True
            self.pause_button.hide()
            self.resume_button.show()
            self.progress.setFormat("Paused: %p% · Resume goes on where it stopped")
            self.device.setText(f"Download of {entry_id} paused.")
            self._download_note = True
            return
        if self._cancel.is_set():
            self.refresh()
            self._finish_cancel()
            return
        for w in (self.progress, self.pause_button, self.resume_button, self.cancel_button):
            w.hide()
        self.get_button.setEnabled(True)
        self.refresh()
        if error:
            self.device.setText(
                f"Download of {entry_id} failed: {error} Press Download to try again; it resumes where it stopped."
            )
        else:
            installed = getattr(self, "_installed_path", None)
            if installed:  # the new pair appears in the list, chosen
                for i in range(self.models.count()):
                    data = self.models.itemData(i)
                    if data is not None and data.text_path == installed:
                        self.models.setCurrentIndex(i)
            self.device.setText(f"{entry_id} is installed and chosen: press Load (or Start).")
        self._download_note = True
