"""File digests the hub publishes, computed in blocks with progress and cancellation.

The hub identifies a large (LFS) file by its sha256 and a small (git) file by
its git blob id, a sha1 over ``b"blob <size>\\0"`` and the content. Its ETag is
one or the other, so a downloaded file can always be checked against what the
server said it was.
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path

from models.errors import OperationCancelled
from models.progress import Progress, ProgressCallback, RateMeter, Throttle

_BLOCK = 4 << 20
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
SHA1_RE = re.compile(r"^[0-9a-f]{40}$")


def digest_file(
    path: str | Path,
    algorithm: str = "sha256",
    *,
    git_blob: bool = False,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    label: str | None = None,
) -> str:
    """Hex digest of a file; ``git_blob`` prefixes the git blob header (with ``sha1``).

    ``label`` names the file in progress reports (default: its name).
    """
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.new(algorithm)
    if git_blob:
        digest.update(b"blob %d\0" % size)
    meter, throttle, done = RateMeter(), Throttle(0.2), 0
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            if cancel is not None and cancel.is_set():
                raise OperationCancelled(f"Checking {label or path.name} was cancelled.")
            digest.update(block)
            done += len(block)
            if on_progress is not None and throttle.ready(done == size):
                rate = meter.update(done)
                on_progress(Progress("hash", label or path.name, done, size, rate, RateMeter.eta(done, size, rate)))
    return digest.hexdigest()


def matches_etag(path: str | Path, etag: str, **kw) -> bool:
    """Whether ``path`` is the file the hub's ETag names (a sha256 or a git blob id).

    An ETag of another form (some proxies) cannot be checked: ``True``, and the
    size check alone stands.
    """
    etag = etag.strip('"').lower()
    if SHA256_RE.match(etag):
        return digest_file(path, "sha256", **kw) == etag
    if SHA1_RE.match(etag):
        return digest_file(path, "sha1", git_blob=True, **kw) == etag
    return True
