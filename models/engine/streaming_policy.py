"""Hours-long streams at constant cost: a StreamingVLM-style context policy.

StreamingVLM (Xu et al., MIT 2025) keeps three things in the cache of a
streaming video model: attention-sink tokens (the system prompt and the
instructions), a short window of recent vision tokens and a longer window of
recent text, at contiguous positions. :class:`StreamingWindowPolicy` does the
same on llama.cpp, which cannot shift M-RoPE positions:

* **Sink.** The system prompt's cells are never removed. The turn carrying the
  latest query keeps its text, so the query stays in the context.
* **Vision window.** Only the frames of the last ``vision_chunks`` chunks stay
  (each ~400 cells at the default 384·28·28 pixels, but only ~25 positions).
* **Text window.** The prompt text and commentary of the most recent turns,
  up to ``text_tokens`` cells (~20–35 cells per second of video), stay after
  their frames are gone, so the commentary stays coherent.
* **Positions.** Between rebuilds, removed spans leave gaps in the positions
  (the kept ones keep their values), so positions grow by ~50 per second of
  video. When the next turn would pass ``position_limit`` (by default the
  smaller of the context size and the trained context), the context is
  **re-primed**: everything after the sink is removed and the query, the text
  window and the frames of the last ``reprime_vision_chunks`` chunks are
  evaluated again at contiguous positions right after the sink, whose cache is
  reused (:mod:`models.engine.reprime`). The vision window then grows back
  chunk by chunk.

Why re-prime with a *short* vision window: re-encoding frames is the expensive
part of a rebuild (a 2-frame chunk costs about one chunk's vision encode and
prefill), while text is cheap to evaluate in one batch. Re-encoding one chunk
keeps a rebuild at about twice a normal chunk; re-encoding the whole window
would cost ``vision_chunks`` chunks at once. Why rebuild rarely (hysteresis):
after a rebuild the positions restart below ``reprime_fill`` of the limit, so
the next one is minutes of video away (see :meth:`StreamingWindowSettings.for_context`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from models.engine import defaults
from models.engine.context import (
    ContextLedger,
    ContextPolicy,
    EvictOldestTurns,
    RePrimePlan,
    RoomRequest,
    Span,
    Turn,
    too_small,
)
from models.engine.prompt import PartKind

#: Cells of one 2-frame chunk's frames at 384·28·28 pixels (~390 tokens, vision start/end included).
TYPICAL_CHUNK_CELLS = 400


@dataclass(frozen=True)
class StreamingWindowSettings:
    """Sizes of the windows. ``for_context`` gives the defaults for a context size.

    vision_chunks: chunks (seconds of video) whose frames stay in the cache,
        the chunk being evaluated included.
    text_tokens: cells of prompt text and commentary kept from the most recent
        turns, the query's turn and the sink not counted.
    reprime_vision_chunks: chunks whose frames are kept in memory and
        re-encoded when the context is re-primed; the rest of the window is
        rebuilt as text. 0 rebuilds text only (cheapest).
    position_limit: positions never pass this; ``None`` means the smaller of
        the context size and the model's trained context.
    reprime_fill: a rebuild must leave the positions at most at this fraction
        of the limit (older text is left out if needed), so rebuilds are rare.
    """

    vision_chunks: int = 10
    text_tokens: int = 1536
    reprime_vision_chunks: int = 1
    position_limit: int | None = None
    reprime_fill: float = 0.5

    def __post_init__(self) -> None:
        if self.vision_chunks < 1:
            raise ValueError(f"vision_chunks must be at least 1, got {self.vision_chunks}")
        if self.text_tokens < 0 or self.reprime_vision_chunks < 0:
            raise ValueError("text_tokens and reprime_vision_chunks cannot be negative")
        if not 0.0 < self.reprime_fill < 1.0:
            raise ValueError(f"reprime_fill must be between 0 and 1, got {self.reprime_fill}")
        if self.reprime_vision_chunks > self.vision_chunks:
            raise ValueError("reprime_vision_chunks cannot exceed vision_chunks")

    @classmethod
    def for_context(cls, n_ctx: int, chunk_cells: int = TYPICAL_CHUNK_CELLS) -> StreamingWindowSettings:
        """Defaults for an ``n_ctx``-cell cache: half of it for frames, 3/16 for text.

        ``chunk_cells``: cells of one chunk's frames (``TYPICAL_CHUNK_CELLS`` at
        the default resolution; more pixels per frame means fewer chunks).

        At 384·28·28 pixels per frame this gives:

        ======  ==============  ===========  ================  ====================
        n_ctx   vision window   text cells   position limit    one re-prime every
        ======  ==============  ===========  ================  ====================
        8192    10 s            1536         8192              1.5 min
        16384   20 s            3072         16384             4 min
        32768   40 s            6144         32768             7-8 min
        ======  ==============  ===========  ================  ====================

        (re-prime intervals measured on the tiny model, BENCHMARKS.md). The
        rest of the cache is room for the turn being evaluated and for answers
        in conversation mode (up to 512 tokens).
        """
        return cls(vision_chunks=max(1, (n_ctx // 2) // chunk_cells), text_tokens=(n_ctx * 3) // 16)


class StreamingWindowPolicy(ContextPolicy):
    """Sink + vision window + text window, positions bounded by re-priming.

    ``settings``: fixed sizes; or ``sizing``, a function from the engine's
    context size to sizes (default :meth:`StreamingWindowSettings.for_context`),
    called at the first turn.
    """

    name = "streaming-window"

    def __init__(
        self,
        settings: StreamingWindowSettings | None = None,
        *,
        sizing: Callable[[int], StreamingWindowSettings] | None = None,
    ) -> None:
        self._given = settings
        self._sizing = sizing or StreamingWindowSettings.for_context
        self._capacity: int | None = None
        self.settings = settings or StreamingWindowSettings()

    @property
    def keep_frames(self) -> int:
        return self.settings.reprime_vision_chunks

    def _settings_for(self, capacity: int) -> StreamingWindowSettings:
        if self._given is None and self._capacity != capacity:
            self.settings = self._sizing(capacity)
            self._capacity = capacity
        return self.settings

    def position_limit(self, capacity: int, n_ctx_train: int) -> int:
        limit = self._settings_for(capacity).position_limit
        return limit if limit is not None else min(capacity, n_ctx_train)

    # ------------------------------------------------------------ eviction
    def plan(self, ledger: ContextLedger, needed: int, capacity: int) -> list[tuple[Turn, Span]]:
        s = self._settings_for(capacity)
        query_turn = ledger.query_turn()
        chosen: dict[int, tuple[Turn, Span]] = {}

        def take(turn: Turn, span: Span) -> None:
            chosen.setdefault(id(span), (turn, span))

        def take_text(turn: Turn) -> None:
            # A turn's frames go with its text: frames without their time label mean nothing.
            for span in turn.spans:
                if span.kind is PartKind.SINK:
                    continue
                if turn is query_turn and span.kind is not PartKind.VISION and span.kind is not PartKind.REPLY:
                    continue
                take(turn, span)

        # Vision window: the chunk being evaluated brings one more.
        framed = [(t, sp) for t in ledger.turns for sp in t.vision_spans()]
        for turn, span in framed[: max(0, len(framed) - (s.vision_chunks - 1))]:
            take(turn, span)
        # Text window: whole turns, newest first, while they fit the budget.
        total = 0
        for turn in reversed(ledger.turns):
            total += turn.text_cells()
            if total > s.text_tokens:
                take_text(turn)
        # The cache itself: oldest frames first, then oldest text.
        free = capacity - ledger.used + sum(sp.n_tokens for _, sp in chosen.values())
        if free < needed:
            for turn, span in framed:
                if free >= needed:
                    break
                if id(span) not in chosen:
                    take(turn, span)
                    free += span.n_tokens
        for turn in ledger.turns:
            if free >= needed:
                break
            before = len(chosen)
            take_text(turn)
            free += sum(sp.n_tokens for _, sp in list(chosen.values())[before:])
        if free < needed:
            raise too_small(capacity, needed)
        return list(chosen.values())

    # ---------------------------------------------------------- re-priming
    def reprime(self, ledger: ContextLedger, request: RoomRequest) -> RePrimePlan | None:
        s = self._settings_for(request.capacity)
        limit = self.position_limit(request.capacity, request.n_ctx_train)
        sink = ledger.sink
        if sink is None or request.n_past + request.cells <= limit:
            return None
        vision_cells, vision_positions = _vision_size(ledger)
        # Newest first: the text window, then leading question turns dropped so
        # the rebuilt context opens with a chunk turn (it carries the query).
        kept: list[Turn] = []
        total = 0
        for turn in reversed(ledger.turns):
            if all(sp.kind is PartKind.SINK for sp in turn.spans):
                continue  # only the sink is left of it
            cells = _rebuilt_text_cells(turn)
            if kept and total + cells > s.text_tokens:
                break
            kept.append(turn)
            total += cells
        kept.reverse()
        while kept and not kept[0].is_chunk:
            kept.pop(0)
        if not kept:
            return None

        def framed(turns: list[Turn]) -> list[Turn]:
            chunks = [t for t in turns if t.is_chunk and t.frames]
            return chunks[len(chunks) - s.reprime_vision_chunks :] if s.reprime_vision_chunks else []

        def fits(turns: list[Turn]) -> bool:
            n_framed = len(framed(turns))
            text = sum(_rebuilt_text_cells(t) for t in turns)
            positions = sink.p1 + text + n_framed * vision_positions + request.cells
            cells = sink.n_tokens + text + n_framed * vision_cells + request.cells
            return positions <= s.reprime_fill * limit and cells <= request.capacity

        while len(kept) > 1 and not fits(kept):
            kept.pop(0)
            while len(kept) > 1 and not kept[0].is_chunk:
                kept.pop(0)
        return RePrimePlan(tuple(kept), frozenset(t.index for t in framed(kept)))

    def with_settings(self, **changes) -> StreamingWindowPolicy:
        """A copy with some settings changed (for benchmarks and tests)."""
        return StreamingWindowPolicy(replace(self.settings, **changes))


#: Frame size at which a 2-frame chunk takes ``TYPICAL_CHUNK_CELLS`` cells (LiveCC's default).
TYPICAL_FRAME_PIXELS = defaults.MAX_PIXELS
POLICIES = ("streaming", "evict")


@dataclass(frozen=True)
class ContextOptions:
    """Which context policy an engine runs, and its sizes; 0 sizes itself by the context.

    policy: ``"streaming"`` (:class:`StreamingWindowPolicy`, for streams of any
        length) or ``"evict"`` (:class:`EvictOldestTurns`, plain eviction:
        positions grow without bound, past the trained range after minutes).
    vision_window_s: seconds of video whose frames stay in the cache (one
        chunk per second); 0: half the context's worth.
    text_window_tokens: cells of recent prompt text and commentary kept; 0:
        3/16 of the context.
    reprime_vision_s: seconds of frames re-encoded when the context is
        re-primed (at most the vision window).
    frame_pixels: pixels per frame the stream is resized to, to size the
        vision window in chunks.
    """

    policy: str = defaults.CONTEXT_POLICY
    vision_window_s: int = defaults.VISION_WINDOW_S
    text_window_tokens: int = defaults.TEXT_WINDOW_TOKENS
    reprime_vision_s: int = defaults.REPRIME_VISION_S
    frame_pixels: int = TYPICAL_FRAME_PIXELS

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"unknown context policy {self.policy!r}: use one of {', '.join(POLICIES)}")
        if min(self.vision_window_s, self.text_window_tokens, self.reprime_vision_s) < 0 or self.frame_pixels < 1:
            raise ValueError("context window sizes cannot be negative")

    def window_settings(self, n_ctx: int) -> StreamingWindowSettings:
        """The streaming window's sizes for an ``n_ctx``-cell cache."""
        cells = max(1, round(TYPICAL_CHUNK_CELLS * self.frame_pixels / TYPICAL_FRAME_PIXELS))
        auto = StreamingWindowSettings.for_context(n_ctx, chunk_cells=cells)
        vision = self.vision_window_s or auto.vision_chunks
        return replace(
            auto,
            vision_chunks=vision,
            text_tokens=self.text_window_tokens or auto.text_tokens,
            reprime_vision_chunks=min(self.reprime_vision_s, vision),
        )

    def build(self) -> ContextPolicy:
        """A fresh policy object (policies hold per-stream state)."""
        if self.policy == "evict":
            return EvictOldestTurns()
        return StreamingWindowPolicy(sizing=self.window_settings)


def _rebuilt_text_cells(turn: Turn) -> int:
    """Estimated text cells of ``turn`` once rebuilt: its text spans, or its reply
    plus a typical prompt when its text was already partly removed."""
    cells = turn.text_cells()
    if not any(s.kind is PartKind.REPLY for s in turn.spans):
        cells += len(turn.reply)
    return max(cells, 20)


def _vision_size(ledger: ContextLedger) -> tuple[int, int]:
    """Cells and positions of the latest chunk's frames (a guess when none is left)."""
    for turn in reversed(ledger.turns):
        for span in reversed(turn.vision_spans()):
            return span.n_tokens, span.p1 - span.p0
    return TYPICAL_CHUNK_CELLS, TYPICAL_CHUNK_CELLS
