"""The interface every frame source implements (file, camera, screen, window).

A source is opened, yields :class:`~models.engine.records.Frame` objects with their own
stream times, and is closed; consumers pull as fast as they like. Problems that
stop the source raise a :class:`~app.errors.SourceError`; problems it can live
with (a damaged tail, estimated timestamps) are collected in ``warnings`` so the
caller can show them once the run ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, TypeVar

from models.engine.records import Frame


class FrameSource(Protocol):
    """A stream of timestamped RGB frames.

    ``is_live`` tells the pipeline whether the source runs in real time (it must
    then drop stale frames) or may be read as fast as the machine allows.
    """

    is_live: bool
    warnings: list[str]

    def open(self) -> None:
        """Acquire the device or file; raise :class:`~app.errors.SourceError` if impossible."""
        ...

    def frames(self) -> Iterator[Frame]:
        """Yield frames in stream order, each with its stream time in seconds."""
        ...

    def close(self) -> None:
        """Release the device or file; safe to call more than once."""
        ...

    def __enter__(self) -> FrameSource: ...

    def __exit__(self, *exc_info: object) -> None: ...


_Source = TypeVar("_Source", bound=FrameSource)


class SourceMixin:
    """What every source shares beside the interface: its warnings and ``with source:``.

    Mixed into each source class (``class FileSource(SourceMixin)``); the
    interface callers are typed against is :class:`FrameSource`.
    """

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        """Record a non-fatal problem once."""
        if message not in self.warnings:
            self.warnings.append(message)

    def __enter__(self: _Source) -> _Source:
        self.open()
        return self

    def __exit__(self: _Source, *exc_info: object) -> None:
        self.close()
