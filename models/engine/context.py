"""What the KV cache holds, span by span, and the policy that makes room.

The engine records every prompt part and reply it evaluates as a ``Span``
(positions ``[p0, p1)``, the cells it occupies, its text tokens). Positions are
never shifted (llama.cpp cannot shift M-RoPE positions): freeing room means
removing whole spans, after which the positions that remain keep their values.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from app.errors import ContextTooSmallError
from app.protocol import PartKind


@dataclass
class Span:
    """One prompt part or reply in the cache."""

    kind: PartKind
    p0: int
    p1: int
    n_tokens: int
    tokens: list[int] = field(default_factory=list)


@dataclass
class Turn:
    """A user turn and the reply to it: the unit the policy evicts."""

    index: int
    spans: list[Span] = field(default_factory=list)
    has_query: bool = False


class ContextLedger:
    """The spans in the cache, in order, with a running count of cells and tokens."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.turns_started = 0
        self.used = 0
        self.token_counts: Counter[int] = Counter()

    def new_turn(self, has_query: bool) -> Turn:
        turn = Turn(index=self.turns_started, has_query=has_query)
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

    def clear(self) -> None:
        self.__init__()


class EvictOldestTurns:
    """Plain eviction: drop whole turns, oldest first, until the next turn fits.

    Kept always: the system prompt (``SINK``) and the turn that carries the
    latest query, reduced to its text (its frames and reply can go). So the
    model keeps knowing what it is asked to commentate while it forgets old
    pictures and old words.
    """

    name = "evict-oldest"

    def plan(self, ledger: ContextLedger, needed: int, capacity: int) -> list[tuple[Turn, Span]]:
        """Spans to remove so that ``needed`` more cells fit into ``capacity``."""
        free = capacity - ledger.used
        if free >= needed:
            return []
        query_turn = next((t for t in reversed(ledger.turns) if t.has_query), None)
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
        raise ContextTooSmallError(
            f"The context ({capacity} tokens) cannot hold the next turn ({needed} tokens) "
            "beside the system prompt and the query. Use a larger context (--n-ctx) "
            "or fewer pixels per frame (--max-pixels)."
        )
