"""Files that are whole or absent: a crash, a full disk or a cancel never leaves half of one.

Exports and the review store write a hidden temporary file beside the target,
``fsync`` it and rename it over the target (atomic on every desktop OS when
both are in one folder).
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from pathlib import Path

from app.errors import OutputError

BINARY = getattr(os, "O_BINARY", 0)  # Windows would otherwise translate newlines


def os_failure(path: Path, exc: OSError, action: str = "write") -> OutputError:
    """``OSError`` as a user-facing error: ``Cannot <action> <path>: <reason>. ...``"""
    reason = {
        errno.ENOSPC: "the disk is full",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EROFS: "the disk is read-only",
        errno.ENOENT: "its folder does not exist",
    }.get(exc.errno or 0, (exc.strerror or str(exc)).lower())
    return OutputError(f"Cannot {action} {path}: {reason}. Choose another place to save it.")


MIN_FREE_BYTES = 1 << 20  # below this the disk counts as full: the first write would fail


def resolve_output(path: str | Path, what: str = "") -> Path:
    """The file an output named ``path`` really writes, checked before any work is done.

    A symlink is written through: the file it points to is updated and the link
    stays. A folder, a device, a FIFO or a socket is refused (writing an export
    "to /dev/null" must not replace the device node), as are a missing folder and
    a full disk, so a mistyped or unusable output costs a second, not an hour of
    commentary. ``what`` names the file in messages (``"the transcript "``).
    """
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    if target.is_dir():
        raise OutputError(f"Cannot write {what}{path}: it is a folder. Give a file name.")
    if target.exists() and not target.is_file():
        raise OutputError(
            f"Cannot write {what}{path}: it is not a regular file (a device, pipe or socket). Choose a file name."
        )
    if not target.parent.is_dir():
        raise OutputError(f"Cannot write {what}{path}: the folder {target.parent} does not exist.")
    try:
        free = shutil.disk_usage(target.parent).free
    except OSError:
        free = None
    if free is not None and free < MIN_FREE_BYTES:
        raise OutputError(
            f"Cannot write {what}{path}: the disk is full ({free // 1024} KB free). "
            "Free some space or choose another place to save it."
        )
    return target


def create_temp(parent: Path, prefix: str, suffix: str) -> Path:
    """A new empty hidden file in ``parent``, with the permissions the user's umask gives.

    (``tempfile`` would make it readable by its owner only, and so the result of
    an export renamed from it.)
    """
    for _ in range(100):
        path = parent / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | BINARY, 0o666))
            return path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(parent))


def write_atomic(path: Path, text: str, action: str = "write") -> None:
    """Replace ``path`` with ``text``: readers see the old file or the new one, never half.

    ``action`` words the error (``"Cannot <action> <path>: ..."``).
    """
    shown = Path(path)
    path = resolve_output(shown)
    tmp = None
    try:
        tmp = create_temp(path.parent, f".{path.name}.", ".tmp")
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise os_failure(shown, exc, action) from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
