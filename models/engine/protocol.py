"""The one interface every consumer of an engine is typed against.

The desktop app's engine child, the CLI, the review jobs and the benchmarks
talk to "an engine", never to llama.cpp: today :class:`LiveCCEngine` (llama.cpp
in this process), next a remote llama-server. An engine runs the LiveCC
streaming protocol over one context: :meth:`Engine.feed` one chunk at a time,
:meth:`Engine.ask` a question on what it has seen, :meth:`Engine.reset` for a
new stream. Both streaming calls are generators: the caller sees words as they
are decoded and decides how far to pull.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from models.engine.records import AnswerEvent, CommentaryEvent, VideoChunk


@dataclass(frozen=True)
class EngineInfo:
    """What is loaded and where it runs.

    model_name: the model's name, for status lines.
    device: where the model runs, in words (e.g. "GPU: 29/29 layers offloaded, vision on GPU").
    gpu: true when any of the model runs on a GPU.
    """

    model_name: str
    device: str
    gpu: bool


@runtime_checkable
class Engine(Protocol):
    """A LiveCC model answering one stream of chunks over one context."""

    def feed(self, chunk: VideoChunk) -> Iterator[CommentaryEvent]:
        """Run one LiveCC turn on ``chunk``: ``ChunkStarted``, ``CommentaryDelta``s, then ``ChunkDone``."""
        ...

    def ask(self, question: str) -> Iterator[AnswerEvent]:
        """Answer ``question`` about what the engine has seen: ``AnswerDelta``s, then ``AnswerDone``."""
        ...

    def reset(self) -> None:
        """Forget the stream; the next chunk opens a new conversation at time 0."""
        ...

    def set_query(self, query: str) -> None:
        """Change what to commentate; the next chunk carries the new query."""
        ...

    def info(self) -> EngineInfo:
        """The loaded model and the device it runs on."""
        ...

    def close(self) -> None:
        """Free the model; the engine cannot be used afterwards."""
        ...
