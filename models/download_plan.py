"""What a download will cost, told before it starts: size, destination, free space, time.

The desktop app's Download button shows this and asks first (as LM Studio does):
a 16.6 GB download plus a local conversion is not something to start on one
click. Times are estimates at stated speeds, never measured promises.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from models.catalog import CatalogEntry
from models.quantize import QUANT_TYPES, normalize_quant
from models.store import ModelStore

#: Link speeds the estimate is given for, in bits per second (a typical home line, a fast one).
SPEEDS_BPS = (50e6, 300e6)
#: Rough conversion + quantization speed of a desktop CPU, bytes of checkpoint per second.
CONVERT_BPS = 25e6
MMPROJ_BYTES = 1_350_000_000  # Qwen2-VL-7B's vision projector at f16


@dataclass(frozen=True)
class DownloadPlan:
    """What installing ``entry_id`` takes. Sizes in bytes; ``None`` where not known before asking the hub."""

    entry_id: str
    title: str
    quant: str | None  # None for a ready GGUF entry
    download_bytes: int | None
    disk_bytes: int | None  # peak space needed (download plus conversion)
    model_bytes: int | None  # what stays as the model when done
    destination: Path
    free_bytes: int | None
    download_s: tuple[float, ...]  # at each of SPEEDS_BPS; empty when the size is unknown
    convert_s: float | None

    @property
    def enough_space(self) -> bool:
        return self.free_bytes is None or self.disk_bytes is None or self.free_bytes >= self.disk_bytes


def free_space(path: Path) -> int | None:
    """Free bytes on the disk that holds ``path`` (its nearest existing parent)."""
    for folder in (path, *path.parents):
        if folder.exists():
            try:
                return shutil.disk_usage(folder).free
            except OSError:
                return None
    return None


def plan_download(entry: CatalogEntry, store: ModelStore, quant: str | None = None) -> DownloadPlan:
    """The plan for ``entry`` in ``store`` with ``quant`` (checkpoints; default Q4_K_M)."""
    from models.install import conversion_bytes
    from models.quantize import DEFAULT_QUANT

    destination = store.folder_for(entry.id)
    if entry.kind == "gguf":
        sizes = [f.size for f in (entry.model_file, entry.mmproj_file) if f is not None]
        known = len(sizes) == 2 and all(s is not None for s in sizes)
        total = sum(s for s in sizes if s is not None) if known else entry.download_bytes
        return DownloadPlan(
            entry.id, entry.title, None, total, total, total, destination, free_space(destination), _times(total), None
        )
    quant = (quant or DEFAULT_QUANT).upper()
    download = entry.download_bytes
    if download is None:
        return DownloadPlan(
            entry.id, entry.title, quant, None, None, None, destination, free_space(destination), (), None
        )
    bits = QUANT_TYPES[normalize_quant(quant)][1] if quant in QUANT_TYPES else 32.0 if quant == "F32" else 16.0
    model = int(download / 2 * bits / 8) + MMPROJ_BYTES  # bf16 checkpoint: two bytes per weight
    return DownloadPlan(
        entry.id,
        entry.title,
        quant,
        download,
        download + conversion_bytes(download, quant),
        model,
        destination,
        free_space(store.root),
        _times(download),
        download / CONVERT_BPS,
    )


def _times(size: int | None) -> tuple[float, ...]:
    return () if size is None else tuple(size * 8 / bps for bps in SPEEDS_BPS)
