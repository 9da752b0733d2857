"""The models folder: where LiveCC Desk keeps models, and what is installed in it.

One documented folder holds everything (``livecc-desk models list`` prints it):

- the user data dir's ``models`` (``~/.local/share/livecc-desk/models`` on Linux,
  ``%LOCALAPPDATA%\\livecc-desk\\models`` on Windows, ``~/Library/Application
  Support/livecc-desk/models`` on macOS), or ``$LIVECC_DESK_MODELS``, or the
  CLI's ``--models-dir``, in rising priority.
- ``<model-id>/``: one installed model: text GGUF(s), the mmproj, ``manifest.json``
  (where it came from, each file's size and sha256, so ``verify`` can tell damage).
  Several quantizations of one model share the folder and its mmproj; they are
  listed as ``<model-id>:<QUANT>``.
- ``sources/<owner>--<repo>/``: Hugging Face checkpoints downloaded for conversion.
- ``catalog.json``: the user's own hub GGUF repositories (see ``models.catalog``).
- ``local.json``: GGUF pairs that live elsewhere, registered with ``add-local``
  (removing one unregisters it; the files are the user's and stay).

A folder without a manifest (GGUFs dropped in by hand) is found by reading the
GGUF headers: any folder holding a ``qwen2vl`` model and a ``clip`` projector is
a model.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from platformdirs import user_data_dir

from models.engine.gguf_check import check_model_pair
from models.errors import CatalogError
from models.gguf_info import GgufSummary, summarize

ENV_MODELS_DIR = "LIVECC_DESK_MODELS"
#: The app's name, as ``app.paths.APP_NAME`` (``models`` cannot import ``app``; a test checks they agree).
APP_NAME = "livecc-desk"
MANIFEST_FILE = "manifest.json"
LOCAL_FILE = "local.json"
SOURCES_DIR = "sources"
PARTIAL_SUFFIX = ".part"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def default_models_dir() -> Path:
    """``models`` in the app's data folder (``app.paths.data_dir()``), computed the same way."""
    return Path(user_data_dir(APP_NAME, appauthor=False)) / "models"


def models_dir(override: str | os.PathLike | None = None) -> Path:
    """The models folder: ``override`` (``--models-dir``), else ``$LIVECC_DESK_MODELS``, else the default."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get(ENV_MODELS_DIR, "").strip()
    return Path(env).expanduser() if env else default_models_dir()


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise CatalogError(
            f"{name!r} cannot name a model: use letters, digits, '.', '_' and '-' "
            "(at most 80, starting with a letter or digit)."
        )
    return name


@dataclass(frozen=True)
class ManifestFile:
    """One file of an installed model, as it was when written or downloaded."""

    role: str  # "model" or "mmproj"
    file: str
    size: int
    sha256: str | None = None


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` records for a model folder."""

    model_id: str
    source: str  # "chenjoya/LiveCC-7B-Instruct (converted)", "owner/repo", ...
    files: tuple[ManifestFile, ...] = ()
    title: str = ""

    def with_file(self, entry: ManifestFile) -> Manifest:
        kept = tuple(f for f in self.files if f.file != entry.file)
        return Manifest(self.model_id, self.source, kept + (entry,), self.title)

    def without(self, file: str) -> Manifest:
        return Manifest(self.model_id, self.source, tuple(f for f in self.files if f.file != file), self.title)

    def file(self, name: str) -> ManifestFile | None:
        return next((f for f in self.files if f.file == name), None)


@dataclass(frozen=True)
class InstalledModel:
    """A usable model pair. ``name`` is what ``--model NAME`` and the GUI refer to."""

    name: str
    text_path: Path
    mmproj_path: Path
    quant: str
    size_bytes: int
    source: str
    managed: bool  # True: lives in the models folder; False: a registered local pair
    manifest: Manifest | None = field(default=None, compare=False)


@dataclass(frozen=True)
class StoredCheckpoint:
    """A Hugging Face checkpoint under ``sources/``."""

    repo_id: str
    folder: Path
    size_bytes: int
    partial_bytes: int


