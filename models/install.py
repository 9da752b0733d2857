"""Install a catalog entry into the models folder: what ``models download`` and the GUI's button do.

A GGUF entry is two downloads (model + mmproj) into ``<models>/<id>/``. A
checkpoint entry (the LiveCC releases) is a download of the safetensors
checkpoint into ``<models>/sources/`` followed by a local conversion and
quantization into ``<models>/<id>/``; the free space for both is checked
before the first byte moves. Everything is resumable: asking again skips what
is complete and verified, resumes partial files, and converts only if the
requested quantization is not there yet.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from models.catalog import CatalogEntry, RemoteFile
from models.convert import UNQUANTIZED, convert_checkpoint, output_names
from models.download import FileRequest, download_files, recorded_sha256
from models.engine.gguf_check import check_model_pair
from models.errors import CatalogError
from models.hub import HubSettings
from models.progress import ProgressCallback
from models.quantize import QUANT_TYPES, normalize_quant
from models.safetensors_reader import read_json
from models.store import InstalledModel, Manifest, ManifestFile, ModelStore, check_name

CHECKPOINT_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json")
CHECKPOINT_OPTIONAL = (
    "model.safetensors.index.json",
    "preprocessor_config.json",
    "chat_template.json",
    "chat_template.jinja",
    "generation_config.json",
    "vocab.json",
    "merges.txt",
)


@dataclass(frozen=True)
class InstallOptions:
    """How to install.

    quant: quantization of the text model for checkpoint entries (``Q4_K_M`` default).
    keep_checkpoint: keep the downloaded safetensors after converting (to requantize
        without downloading again); ``False`` deletes them once the GGUF is written.
    threads: CPU threads for quantization (default: all).
    """

    quant: str = "Q4_K_M"
    keep_checkpoint: bool = True
    threads: int | None = None


def adhoc_entry(
    repo_id: str, model_file: str | None = None, mmproj_file: str | None = None, revision: str = "main"
) -> CatalogEntry:
    """An entry for a repository given on the command line (``owner/name``)."""
    entry_id = check_name(repo_id.split("/")[-1].lower())
    if model_file or mmproj_file:
        if not (model_file and mmproj_file):
            raise CatalogError("A GGUF repository needs both --file (the model) and --mmproj-file.")
        return CatalogEntry(
            entry_id,
            repo_id,
            repo_id,
            "gguf",
            "command line",
            revision,
            model_file=RemoteFile(model_file),
            mmproj_file=RemoteFile(mmproj_file),
        )
    return CatalogEntry(entry_id, repo_id, repo_id, "checkpoint", "command line", revision)


def install(
    entry: CatalogEntry,
    store: ModelStore,
    options: InstallOptions = InstallOptions(),
    hub: HubSettings = HubSettings(),
    *,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> InstalledModel:
    """Download (and for checkpoints convert) ``entry``; return the installed pair."""
    if entry.kind == "gguf":
        return _install_gguf(entry, store, hub, on_progress, cancel)
    return _install_checkpoint(entry, store, options, hub, on_progress, cancel)


def download_checkpoint(
    repo_id: str,
    folder: Path,
    revision: str = "main",
    hub: HubSettings = HubSettings(),
    *,
    quant: str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Fetch a safetensors checkpoint (config, tokenizer, every shard) into ``folder``.

    With ``quant``, the disk check also counts the conversion that will follow.
    """
    small = [FileRequest(repo_id, f, folder / f, revision) for f in CHECKPOINT_FILES]
    small += [FileRequest(repo_id, f, folder / f, revision, optional=True) for f in CHECKPOINT_OPTIONAL]
    got = download_files(small, hub, on_progress=on_progress, cancel=cancel)
    index = folder / "model.safetensors.index.json"
    if index in got:
        weight_map = read_json(index, index.name).get("weight_map") or {}
        shards = sorted({str(v) for v in weight_map.values()})
    else:
        shards = ["model.safetensors"]
    for shard in shards:
        if PurePosixPath(shard).name != shard:
            raise CatalogError(f"{repo_id}'s index names an odd shard path {shard!r}; refusing to download it.")
    then = None if quant is None else (lambda total: conversion_bytes(total, quant))
    download_files(
        [FileRequest(repo_id, s, folder / s, revision) for s in shards],
        hub,
        on_progress=on_progress,
        cancel=cancel,
        then_needs=then,
    )
    return folder


def conversion_bytes(checkpoint_bytes: int, quant: str) -> int:
    """Disk a conversion of a bf16/f16 checkpoint of that size needs at its peak (f16 written twice)."""
    if quant.upper() in UNQUANTIZED:
        return 2 * checkpoint_bytes
    return 2 * checkpoint_bytes + int(checkpoint_bytes / 2 * QUANT_TYPES[normalize_quant(quant)][1] / 8)


def _install_gguf(
    entry: CatalogEntry,
    store: ModelStore,
    hub: HubSettings,
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> InstalledModel:
    assert entry.model_file is not None and entry.mmproj_file is not None
    folder = store.folder_for(entry.id)
    requests = []
    for spec in (entry.model_file, entry.mmproj_file):
        name = PurePosixPath(spec.filename).name
        requests.append(FileRequest(entry.repo_id, spec.filename, folder / name, entry.revision, expected=spec))
    text_path, mmproj_path = download_files(requests, hub, on_progress=on_progress, cancel=cancel)
    check_model_pair(text_path, mmproj_path)
    manifest = store.read_manifest(folder) or Manifest(entry.id, f"{entry.repo_id}@{entry.revision}", (), entry.title)
    for role, path in (("model", text_path), ("mmproj", mmproj_path)):
        manifest = manifest.with_file(ManifestFile(role, path.name, path.stat().st_size, recorded_sha256(path)))
    store.write_manifest(folder, manifest)
    return _installed(store, text_path)


def _install_checkpoint(
    entry: CatalogEntry,
    store: ModelStore,
    options: InstallOptions,
    hub: HubSettings,
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> InstalledModel:
    quant = options.quant.upper() if options.quant.upper() in UNQUANTIZED else normalize_quant(options.quant)
    folder = store.folder_for(entry.id)
    stem = entry.repo_id.split("/")[-1]
    _base, final_name, _mmproj = output_names(stem, quant, "f16")
    if (folder / final_name).is_file() and (manifest := store.read_manifest(folder)) and manifest.file(final_name):
        return _installed(store, folder / final_name)  # converted before: nothing to do
    source = store.source_folder(entry.repo_id)
    download_checkpoint(entry.repo_id, source, entry.revision, hub, quant=quant, on_progress=on_progress, cancel=cancel)
    result = convert_checkpoint(
        source,
        folder,
        quant=quant,
        stem=stem,
        threads=options.threads,
        source=f"{entry.repo_id}@{entry.revision}",
        on_progress=on_progress,
        cancel=cancel,
    )
    if not options.keep_checkpoint:
        shutil.rmtree(source, ignore_errors=True)
    return _installed(store, result.text_path)


def _installed(store: ModelStore, text_path: Path) -> InstalledModel:
    for model in store.installed():
        if model.managed and model.text_path == text_path:
            return model
    raise CatalogError(
        f"{text_path} was written but is not usable as a model pair; run `livecc-desk models verify` on it."
    )
