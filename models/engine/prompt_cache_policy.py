"""The context policy of an engine whose server caches the prompt: grow, then re-prime in one step.

A llama-server keeps the tokens of the last prompt (and the reply it generated)
and evaluates only what follows the longest common prefix of the next prompt.
So the cheapest context for a remote engine is one that only grows: each chunk
appends its turn, the server evaluates just that turn. Removing spans in the
middle (what :class:`StreamingWindowPolicy` does locally) would break the common
prefix at the first removed span and make the server evaluate everything after it.

:class:`PromptCachePolicy` therefore never evicts between rebuilds. When the next
turn would not fit the context (or would pass the position limit), it re-primes
in one step, as the streaming policy does: everything after the sink is dropped
and the recent text window, with the frames of the last ``reprime_vision_chunks``
chunks, is written again at contiguous positions (``models.engine.reprime``
chooses the same turns). The server then evaluates the rebuilt part once, and the
prompt grows again from there. A local :class:`LiveCCEngine` given this policy
holds exactly the context a remote engine sends, which the parity test relies on.
"""

from __future__ import annotations

from dataclasses import replace

from models.engine.context import ContextLedger, RePrimePlan, RoomRequest, Span, Turn, too_small
from models.engine.streaming_policy import StreamingWindowPolicy, _rebuilt_text_cells


class PromptCachePolicy(StreamingWindowPolicy):
    """Only grows; re-primes after the sink when the next turn would not fit.

    The sizes (text window kept by a rebuild, frames re-encoded, how full a
    rebuild may leave the context) are the streaming window's
    (:class:`~models.engine.streaming_policy.StreamingWindowSettings`).
    """

    name = "prompt-cache"

    def plan(self, ledger: ContextLedger, needed: int, capacity: int) -> list[tuple[Turn, Span]]:
        if capacity - ledger.used >= needed:
            return []
        raise too_small(capacity, needed)

    def reprime(self, ledger: ContextLedger, request: RoomRequest) -> RePrimePlan | None:
        limit = self.position_limit(request.capacity, request.n_ctx_train)
        fits = ledger.used + request.cells <= request.capacity and request.n_past + request.cells <= limit
        if fits:
            return None
        # The streaming policy chooses what a rebuild keeps once positions pass its limit;
        # here the trigger is the cache being full, so hand it a request past the limit.
        plan = super().reprime(ledger, replace(request, n_past=max(request.n_past, limit)))
        sink = ledger.sink
        if plan is None or not plan.with_frames or sink is None:
            return plan
        # A small context (or a big opening chunk) may not hold the re-encoded frames beside the
        # next turn: rebuild text only then, rather than fail.
        text = sum(_rebuilt_text_cells(t) for t in plan.turns)
        vision = sum(sp.n_tokens for t in plan.turns if t.index in plan.with_frames for sp in t.vision_spans())
        if sink.n_tokens + text + vision + request.cells > request.capacity:
            return RePrimePlan(plan.turns, frozenset())
        return plan
