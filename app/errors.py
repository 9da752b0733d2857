"""Errors of the app's own inputs and outputs: video sources, output files, exports, speech.

Each is a :class:`models.errors.LiveCCError`, the one base of every error the user
sees (its docstring states the contract: one or two sentences, what was wrong
and what to do; the CLI prints it and exits 2, the GUI shows it). Errors of
model files and of the engine live beside them in :mod:`models.errors`.
"""

from __future__ import annotations

from models.errors import LiveCCError


class SourceError(LiveCCError):
    """A video source cannot be opened or read."""


class VideoOpenError(SourceError):
    """A video file is missing, not a video, or has no decodable frame."""


class OutputError(LiveCCError):
    """An output file (transcript, subtitles) cannot be written."""


class ExportError(OutputError):
    """An export (captioned video, spoken track) failed: ffmpeg missing or failing, disk full."""


class ExportCancelled(LiveCCError):
    """The user cancelled a long export or computation; partial output was removed."""


class SpeechError(LiveCCError):
    """No speech synthesiser can turn text into audio on this system."""


class StreamOutputError(OutputError):
    """A live output for streamers cannot work: the overlay server's port is taken, an address
    or URL is malformed, OBS refuses the password or cannot be reached."""
