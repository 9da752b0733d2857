"""The LiveCC engine: what callers may use.

``Engine`` is the interface every consumer is typed against; ``LiveCCEngine``
implements it on llama.cpp in this process, ``RemoteEngine`` on a llama-server
(``RemoteOptions``). ``EngineOptions`` gathers the
runtime, sampling and context options (their defaults live in
:mod:`models.engine.defaults`). The records are what flows in and out.

Names are imported on first use (PEP 562), so ``from models.engine.records
import Frame`` does not load llama.cpp.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_HOMES = {
    "Engine": "models.engine.protocol",
    "EngineInfo": "models.engine.protocol",
    "LiveCCEngine": "models.engine.livecc_engine",
    "RemoteEngine": "models.engine.remote",
    "RemoteOptions": "models.engine.remote",
    "EngineOptions": "models.engine.livecc_engine",
    "RuntimeOptions": "models.engine.llama_runtime",
    "SamplingOptions": "models.engine.token_sampler",
    "ContextOptions": "models.engine.streaming_policy",
    "Frame": "models.engine.records",
    "VideoChunk": "models.engine.records",
    "ChunkStarted": "models.engine.records",
    "CommentaryDelta": "models.engine.records",
    "ChunkDone": "models.engine.records",
    "ChunkStats": "models.engine.records",
    "AnswerDelta": "models.engine.records",
    "AnswerDone": "models.engine.records",
    "CommentaryEvent": "models.engine.records",
    "AnswerEvent": "models.engine.records",
}
# Spelled out (not sorted(_HOMES)) so that linters and type checkers see the public names.
__all__ = [
    "AnswerDelta",
    "AnswerDone",
    "AnswerEvent",
    "ChunkDone",
    "ChunkStarted",
    "ChunkStats",
    "CommentaryDelta",
    "CommentaryEvent",
    "ContextOptions",
    "Engine",
    "EngineInfo",
    "EngineOptions",
    "Frame",
    "LiveCCEngine",
    "RemoteEngine",
    "RemoteOptions",
    "RuntimeOptions",
    "SamplingOptions",
    "VideoChunk",
]
assert sorted(_HOMES) == __all__

if TYPE_CHECKING:
    from models.engine.livecc_engine import EngineOptions, LiveCCEngine
    from models.engine.llama_runtime import RuntimeOptions
    from models.engine.protocol import Engine, EngineInfo
    from models.engine.records import (
        AnswerDelta,
        AnswerDone,
        AnswerEvent,
        ChunkDone,
        ChunkStarted,
        ChunkStats,
        CommentaryDelta,
        CommentaryEvent,
        Frame,
        VideoChunk,
    )
    from models.engine.remote import RemoteEngine, RemoteOptions
    from models.engine.streaming_policy import ContextOptions
    from models.engine.token_sampler import SamplingOptions


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'models.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
