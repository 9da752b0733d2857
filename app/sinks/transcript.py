"""The commentary transcript: one JSON object per chunk, one per line (JSONL).

Runs last hours and may end by a crash or a kill, so the file is written to
survive that: each line goes out in one ``write()`` of the whole line, then is
flushed and ``fsync``-ed, so every line on disk is complete. If a previous run
died in the middle of a line anyway (power loss, full disk), the next writer
cuts that partial line off before appending, so every line stays valid JSON.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

from app.atomic_files import resolve_output
from app.errors import OutputError
from models.engine.records import ChunkDone

RESERVED = ("index", "start", "end", "text")
_BINARY = getattr(os, "O_BINARY", 0)  # Windows would otherwise translate newlines


def _failure(path: Path, exc: OSError) -> OutputError:
    if exc.errno == errno.ENOSPC:
        return OutputError(
            f"Cannot write the transcript {path}: the disk is full. Free some space or choose another disk."
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return OutputError(f"Cannot write the transcript {path}: permission denied. Choose another folder.")
    if exc.errno == errno.EISDIR or path.is_dir():
        return OutputError(f"Cannot write the transcript {path}: it is a folder. Give a file name.")
    if exc.errno == errno.EROFS:
        return OutputError(f"Cannot write the transcript {path}: the disk is read-only. Choose another folder.")
    return OutputError(f"Cannot write the transcript {path}: {exc.strerror or exc}. Choose another file.")


class JsonlTranscriptWriter:
    """Appends ``{"index", "start", "end", "text", ...}`` per finished chunk to ``path``.

    ``start``/``end`` are seconds rounded to milliseconds; ``text`` is the
    chunk's commentary, stripped, ``""`` when the model stayed silent.
    ``repaired`` tells whether a partial last line left by a crash was removed.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.repaired = False
        resolve_output(self.path, "the transcript ")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | _BINARY, 0o644)
        except OSError as exc:
            raise _failure(self.path, exc) from exc
        self._fd: int | None = fd
        try:
            self._repair(fd)
        except OSError as exc:
            self.close()
            raise _failure(self.path, exc) from exc

    def _repair(self, fd: int) -> None:
        """Cut a trailing partial line (no final newline) left by an interrupted writer."""
        size = os.lseek(fd, 0, os.SEEK_END)
        end = size
        while end > 0:
            start = max(0, end - 4096)
            os.lseek(fd, start, os.SEEK_SET)
            block = os.read(fd, end - start)
            if end == size and block.endswith(b"\n"):
                return
            newline = block.rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        if end < size:
            os.ftruncate(fd, end)
            os.fsync(fd)
            self.repaired = True

    def write(self, done: ChunkDone, **extra: Any) -> None:
        """Append one line for ``done``; ``extra`` adds JSON-serialisable fields."""
        if self._fd is None:
            raise ValueError("the transcript writer is closed")
        clash = set(extra) & set(RESERVED)
        if clash:
            raise ValueError(f"extra fields may not replace {sorted(clash)}")
        record = {
            "index": done.index,
            "start": round(done.t0, 3),
            "end": round(done.t1, 3),
            "text": "" if done.silent else done.text.strip(),
            **extra,
        }
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        size = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            written = os.write(self._fd, line)
            while written < len(line):  # a short write only happens when the disk is filling up
                written += os.write(self._fd, line[written:])
            os.fsync(self._fd)
        except OSError as exc:
            try:
                os.ftruncate(self._fd, size)  # leave no partial line behind
            except OSError:
                pass
            raise _failure(self.path, exc) from exc

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> JsonlTranscriptWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_transcript(path: str | Path) -> list[dict]:
    """The records of a transcript, in order.

    A last line without its newline is an interrupted write and is ignored; any
    other line that is not a JSON object raises ``ValueError`` naming the line.
    """
    data = Path(path).read_bytes()
    lines = data.split(b"\n")
    lines.pop()  # what follows the last newline: b"" or an interrupted line
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}, line {number}: not valid JSON ({exc})") from exc
        if not isinstance(record, dict):
            raise ValueError(f"{path}, line {number}: not a JSON object")
        records.append(record)
    return records
