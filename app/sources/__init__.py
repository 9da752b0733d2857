"""Where frames come from: one small class per kind of source, all behind :class:`FrameSource`."""

from app.sources.base import FrameSource
from app.sources.file_source import FileSource

__all__ = ["FileSource", "FrameSource"]
