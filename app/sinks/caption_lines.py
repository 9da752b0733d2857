"""The last few lines of commentary as plain text, for outputs that show text, not events.

OBS's text sources (pushed over obs-websocket, or read from a file) show a block
of text and know nothing of chunks or deltas. :class:`CaptionLines` turns engine
events into that block the way the overlay window does: words appear as they
are decoded, a finished chunk replaces its decoded words with its final text,
silence adds nothing, and the newest ``lines`` lines of at most ``width``
characters are kept. Memory is bounded: older words can never be shown again.
"""

from __future__ import annotations

from models.engine.records import ChunkDone, ChunkStarted, CommentaryDelta

from .voice import is_silence

MAX_WORDS = 200  # far more than 8 lines can show; older words are dropped


class CaptionLines:
    """The newest ``lines`` lines of commentary, wrapped at ``width`` characters.

    Feed it engine records with :meth:`handle`; :attr:`text` is the block to show.
    Not thread-safe: one owner feeds and reads it.
    """

    def __init__(self, lines: int = 2, width: int = 42) -> None:
        if lines < 1 or width < 1:
            raise ValueError(f"lines and width must be positive, got {lines} and {width}")
        self.lines, self.width = lines, width
        self._words: list[str] = []
        self._current = ""  # the chunk being decoded

    def handle(self, event: object) -> bool:
        """Take one engine record; true when the text to show changed."""
        before = self.text
        if isinstance(event, ChunkStarted):
            self._current = ""
        elif isinstance(event, CommentaryDelta):
            self._current += event.text
        elif isinstance(event, ChunkDone):
            self._current = ""
            if not is_silence(event.text):
                self._words.extend(event.text.split())
                del self._words[:-MAX_WORDS]
        else:
            return False
        return self.text != before

    def clear(self) -> None:
        self._words.clear()
        self._current = ""

    @property
    def text(self) -> str:
        """The lines to show, joined by ``\\n`` (empty before any commentary)."""
        current = [] if is_silence(self._current) else self._current.split()
        return "\n".join(wrap_words(self._words + current, self.width)[-self.lines :])


def wrap_words(words: list[str], width: int) -> list[str]:
    """Words filled greedily into lines of at most ``width`` characters (a longer word is one line)."""
    lines: list[str] = []
    line = ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return lines
