"""What every engine does the same way, whatever runs the model.

:class:`~models.engine.livecc_engine.LiveCCEngine` (llama.cpp in this process) and
:class:`~models.engine.remote.RemoteEngine` (a llama-server) differ in how a turn
runs, not in how the query is kept, how a caller takes only the finished chunk,
or how the engine is closed; those live here once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from models.engine.prompt import DEFAULT_QUERY
from models.engine.records import ChunkDone, CommentaryEvent, VideoChunk

_E = TypeVar("_E", bound="EngineBase")


class EngineBase:
    """The query, :meth:`process` and closing (also as a context manager) for an engine."""

    query: str = DEFAULT_QUERY

    def feed(self, chunk: VideoChunk) -> Iterator[CommentaryEvent]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _E) -> _E:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_query(self, query: str) -> None:
        """Change what to commentate; the next chunk carries the new query."""
        self.query = query.strip() or DEFAULT_QUERY

    def process(self, chunk: VideoChunk) -> ChunkDone:
        """``feed`` for callers that want only the finished chunk."""
        *_, done = self.feed(chunk)
        assert isinstance(done, ChunkDone)  # feed always ends with it
        return done
