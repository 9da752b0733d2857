"""The models LiveCC Desk knows how to get, and where each comes from.

Built in: the two LiveCC checkpoints the authors published on the Hugging Face
hub as safetensors (Qwen2-VL-7B architecture). Getting one means downloading
the checkpoint (~16.6 GB of bf16 weights) and converting it locally into a GGUF
pair, quantized as the user chooses.

No GGUF repository is built in: none published by the authors could be
verified, and a guessed repository name shown as fact could send users to a
wrong or malicious file. A user who trusts a GGUF repository adds it to
``catalog.json`` in the models folder::

    {"models": [{
        "id": "livecc-7b-instruct-q4",
        "title": "LiveCC 7B Instruct Q4_K_M (from someone/LiveCC-GGUF)",
        "repo": "someone/LiveCC-GGUF",
        "revision": "main",
        "model":  {"file": "LiveCC-7B-Instruct-Q4_K_M.gguf", "size": 4683073248, "sha256": "..."},
        "mmproj": {"file": "mmproj-LiveCC-7B-Instruct-f16.gguf"}
    }]}

``size`` and ``sha256`` are optional: without them a download is checked
against the hub's own record of the file (its LFS sha256). Such entries are
listed as "user-configured". A damaged ``catalog.json`` never stops the app:
its problems are reported and the built-in entries remain.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from models.errors import CatalogError
from models.hashing import SHA256_RE
from models.store import NAME_RE

CATALOG_FILE = "catalog.json"
REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")

Kind = Literal["checkpoint", "gguf"]


@dataclass(frozen=True)
class RemoteFile:
    """A file in a hub repository; ``size``/``sha256`` when known in advance."""

    filename: str
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class CatalogEntry:
    """A model that can be installed.

    kind: ``checkpoint`` (safetensors, converted locally) or ``gguf`` (ready pair).
    origin: ``built-in`` or ``user-configured`` (from the user's catalog.json).
    """

    id: str
    title: str
    repo_id: str
    kind: Kind
    origin: str
    revision: str = "main"
    description: str = ""
    model_file: RemoteFile | None = None
    mmproj_file: RemoteFile | None = None
    download_bytes: int | None = None  # approximate, for display before the hub is asked


BUILTIN: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        id="livecc-7b-instruct",
        title="LiveCC 7B Instruct",
        repo_id="chenjoya/LiveCC-7B-Instruct",
        kind="checkpoint",
        origin="built-in",
        description="Live commentary and video Q&A (the release's chat model). Recommended.",
        download_bytes=16_600_000_000,
    ),
    CatalogEntry(
        id="livecc-7b-base",
        title="LiveCC 7B Base",
        repo_id="chenjoya/LiveCC-7B-Base",
        kind="checkpoint",
        origin="built-in",
        description="The pre-trained streaming commentator, before instruction tuning.",
        download_bytes=16_600_000_000,
    ),
)


@dataclass(frozen=True)
class Catalog:
    """Built-in and user entries, and what was wrong with the user's file (if anything)."""

    entries: tuple[CatalogEntry, ...]
    problems: tuple[str, ...] = ()
    user_file: Path | None = None

    def find(self, key: str) -> CatalogEntry:
        """The entry with id (or repo id) ``key``; ``CatalogError`` listing the ids otherwise."""
        for entry in self.entries:
            if key in (entry.id, entry.repo_id):
                return entry
        known = ", ".join(e.id for e in self.entries)
        raise CatalogError(
            f"{key!r} is not in the catalog (known: {known}). A Hugging Face repository can be given as owner/name."
        )


def load_catalog(models_folder: str | Path | None) -> Catalog:
    """The built-in entries plus the valid ones of ``<models_folder>/catalog.json``."""
    if models_folder is None:
        return Catalog(BUILTIN)
    path = Path(models_folder) / CATALOG_FILE
    if not path.exists():
        return Catalog(BUILTIN, user_file=path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return Catalog(BUILTIN, (f"{path} was ignored: {exc}",), path)
    raw = data.get("models") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        return Catalog(BUILTIN, (f'{path} was ignored: it needs a "models" list.',), path)
    entries, problems = list(BUILTIN), []
    for i, item in enumerate(raw):
        try:
            entry = parse_user_entry(item)
        except CatalogError as exc:
            problems.append(f"{path.name} entry {i + 1} was ignored: {exc}")
            continue
        if any(e.id == entry.id for e in entries):
            problems.append(f"{path.name} entry {i + 1} was ignored: the id {entry.id!r} is taken.")
            continue
        entries.append(entry)
    return Catalog(tuple(entries), tuple(problems), path)


def parse_user_entry(item: Any) -> CatalogEntry:
    """One ``catalog.json`` entry, validated; raises ``CatalogError`` saying what is wrong."""
    if not isinstance(item, dict):
        raise CatalogError("an entry must be an object")
    entry_id = _text(item, "id")
    if not NAME_RE.match(entry_id):
        raise CatalogError(f"id {entry_id!r} must be letters, digits, '.', '_' or '-'")
    repo = _text(item, "repo")
    if not REPO_RE.match(repo):
        raise CatalogError(f"repo {repo!r} must look like owner/name")
    model, mmproj = _remote_file(item, "model"), _remote_file(item, "mmproj")
    return CatalogEntry(
        id=entry_id,
        title=str(item.get("title") or f"{entry_id} ({repo})"),
        repo_id=repo,
        kind="gguf",
        origin="user-configured",
        revision=str(item.get("revision") or "main"),
        description=str(item.get("description") or ""),
        model_file=model,
        mmproj_file=mmproj,
        download_bytes=(model.size + mmproj.size) if model.size and mmproj.size else None,
    )


def _text(item: dict, key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CatalogError(f'"{key}" is missing')
    return value.strip()


def _remote_file(item: dict, key: str) -> RemoteFile:
    spec = item.get(key)
    if not isinstance(spec, dict):
        raise CatalogError(f'"{key}" must be an object with a "file"')
    name = _text(spec, "file")
    if not name.endswith(".gguf") or ".." in name.split("/"):
        raise CatalogError(f"{key} file {name!r} must be a .gguf path inside the repository")
    size, sha = spec.get("size"), spec.get("sha256")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size <= 0):
        raise CatalogError(f"{key} size must be a positive whole number of bytes")
    if sha is not None and (not isinstance(sha, str) or not SHA256_RE.match(sha.lower())):
        raise CatalogError(f"{key} sha256 must be 64 hexadecimal digits")
    return RemoteFile(name, size, sha.lower() if sha else None)
