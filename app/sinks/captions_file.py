"""The last lines of commentary in a text file, for OBS's "Read from file" text sources.

OBS polls the file about once a second and shows whatever it reads, so the file
must never be seen half-written: every update replaces it atomically (a
temporary file beside it, ``fsync``, rename). Deltas are written too, so the
text grows word by word as fast as OBS looks; an update that changes nothing
writes nothing. The file is left in place when the run ends (a text source
that reads a missing file shows an error).
"""

from __future__ import annotations

from pathlib import Path

from app.atomic_files import resolve_output, write_atomic

from .caption_lines import CaptionLines


class CaptionsFile:
    """Keeps ``path`` holding the newest ``lines`` lines of commentary.

    Args:
        path: the file OBS reads. Its folder must exist (checked here, before any work).
        lines: how many lines the file holds.
        width: characters per line before a line wraps.

    Errors writing the file are :class:`app.errors.OutputError` (disk full, permission).
    """

    def __init__(self, path: Path, lines: int = 2, width: int = 42) -> None:
        self.path = Path(path)
        resolve_output(self.path, "the captions file ")
        self._lines = CaptionLines(lines, width)
        self._written: str | None = None
        self._write("")  # an empty file from the start: OBS's source finds it at once

    def handle(self, event: object) -> None:
        if self._lines.handle(event):
            self._write(self._lines.text)

    def clear(self) -> None:
        self._lines.clear()
        self._write("")

    @property
    def text(self) -> str:
        return self._lines.text

    def _write(self, text: str) -> None:
        if text != self._written:
            write_atomic(self.path, text, "write the captions file")  # no final newline: OBS would show an empty line
            self._written = text
