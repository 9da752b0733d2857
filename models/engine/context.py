"""What the KV cache holds, span by span, and the policies that make room.

The engine records every prompt part and reply it evaluates as a ``Span``
(positions ``[p0, p1)``, the cells it occupies, its text tokens). Positions are
never shifted (llama.cpp cannot shift M-RoPE positions): freeing room means
removing whole spans, after which the positions that remain keep their values.

A policy answers two questions before each turn is evaluated:

* ``reprime(ledger, request)``: should the context be rebuilt after the sink,
  at contiguous positions, because positions ran too far? (A ``RePrimePlan``
  says which turns to rebuild; ``None`` means no.) Only policies that bound
  positions say yes; the baseline never does.
* ``plan(ledger, needed, capacity)``: which spans to remove so the next turn's
  cells fit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from models.engine.prompt import PartKind
from models.errors import ContextTooSmallError

if TYPE_CHECKING:  # only an annotation: settings and the CLI import this module at start-up
    import numpy as np


@dataclass
class Span:
    """One prompt part or reply in the cache."""

    kind: PartKind
    p0: int
    p1: int
    n_tokens: int
    tokens: list[int] = field(default_factory=list)


@dataclass(eq=False)
class Turn:
    """A user turn and the reply to it: the unit a policy evicts or rebuilds.

    Besides its spans, a turn remembers what it was made of, so that a
    re-priming policy can write it again: the chunk's span ``t0``..``t1`` (or
    the ``question`` of a conversation turn), the generated tokens kept as its
    ``reply``, and, for the few most recent chunks only, its ``frames``.
    """

    index: int
    spans: list[Span] = field(default_factory=list)
    has_query: bool = False
    t0: float | None = None
    t1: float | None = None
    question: str | None = None
    reply: list[int] = field(default_factory=list)
    frames: tuple[np.ndarray, ...] | None = None

    @property
    def is_chunk(self) -> bool:
        return self.t0 is not None

    def text_cells(self) -> int:
        """Cells held by the turn's text (everything but the sink and the frames)."""
        return sum(s.n_tokens for s in self.spans if s.kind not in (PartKind.SINK, PartKind.VISION))

    def vision_spans(self) -> list[Span]:
        return [s for s in self.spans if s.kind is PartKind.VISION]


