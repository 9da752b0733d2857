"""A crash-safe journal of review edits: one JSON operation per line, fsync-ed.

A coach's marks, notes, answers and an hour of precomputed commentary must
survive a crash, a kill or a power cut, and saving must cost the same at the
hundredth note as at the first. Rewriting one JSON file per change would copy
the whole review every second during precompute, so changes are appended as
operations (``add``, ``edit``, ``remove``, ...), each line written in one
``write()`` and ``fsync``-ed, as :mod:`app.sinks.transcript` does for commentary. A
line cut short by a crash is removed before the next append; a line damaged in
the middle of the file is skipped and reported, never fatal. When most lines
are superseded, :meth:`Journal.rewrite` replaces the file atomically with one
line per live record.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from app.atomic_files import BINARY, os_failure, write_atomic

_SAVE = "save the review in"


def read_journal(path: Path) -> tuple[list[dict], list[str]]:
    """The operations in ``path`` and warnings about lines that had to be skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        raise os_failure(path, exc, _SAVE) from exc
    lines = data.split(b"\n")
    lines.pop()  # b"" after the last newline, or a line a crash cut short
    ops, bad = [], []
    for number, line in enumerate(lines, 1):
        try:
            op = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            op = None
        if isinstance(op, dict) and isinstance(op.get("op"), str):
            ops.append(op)
        elif line.strip():
            bad.append(number)
    warnings = (
        [
            f"{path.name}: skipped {len(bad)} damaged line(s) ({', '.join(map(str, bad[:5]))}"
            f"{', ...' if len(bad) > 5 else ''})."
        ]
        if bad
        else []
    )
    return ops, warnings


def _line(op: dict) -> bytes:
    return (json.dumps(op, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


class Journal:
    """Appends operations to ``path`` (created if missing), one durable line each."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._open()

    def _open(self) -> None:
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | BINARY, 0o644)
            self._cut_partial_line(self._fd)
        except OSError as exc:
            self.close()
            raise os_failure(self.path, exc, _SAVE) from exc

    def _cut_partial_line(self, fd: int) -> None:
        size = os.lseek(fd, 0, os.SEEK_END)
        if size == 0:
            return
        os.lseek(fd, max(0, size - 65536), os.SEEK_SET)
        tail = os.read(fd, 65536)
        if tail.endswith(b"\n"):
            return
        newline = tail.rfind(b"\n")
        keep = size - len(tail) + newline + 1 if newline >= 0 else (0 if size <= 65536 else size)
        os.ftruncate(fd, keep)
        os.fsync(fd)

    def append(self, op: dict) -> None:
        """Write ``op`` as one line and ``fsync`` it; on failure leave no partial line."""
        if self._fd is None:
            raise ValueError("the journal is closed")
        line = _line(op)
        size = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            written = os.write(self._fd, line)
            while written < len(line):
                written += os.write(self._fd, line[written:])
            os.fsync(self._fd)
        except OSError as exc:
            try:
                os.ftruncate(self._fd, size)
            except OSError:
                pass
            raise os_failure(self.path, exc, _SAVE) from exc

    def rewrite(self, ops: Iterable[dict]) -> None:
        """Atomically replace the whole journal with ``ops`` (compaction)."""
        self.close()
        write_atomic(self.path, b"".join(_line(op) for op in ops).decode("utf-8"), _SAVE)
        self._open()

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
