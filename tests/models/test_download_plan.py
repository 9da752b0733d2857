"""What a download costs, before it starts: sizes follow the quantization, free space is read from the disk."""

from __future__ import annotations

from models.catalog import BUILTIN, CatalogEntry, RemoteFile
from models.download_plan import SPEEDS_BPS, plan_download
from models.store import ModelStore


def test_a_checkpoint_plan_counts_the_download_and_the_conversion(tmp_path):
    store = ModelStore(tmp_path / "models")
    entry = next(e for e in BUILTIN if e.id == "livecc-7b-instruct")
    q4, q8 = plan_download(entry, store, "Q4_K_M"), plan_download(entry, store, "Q8_0")
    assert q4.download_bytes == entry.download_bytes and q4.destination == tmp_path / "models" / entry.id
    assert q4.disk_bytes > q4.download_bytes and q8.model_bytes > q4.model_bytes and q8.disk_bytes > q4.disk_bytes
    assert q4.free_bytes is not None and q4.free_bytes > 0  # the folder does not exist yet: its disk is asked
    assert len(q4.download_s) == len(SPEEDS_BPS) and q4.download_s[0] > q4.download_s[1] > 0
    assert q4.convert_s and q4.quant == "Q4_K_M"


def test_a_gguf_plan_with_unknown_sizes_says_so_and_does_not_block(tmp_path):
    entry = CatalogEntry(
        "mine",
        "Mine",
        "me/mine",
        "gguf",
        "user-configured",
        model_file=RemoteFile("m.gguf"),
        mmproj_file=RemoteFile("p.gguf"),
    )
    plan = plan_download(entry, ModelStore(tmp_path), None)
    assert plan.download_bytes is None and plan.download_s == () and plan.quant is None and plan.enough_space
