"""Resumable, cancellable, verified downloads of hub files into the models folder.

Why not ``hf_hub_download``: in huggingface_hub 2.x it downloads to a
process-unique temporary file and deletes it on any failure, so an interrupted
16 GB download starts again from zero, and a cancel (raised from a tqdm
adapter) loses everything too. LM Studio and Ollama users expect a stopped
download to continue. So metadata, authentication and errors go through
huggingface_hub (``models.hub``), and the bytes are streamed here from the URL
the hub gives, with its shared HTTP client:

- each file is written to ``<name>.part`` beside its destination, with a
  ``<name>.part.json`` noting the file's ETag; the next attempt sends
  ``Range: bytes=<part size>-`` when the ETag still matches (the same file),
  else starts over. Dropped connections are resumed the same way, a few times.
- ``cancel`` (a ``threading.Event``) is checked between 1 MiB blocks; the part
  file stays for the next attempt.
- before any byte moves, the free space is checked against everything still to
  fetch; a full disk mid-way keeps the part file and says so.
- a finished file is checked for its size and its sha256 (the catalog's, or the
  hub's ETag: sha256 for LFS files, git blob id for small files) before it
  takes its final name. A mismatch deletes it.
- a verified file is recorded (ETag, size, mtime) in ``.downloads.json`` of its
  folder, so asking again costs one HEAD request and no re-hash.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import try_to_load_from_cache
from huggingface_hub.utils import get_session

from models.catalog import RemoteFile
from models.errors import (
    AccessDeniedError,
    DownloadCancelled,
    HashMismatchError,
    NetworkError,
    NotEnoughDiskError,
    OfflineError,
    RemoteNotFoundError,
)
from models.hashing import SHA1_RE, SHA256_RE, digest_file, matches_etag
from models.hub import HubSettings, RemoteMeta, auth_headers, file_metadata, hf_hub_cache, hub_error
from models.progress import Progress, ProgressCallback, RateMeter, Throttle
from models.store import PARTIAL_SUFFIX

RECORD_FILE = ".downloads.json"
DISK_RESERVE = 64 << 20  # never fill a disk to the last byte
_MAX_STALLS = 3
_TIMEOUT = httpx2.Timeout(30.0, connect=10.0)


@dataclass(frozen=True)
class FileRequest:
    """One file to fetch: from ``repo_id`` at ``revision``, to ``dest``.

    ``expected`` carries a catalog's size/sha256 when known; ``optional`` files
    (say, ``chat_template.json``) are skipped when the repository lacks them.
    """

    repo_id: str
    filename: str
    dest: Path
    revision: str = "main"
    expected: RemoteFile | None = None
    optional: bool = False


def download_files(
    requests: Sequence[FileRequest],
    hub: HubSettings = HubSettings(),
    *,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    then_needs: Callable[[int], int] | None = None,
) -> list[Path]:
    """Fetch every requested file that is not already here and verified; return their paths.

    then_needs: given the total size of the requested files, the bytes the caller
        will write next to the same disk (a conversion), checked with the download.
    Missing optional files are left out of the result. Raises a ``DownloadError``
    subclass, ``NotEnoughDiskError`` or ``DownloadCancelled``.
    """
    if hub.is_offline():
        return [p for p in (_offline_file(r) for r in requests) if p is not None]
    plan: list[tuple[FileRequest, RemoteMeta]] = []
    for req in requests:
        try:
            meta = file_metadata(req.repo_id, req.filename, req.revision, hub)
        except RemoteNotFoundError:
            if req.optional:
                continue
            raise
        _check_expected(req, meta)
        plan.append((req, meta))
    todo = [(req, meta) for req, meta in plan if not _is_recorded(req.dest, meta)]
    needs = [(req.dest, (meta.size or 0) - _resumable_bytes(req.dest, meta)) for req, meta in todo]
    if then_needs is not None and plan:
        needs.append((plan[0][0].dest, then_needs(sum(meta.size or 0 for _, meta in plan))))
    check_disk_space(needs, "to download" if then_needs is None else "to download and convert")
    for i, (req, meta) in enumerate(todo, start=1):
        _fetch(req, meta, hub, on_progress, cancel, i, len(todo))
    return [req.dest for req, _ in plan]


def check_disk_space(needs: Sequence[tuple[Path, int]], what: str = "to download") -> None:
    """Raise ``NotEnoughDiskError`` unless each disk can take the bytes bound for it."""
    per_disk: dict[int, tuple[Path, int]] = {}
    for dest, n in needs:
        anchor = _existing_parent(dest)
        dev = anchor.stat().st_dev
        per_disk[dev] = (anchor, per_disk.get(dev, (anchor, 0))[1] + max(0, n))
    for anchor, n in per_disk.values():
        free = shutil.disk_usage(anchor).free
        if n and n + DISK_RESERVE > free:
            raise NotEnoughDiskError(
                f"Not enough disk space: {format_bytes(n)} needed {what} but only {format_bytes(free)} free "
                f"under {anchor}. Free some space or choose another models folder (--models-dir or "
                "LIVECC_DESK_MODELS)."
            )


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


# ---------------------------------------------------------------- internals
def _existing_parent(path: Path) -> Path:
    for candidate in (path.parent, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()


def _check_expected(req: FileRequest, meta: RemoteMeta) -> None:
    exp = req.expected
    if exp is None:
        return
    if exp.size is not None and meta.size is not None and exp.size != meta.size:
        raise HashMismatchError(
            f"{req.repo_id}/{req.filename} is {meta.size:,} bytes on the hub, but the "
            f"catalog expects {exp.size:,}: the repository changed. Update catalog.json."
        )
    if exp.sha256 and meta.etag and SHA256_RE.match(meta.etag) and exp.sha256 != meta.etag:
        raise HashMismatchError(
            f"{req.repo_id}/{req.filename} on the hub has sha256 {meta.etag[:12]}…, the "
            f"catalog expects {exp.sha256[:12]}…: the repository changed. Update catalog.json."
        )


def _part(dest: Path) -> tuple[Path, Path]:
    return dest.with_name(dest.name + PARTIAL_SUFFIX), dest.with_name(dest.name + PARTIAL_SUFFIX + ".json")


def _resumable_bytes(dest: Path, meta: RemoteMeta) -> int:
    part, note = _part(dest)
    try:
        noted = json.loads(note.read_text(encoding="utf-8"))
        size = part.stat().st_size
    except (OSError, ValueError):
        return 0
    if noted.get("etag") != meta.etag or (meta.size is not None and size > meta.size):
        return 0
    return size


def _records(folder: Path) -> dict:
    try:
        data = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _is_recorded(dest: Path, meta: RemoteMeta) -> bool:
    record = _records(dest.parent).get(dest.name)
    try:
        stat = dest.stat()
    except OSError:
        return False
    return (
        isinstance(record, dict)
        and record.get("etag") == meta.etag
        and record.get("size") == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
        and (meta.size is None or meta.size == stat.st_size)
    )


def _record(dest: Path, etag: str | None, sha256: str | None) -> None:
    records = _records(dest.parent)
    stat = dest.stat()
    records[dest.name] = {"etag": etag, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
    tmp = dest.parent / f".{RECORD_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(records, indent=1), encoding="utf-8")
    os.replace(tmp, dest.parent / RECORD_FILE)


def recorded_sha256(dest: Path) -> str | None:
    """The sha256 noted when ``dest`` was downloaded and verified (None if not known)."""
    record = _records(dest.parent).get(dest.name)
    return record.get("sha256") if isinstance(record, dict) else None


def _fetch(
    req: FileRequest,
    meta: RemoteMeta,
    hub: HubSettings,
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
    index: int,
    count: int,
) -> None:
    dest = req.dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    if _already_here(dest, meta, on_progress, cancel):
        return
    part, note = _part(dest)
    if _resumable_bytes(dest, meta) == 0:
        part.unlink(missing_ok=True)
    note.write_text(
        json.dumps({"etag": meta.etag, "size": meta.size, "repo": req.repo_id, "file": req.filename}), encoding="utf-8"
    )
    meter, throttle = RateMeter(), Throttle(0.1)

    def report(done: int, final: bool = False) -> None:
        if on_progress is not None and throttle.ready(final):
            rate = meter.update(done)
            on_progress(
                Progress(
                    "download", req.filename, done, meta.size, rate, RateMeter.eta(done, meta.size, rate), index, count
                )
            )

    stalls = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if meta.size is not None and have >= meta.size:
            break
        try:
            got = _stream_into(part, have, meta, hub, report, cancel)
        except (httpx2.TransportError, ConnectionError, TimeoutError) as exc:
            stalls += 1
            if stalls > _MAX_STALLS:
                raise hub_error(exc, req.repo_id, req.filename, req.revision, hub) from exc
            continue
        except AccessDeniedError:
            # A CDN link is signed and expires (a long download, a resume hours later): ask the hub anew.
            if stalls >= _MAX_STALLS or _on_hub(meta.url, hub):
                raise
            stalls += 1
            fresh = file_metadata(req.repo_id, req.filename, req.revision, hub)
            if fresh.etag != meta.etag:
                part.unlink(missing_ok=True)
            meta = fresh
            continue
        if meta.size is None:
            break
        stalls = 0 if got else stalls + 1
        if stalls > _MAX_STALLS:
            raise NetworkError(
                f"The server keeps sending no data for {req.filename}; try again later "
                "(the download resumes where it stopped)."
            )
    report(part.stat().st_size, final=True)
    _verify_and_place(req, meta, part, note, on_progress, cancel)


def _on_hub(url: str, hub: HubSettings) -> bool:
    return httpx2.URL(url).host == httpx2.URL(hub.resolved_endpoint()).host


def _already_here(
    dest: Path, meta: RemoteMeta, on_progress: ProgressCallback | None, cancel: threading.Event | None
) -> bool:
    """A complete file with no record (copied in, or the record was lost): keep it if it is the right one."""
    try:
        size = dest.stat().st_size
    except OSError:
        return False
    if meta.etag is None or meta.size is None or size != meta.size:
        return False
    etag = meta.etag.lower()
    if not (SHA256_RE.match(etag) or SHA1_RE.match(etag)):
        return False
    if not matches_etag(dest, meta.etag, on_progress=on_progress, cancel=cancel, label=dest.name):
        return False
    _record(dest, meta.etag, meta.etag if SHA256_RE.match(meta.etag) else None)
    return True


def _stream_into(part: Path, have: int, meta: RemoteMeta, hub: HubSettings, report, cancel) -> int:
    """Append the bytes after ``have`` to ``part``; return how many arrived."""
    headers = auth_headers(hub, meta.url)
    if have:
        headers["Range"] = f"bytes={have}-"
    got = 0
    with get_session().stream("GET", meta.url, headers=headers, follow_redirects=True, timeout=_TIMEOUT) as resp:
        if resp.status_code == 416:  # our part is not a prefix of this file: start over
            part.unlink(missing_ok=True)
            return 0
        if resp.status_code >= 400:
            resp.read()
            raise hub_error(_http_error(resp), meta.repo_id, meta.filename, meta.revision, hub)
        if have and resp.status_code != 206:
            have = 0  # the server ignored Range: it sends the whole file
        try:
            with open(part, "ab" if have else "wb") as fh:
                for block in resp.iter_bytes():  # as received: a drop loses nothing already read
                    if cancel is not None and cancel.is_set():
                        raise DownloadCancelled(
                            f"Download of {meta.filename} cancelled; it resumes where it stopped next time."
                        )
                    fh.write(block)
                    got += len(block)
                    report(have + got)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise NotEnoughDiskError(
                    f"The disk filled up while downloading {meta.filename}; free some "
                    "space and download again: it resumes where it stopped."
                ) from exc
            raise
    return got


def _http_error(resp: httpx2.Response) -> Exception:
    from huggingface_hub.utils import hf_raise_for_status

    try:
        hf_raise_for_status(resp)
    except Exception as exc:  # noqa: BLE001 - returned for translation
        return exc
    return NetworkError(f"The server answered {resp.status_code}.")


def _verify_and_place(
    req: FileRequest,
    meta: RemoteMeta,
    part: Path,
    note: Path,
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> None:
    size = part.stat().st_size
    expected_size = meta.size if meta.size is not None else (req.expected.size if req.expected else None)
    bad = None
    if expected_size is not None and size != expected_size:
        bad = f"it is {size:,} bytes instead of {expected_size:,}"
    sha256 = None
    if bad is None:
        want = req.expected.sha256 if req.expected and req.expected.sha256 else None
        if not want and meta.etag and SHA256_RE.match(meta.etag):
            want = meta.etag
        if want:
            sha256 = digest_file(part, "sha256", on_progress=on_progress, cancel=cancel, label=req.filename)
            if sha256 != want:
                bad = f"its sha256 is {sha256[:12]}…, expected {want[:12]}…"
        elif meta.etag and not matches_etag(
            part, meta.etag, on_progress=on_progress, cancel=cancel, label=req.filename
        ):
            bad = "its content does not match the hub's ETag"
    if bad is not None:
        part.unlink(missing_ok=True)
        note.unlink(missing_ok=True)
        raise HashMismatchError(f"{req.filename} arrived damaged ({bad}); it was deleted. Download again.")
    os.replace(part, req.dest)
    note.unlink(missing_ok=True)
    _record(req.dest, meta.etag, sha256)


def _offline_file(req: FileRequest) -> Path | None:
    """The file from disk in offline mode: already downloaded, or copied from the HF cache."""
    if req.dest.is_file() and _records(req.dest.parent).get(req.dest.name):
        return req.dest
    cached = try_to_load_from_cache(req.repo_id, req.filename, cache_dir=str(hf_hub_cache()), revision=req.revision)
    if isinstance(cached, str) and os.path.isfile(cached):
        blob = Path(os.path.realpath(cached))
        etag = blob.name
        req.dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = req.dest.with_name(req.dest.name + PARTIAL_SUFFIX)
        shutil.copyfile(blob, tmp)
        if not matches_etag(tmp, etag) or (
            req.expected and req.expected.sha256 and digest_file(tmp) != req.expected.sha256
        ):
            tmp.unlink(missing_ok=True)
            raise HashMismatchError(
                f"The cached copy of {req.repo_id}/{req.filename} in {hf_hub_cache()} is "
                "damaged; go online and download it again."
            )
        os.replace(tmp, req.dest)
        _record(req.dest, etag, etag if SHA256_RE.match(etag) else None)
        return req.dest
    if req.optional:
        return None
    raise OfflineError(
        f"HF_HUB_OFFLINE is set and {req.repo_id}/{req.filename} is neither in the models "
        f"folder nor in the Hugging Face cache ({hf_hub_cache()}). Unset HF_HUB_OFFLINE to "
        "download it."
    )
