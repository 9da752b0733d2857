"""Errors the user sees.

Each message is one or two sentences: what was wrong, and what to do about it.
The CLI prints ``str(error)`` and exits non-zero, without a traceback; the GUI
shows the same text. Anything that is not a ``LiveCCError`` is a bug.
"""

from __future__ import annotations


class LiveCCError(Exception):
    """Base of every error caused by input, files or the environment."""


class SourceError(LiveCCError):
    """A video source cannot be opened or read."""


class VideoOpenError(SourceError):
    """A video file is missing, not a video, or has no decodable frame."""


class OutputError(LiveCCError):
    """An output file (transcript, subtitles) cannot be written."""


class ModelError(LiveCCError):
    """A model file is missing, damaged, or not a LiveCC/Qwen2-VL pair."""


class ModelFileNotFoundError(ModelError):
    """A model or mmproj path does not exist."""


class CorruptModelError(ModelError):
    """A file is not GGUF, or is truncated."""


class ModelWithoutVisionError(ModelError):
    """The model pair cannot see: a text-only GGUF, or an mmproj without a vision encoder."""


class MismatchedProjectorError(ModelError):
    """The mmproj was made for another model."""


class ModelLoadError(ModelError):
    """llama.cpp refused a model that passed our checks."""


class ContextTooSmallError(ModelError):
    """The context cannot hold even one chunk beside the system prompt and query."""


class EngineError(LiveCCError):
    """llama.cpp failed while running (out of memory, a failed decode)."""


class ExportError(OutputError):
    """An export (captioned video, spoken track) failed: ffmpeg missing or failing, disk full."""


class ExportCancelled(LiveCCError):
    """The user cancelled a long export or computation; partial output was removed."""


class SpeechError(LiveCCError):
    """No speech synthesiser can turn text into audio on this system."""