class ContextLedger:
    """The spans in the cache, in order, with a running count of cells and tokens."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.turns_started = 0
        self.used = 0
        self.token_counts: Counter[int] = Counter()

    def new_turn(
        self, has_query: bool, *, t0: float | None = None, t1: float | None = None, question: str | None = None
    ) -> Turn:
        turn = Turn(index=self.turns_started, has_query=has_query, t0=t0, t1=t1, question=question)
        self.turns_started += 1
        self.turns.append(turn)
        return turn

    def add(self, turn: Turn, span: Span) -> None:
        turn.spans.append(span)
        self.used += span.n_tokens
        self.token_counts.update(span.tokens)

    def extend_reply(self, span: Span, token: int) -> None:
        """A generated token was evaluated into the reply ``span``."""
        span.p1 += 1
        span.n_tokens += 1
        span.tokens.append(token)
        self.used += 1
        self.token_counts[token] += 1

    def drop(self, turn: Turn, span: Span) -> None:
        turn.spans.remove(span)
        self.used -= span.n_tokens
        self.token_counts.subtract(span.tokens)
        for tok in set(span.tokens):
            if self.token_counts[tok] <= 0:
                del self.token_counts[tok]
        if not turn.spans:
            self.turns.remove(turn)

    @property
    def sink(self) -> Span | None:
        """The system prompt span at the start of the cache, if any."""
        for turn in self.turns:
            for span in turn.spans:
                if span.kind is PartKind.SINK:
                    return span
        return None

    def query_turn(self) -> Turn | None:
        """The turn that carries the latest query."""
        return next((t for t in reversed(self.turns) if t.has_query), None)

    def truncate_to_sink(self) -> list[Turn]:
        """Forget every span but the sink; return the turns that held any, oldest first.

        The turns keep their records (times, reply, frames) so they can be
        rebuilt with :meth:`restore`. The caller removes the cells from the cache.
        """
        old = list(self.turns)
        self.turns = []
        self.used = 0
        self.token_counts = Counter()
        for turn in old:
            sink = [s for s in turn.spans if s.kind is PartKind.SINK]
            turn.spans = []
            for span in sink:
                if turn not in self.turns:
                    self.turns.append(turn)
                self.add(turn, span)
        return old

    def restore(self, turn: Turn) -> None:
        """Put a turn returned by :meth:`truncate_to_sink` back, to receive new spans."""
        if turn not in self.turns:
            self.turns.append(turn)

    def clear(self) -> None:
        self.turns = []
        self.turns_started = 0
        self.used = 0
        self.token_counts = Counter()


@dataclass(frozen=True)
class RoomRequest:
    """What the next turn needs, and where the cache stands.

    cells: cells the turn's prompt needs plus the tokens reserved for its reply.
        A turn never advances positions by more than its cells (a vision
        segment of n tokens advances them by far less), so it is also a bound
        on the positions it needs.
    capacity: the cache size (``n_ctx``).
    n_past: the next position.
    n_ctx_train: the context length the model was trained with.
    """

    cells: int
    capacity: int
    n_past: int
    n_ctx_train: int


@dataclass(frozen=True)
class RePrimePlan:
    """Rebuild the context after the sink: ``turns`` (oldest first) at contiguous
    positions, the turns in ``with_frames`` with their frames, the others as text.
    The first turn carries the query."""

    turns: tuple[Turn, ...]
    with_frames: frozenset[int]  # Turn.index values


class ContextPolicy(Protocol):
    """What to keep when the cache is full, and when to rebuild it; the engine takes one."""

    name: str

    @property
    def keep_frames(self) -> int:
        """How many of the latest chunks' frames the engine keeps for re-priming."""
        ...

    def plan(self, ledger: ContextLedger, needed: int, capacity: int) -> list[tuple[Turn, Span]]:
        """Spans to remove so that ``needed`` more cells fit into ``capacity``."""
        ...

    def reprime(self, ledger: ContextLedger, request: RoomRequest) -> RePrimePlan | None:
        """A rebuild to do before the next turn, or ``None``."""
        ...


def too_small(capacity: int, needed: int) -> ContextTooSmallError:
    return ContextTooSmallError(
        f"The context ({capacity} tokens) cannot hold the next turn ({needed} tokens) "
        "beside the system prompt and the query. Use a larger context (--n-ctx) "
        "or fewer pixels per frame (--max-pixels)."
    )


class EvictOldestTurns:
    """Plain eviction: drop whole turns, oldest first, until the next turn fits.

    Kept always: the system prompt (``SINK``) and the turn that carries the
    latest query, reduced to its text (its frames and reply can go). So the
    model keeps knowing what it is asked to commentate while it forgets old
    pictures and old words. Positions grow without bound: after about ten
    minutes of video they pass Qwen2-VL's trained 32k range. This is the
    baseline that :class:`~models.engine.streaming_policy.StreamingWindowPolicy`
    improves on.
    """

    name = "evict-oldest"
    keep_frames = 0  # never re-primes, so keeps no frames

    def plan(self, ledger: ContextLedger, needed: int, capacity: int) -> list[tuple[Turn, Span]]:
        free = capacity - ledger.used
        if free >= needed:
            return []
        query_turn = ledger.query_turn()
        plan: list[tuple[Turn, Span]] = []
        for turn in ledger.turns:
            for span in turn.spans:
                if span.kind is PartKind.SINK:
                    continue
                if turn is query_turn and span.kind in (PartKind.TIME, PartKind.QUERY, PartKind.HEADER):
                    continue
                plan.append((turn, span))
                free += span.n_tokens
            if free >= needed:
                return plan
        raise too_small(capacity, needed)

    def reprime(self, ledger: ContextLedger, request: RoomRequest) -> RePrimePlan | None:
        return None
