"""Asking before a download: what it costs (``models.download_plan``) and which quantization.

Opened by the model panel's Download button; nothing moves until the user presses
the dialog's Download button. The numbers follow the quantization chosen. A
cancelled download's partial files are deleted here too (``discard_partial``).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from app.timefmt import duration
from models.download_plan import SPEEDS_BPS, DownloadPlan

#: What each quantization means to a user (size and quality), for the choice.
QUANT_NOTES = {
    "Q4_K_M": "smallest that keeps LiveCC's quality (recommended)",
    "Q5_K_M": "a little better, larger",
    "Q8_0": "near-original quality, twice the size",
    "F16": "original quality, largest",
}


def _gb(size: int | None) -> str:
    return "unknown until the download starts" if size is None else f"{size / 1e9:.1f} GB"


def _eta(plan: DownloadPlan) -> str:
    if not plan.download_s:
        return "unknown until the download starts"
    speeds = ", ".join(f"~{duration(s)} at {bps / 1e6:.0f} Mbit/s" for s, bps in zip(plan.download_s, SPEEDS_BPS))
    convert = f"; then ~{duration(plan.convert_s)} converting on this computer" if plan.convert_s else ""
    return f"download {speeds}{convert} (h:mm:ss, estimates)"


def download_planner(entry_id: str):
    """``plan(quant)`` for the confirmation, the quantizations and the default; ``None`` if unavailable."""
    try:
        from models.catalog import load_catalog
        from models.convert import quant_choices
        from models.download_plan import plan_download
        from models.quantize import DEFAULT_QUANT
        from models.store import ModelStore

        store = ModelStore()
        entry = load_catalog(store.root).find(entry_id)
    except Exception:
        return None
    quant = DEFAULT_QUANT if entry.kind == "checkpoint" else None
    return (lambda q: plan_download(entry, store, q)), quant_choices(), quant


def discard_partial(entry_id: str) -> int:
    """Delete the ``.part`` files of ``entry_id``'s download; how many bytes were freed."""
    try:
        from models.catalog import load_catalog
        from models.store import ModelStore

        store = ModelStore()
        entry = load_catalog(store.root).find(entry_id)
        folders = (store.folder_for(entry.id), store.source_folder(entry.repo_id))
        freed = 0
        for part in store.partial_downloads():
            if any(folder in part.parents for folder in folders):
                freed += part.stat().st_size
                part.unlink(missing_ok=True)
        return freed
    except Exception:
        return 0


class DownloadDialog(QDialog):
    """Shows a plan and the quantization choice; ``quant()`` is the choice once accepted."""

    def __init__(
        self,
        plan_for: Callable[[str | None], DownloadPlan],
        quants: tuple[str, ...],
        default_quant: str | None,
        parent: QWidget | None = None,
    ) -> None:
        """``plan_for(quant)`` gives the plan for a quantization (None for a ready GGUF entry)."""
        super().__init__(parent, objectName="downloadDialog")
        self._plan_for = plan_for
        plan = plan_for(default_quant)
        self.setWindowTitle(f"Download {plan.title}?")
        self.quants = QComboBox(objectName="quantCombo")
        for q in quants:
            self.quants.addItem(f"{q} — {QUANT_NOTES[q]}" if q in QUANT_NOTES else q, q)
        if default_quant is not None:
            self.quants.setCurrentIndex(max(0, self.quants.findData(default_quant)))
        self.quants.setVisible(plan.quant is not None)
        self.size = QLabel(objectName="downloadSize")
        self.disk = QLabel(objectName="downloadDisk", wordWrap=True)
        self.destination = QLabel(objectName="downloadDestination", wordWrap=True)
        self.free = QLabel(objectName="downloadFree", wordWrap=True)
        self.time = QLabel(objectName="downloadTime", wordWrap=True)
        form = QFormLayout()
        if plan.quant is not None:
            form.addRow("Quantization", self.quants)
        form.addRow("Download", self.size)
        form.addRow("Space needed", self.disk)
        form.addRow("Saved in", self.destination)
        form.addRow("Free there", self.free)
        form.addRow("Time", self.time)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setObjectName("downloadConfirm")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        note = QLabel("It can be paused and resumes where it stopped, also after closing the app.", wordWrap=True)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(note)
        box.addWidget(self.buttons)
        self.quants.currentIndexChanged.connect(lambda _i: self._show(self._plan_for(self.quant())))
        self._show(plan)

    def quant(self) -> str | None:
        return self.quants.currentData() if self.plan.quant is not None else None

    def _show(self, plan: DownloadPlan) -> None:
        self.plan = plan
        self.size.setText(_gb(plan.download_bytes))
        kept = f"; the model then takes {_gb(plan.model_bytes)}" if plan.model_bytes and plan.quant else ""
        self.disk.setText(
            f"{_gb(plan.disk_bytes)} free while it is converted{kept}" if plan.quant else _gb(plan.disk_bytes)
        )
        self.destination.setText(str(plan.destination))
        self.free.setText(
            _gb(plan.free_bytes)
            + (
                ""
                if plan.enough_space
                else " — not enough: free some space, or change the models folder (LIVECC_DESK_MODELS)"
            )
        )
        self.time.setText(_eta(plan))
        self.ok_button.setText(f"Download {_gb(plan.download_bytes)}" if plan.download_bytes else "Download")
        self.ok_button.setEnabled(plan.enough_space)