def _atomic_write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class ModelStore:
    """The models folder. Cheap to create; every query reads the disk afresh."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = models_dir(root)

    # ------------------------------------------------------------------ paths
    def folder_for(self, model_id: str) -> Path:
        return self.root / check_name(model_id)

    def source_folder(self, repo_id: str) -> Path:
        return self.root / SOURCES_DIR / repo_id.replace("/", "--")

    # -------------------------------------------------------------- manifests
    def read_manifest(self, folder: Path) -> Manifest | None:
        try:
            data = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
            files = tuple(
                ManifestFile(str(f["role"]), str(f["file"]), int(f["size"]), f.get("sha256"))
                for f in data.get("files", [])
            )
            return Manifest(str(data["model_id"]), str(data.get("source", "")), files, str(data.get("title", "")))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def write_manifest(self, folder: Path, manifest: Manifest) -> None:
        data = asdict(manifest)
        data["format"] = 1
        _atomic_write_json(folder / MANIFEST_FILE, data)

    # ------------------------------------------------------------- listing
    def installed(self) -> list[InstalledModel]:
        """Every usable pair: model folders first (by name), then registered local pairs."""
        found: list[InstalledModel] = []
        if self.root.is_dir():
            for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
                if folder.name == SOURCES_DIR or folder.name.startswith("."):
                    continue
                found.extend(self._folder_models(folder))
        found.extend(self._local_models())
        return found

    def _folder_models(self, folder: Path) -> list[InstalledModel]:
        summaries = [summarize(p) for p in sorted(folder.glob("*.gguf"))]
        texts = [s for s in summaries if s.is_text_model]
        projectors = [s for s in summaries if s.is_projector and s.has_vision]
        if not texts or not projectors:
            return []
        manifest = self.read_manifest(folder)
        out = []
        for text in texts:
            mmproj = _matching_projector(text, projectors)
            quant = text.file_type or "unknown"
            name = folder.name if len(texts) == 1 else f"{folder.name}:{quant}"
            source = manifest.source if manifest else "found in the models folder"
            out.append(
                InstalledModel(
                    name,
                    text.path,
                    mmproj.path,
                    quant,
                    _size(text.path) + _size(mmproj.path),
                    source,
                    managed=True,
                    manifest=manifest,
                )
            )
        return out

    def _local_models(self) -> list[InstalledModel]:
        out = []
        for entry in self._read_local():
            text, mmproj = Path(entry["model"]), Path(entry["mmproj"])
            summary = summarize(text)
            out.append(
                InstalledModel(
                    entry["name"],
                    text,
                    mmproj,
                    summary.file_type or "?",
                    _size(text) + _size(mmproj),
                    f"local files ({text.parent})",
                    managed=False,
                )
            )
        return out

    def _read_local(self) -> list[dict]:
        try:
            data = json.loads((self.root / LOCAL_FILE).read_text(encoding="utf-8"))
            entries = data.get("models", [])
            return [e for e in entries if isinstance(e, dict) and {"name", "model", "mmproj"} <= e.keys()]
        except (OSError, ValueError, AttributeError):
            return []

    def checkpoints(self) -> list[StoredCheckpoint]:
        base = self.root / SOURCES_DIR
        if not base.is_dir():
            return []
        out = []
        for folder in sorted(p for p in base.iterdir() if p.is_dir()):
            files = [p for p in folder.rglob("*") if p.is_file()]
            partial = sum(_size(p) for p in files if p.name.endswith(PARTIAL_SUFFIX))
            out.append(
                StoredCheckpoint(
                    folder.name.replace("--", "/", 1), folder, sum(_size(p) for p in files) - partial, partial
                )
            )
        return out

    def partial_downloads(self) -> list[Path]:
        """``.part`` files of interrupted downloads (the next download resumes them)."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.rglob(f"*{PARTIAL_SUFFIX}") if p.is_file())

    # -------------------------------------------------------------- lookups
    def resolve(self, name: str) -> InstalledModel:
        """The installed model called ``name`` (``id`` alone picks the only quantization)."""
        models = self.installed()
        exact = [m for m in models if m.name == name]
        if exact:
            return exact[0]
        variants = [m for m in models if m.managed and m.name.split(":", 1)[0] == name]
        if len(variants) == 1:
            return variants[0]
        if variants:
            raise CatalogError(
                f"{name} is installed in several quantizations; name one: " + ", ".join(m.name for m in variants) + "."
            )
        known = ", ".join(m.name for m in models) or "none yet"
        raise CatalogError(
            f"No installed model is called {name!r} (installed: {known}). See `livecc-desk models list`."
        )

    # ----------------------------------------------------------- changes
    def add_local(self, name: str, text_path: str | os.PathLike, mmproj_path: str | os.PathLike) -> InstalledModel:
        """Register a GGUF pair that stays where it is; both files are checked first."""
        check_name(name)
        pair = check_model_pair(text_path, mmproj_path)
        if any(m.name == name for m in self.installed()):
            raise CatalogError(f"A model called {name!r} already exists; choose another name or remove it first.")
        entries = [e for e in self._read_local() if e["name"] != name]
        entries.append(
            {"name": name, "model": str(pair.text_path.resolve()), "mmproj": str(pair.mmproj_path.resolve())}
        )
        _atomic_write_json(self.root / LOCAL_FILE, {"models": entries})
        return self.resolve(name)

    def remove(self, name: str) -> list[Path]:
        """Remove an installed model, a checkpoint (``owner/repo``) or a local registration.

        Returns the paths deleted (a local registration deletes none). A folder's
        mmproj and manifest go with its last text model.
        """
        checkpoint = next((c for c in self.checkpoints() if c.repo_id == name), None)
        if checkpoint is not None:
            shutil.rmtree(checkpoint.folder)
            return [checkpoint.folder]
        model = self.resolve(name)
        if not model.managed:
            entries = [e for e in self._read_local() if e["name"] != model.name]
            _atomic_write_json(self.root / LOCAL_FILE, {"models": entries})
            return []
        folder = model.text_path.parent
        siblings = [m for m in self._folder_models(folder) if m.text_path != model.text_path]
        if not siblings:
            shutil.rmtree(folder)
            return [folder]
        removed = [model.text_path]
        model.text_path.unlink(missing_ok=True)
        for part in folder.glob(model.text_path.name + PARTIAL_SUFFIX + "*"):
            part.unlink(missing_ok=True)
        manifest = self.read_manifest(folder)
        if manifest is not None:
            self.write_manifest(folder, manifest.without(model.text_path.name))
        return removed


def _matching_projector(text: GgufSummary, projectors: list[GgufSummary]) -> GgufSummary:
    """The projector whose output width fits the text model (the first one if none says)."""
    for p in projectors:
        if p.projection_dim and p.projection_dim == text.n_embd:
            return p
    return projectors[0]
