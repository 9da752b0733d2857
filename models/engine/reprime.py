"""Re-priming: rebuild the context after the sink at contiguous positions.

llama.cpp cannot shift M-RoPE positions, so the only way to bring positions
back into range is to remove everything after the sink and evaluate again what
should stay. The sink's cells are reused as they are. The kept turns are
written again with the LiveCC protocol (``models.engine.prompt``), the first one with
the query, and evaluated from the position right after the sink:

* text is evaluated in as few llama.cpp calls as possible: each run of text
  between two frame groups is one batch (per call overhead, not token count,
  dominates small text parts), and the ledger still gets one span per part;
* a generated reply goes back as the token ids it was generated as, and each
  protocol part is tokenized on its own, as when it was first evaluated, so
  the rebuilt text is token for token what the cache held before;
* frames are re-encoded only for the turns the plan names.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from models.engine.context import ContextLedger, RePrimePlan, Span, Turn
from models.engine.prompt import PartKind, chunk_turn, question_turn


@dataclass(frozen=True)
class RePrimeReport:
    """What one rebuild did and cost."""

    seconds: float
    n_past_before: int
    n_past_after: int
    cells_before: int
    cells_after: int
    text_turns: int
    vision_turns: int
    tokens_evaluated: int
    llama_calls: int


@dataclass
class _Piece:
    """One part of a rebuilt turn: protocol text (maybe with frames), or reply token ids."""

    turn: Turn
    kind: PartKind
    text: str = ""
    frames: tuple[np.ndarray, ...] = ()
    tokens: list[int] | None = None


def turn_pieces(turn: Turn, *, first: bool, with_frames: bool, query: str | None, marker: str) -> list[_Piece]:
    """The protocol text of ``turn`` written again, its frames only if ``with_frames``."""
    frames = turn.frames if with_frames and turn.frames else ()
    if turn.t0 is not None and turn.t1 is not None:  # a chunk's turn (see Turn.is_chunk)
        parts = chunk_turn(turn.t0, turn.t1, len(frames), query if first else None, first=first, marker=marker)
    else:
        parts = question_turn(turn.question or "", first=first)
    pieces = []
    for part in parts:
        if part.kind is PartKind.SINK or (part.kind is PartKind.VISION and not frames) or not part.text:
            continue
        pieces.append(_Piece(turn, part.kind, part.text, frames if part.kind is PartKind.VISION else ()))
    if turn.reply:
        pieces.append(_Piece(turn, PartKind.REPLY, tokens=list(turn.reply)))
    return pieces


def rebuild_after_sink(
    runtime, ledger: ContextLedger, plan: RePrimePlan, *, n_past: int, query: str, marker: str
) -> RePrimeReport:
    """Remove everything after the sink and evaluate ``plan``'s turns again.

    Returns the report; ``report.n_past_after`` is the next free position.
    """
    started = time.perf_counter()
    sink = ledger.sink
    assert sink is not None, "re-priming needs a sink"
    cells_before = ledger.used
    runtime.remove(sink.p1, -1)
    for turn in ledger.truncate_to_sink():
        turn.has_query = False

    pieces: list[_Piece] = []
    for i, turn in enumerate(plan.turns):
        turn.has_query = i == 0  # the rebuilt context states the query once, in its first turn
        ledger.restore(turn)
        pieces += turn_pieces(
            turn, first=i == 0, with_frames=turn.index in plan.with_frames, query=query, marker=marker
        )

    evaluator = _Evaluator(runtime, ledger, sink.p1)
    run: list[_Piece] = []
    for piece in pieces:
        if piece.frames:
            evaluator.text_run(run)
            run = []
            evaluator.vision(piece)
        else:
            run.append(piece)
    evaluator.text_run(run)

    framed = {p.turn.index for p in pieces if p.frames}
    return RePrimeReport(
        seconds=time.perf_counter() - started,
        n_past_before=n_past,
        n_past_after=evaluator.pos,
        cells_before=cells_before,
        cells_after=ledger.used,
        text_turns=len(plan.turns) - len(framed),
        vision_turns=len(framed),
        tokens_evaluated=evaluator.tokens,
        llama_calls=evaluator.calls,
    )


class _Evaluator:
    """Evaluates pieces from ``pos`` on and records their spans."""

    def __init__(self, runtime, ledger: ContextLedger, pos: int) -> None:
        self.runtime, self.ledger, self.pos = runtime, ledger, pos
        self.tokens = self.calls = 0

    def vision(self, piece: _Piece) -> None:
        part = self.runtime.tokenize_part(piece.text, piece.frames)
        try:
            p0 = self.pos
            self.pos = self.runtime.eval_part(part, p0, logits=False)
            self.tokens += part.n_tokens
            self.calls += 1
            self.ledger.add(piece.turn, Span(PartKind.VISION, p0, self.pos, part.n_tokens, list(part.text_tokens)))
        finally:
            part.free()

    def text_run(self, run: list[_Piece]) -> None:
        """Evaluate a run of text pieces in one batch; one ledger span per piece."""
        tokens = [p.tokens if p.tokens is not None else self.runtime.tokenize_text(p.text) for p in run]
        if not any(tokens):
            return
        pos = self.pos
        self.pos = self.runtime.eval_tokens([t for toks in tokens for t in toks], pos)
        self.tokens += self.pos - pos
        self.calls += 1
        for piece, toks in zip(run, tokens):
            if toks:
                self.ledger.add(piece.turn, Span(piece.kind, pos, pos + len(toks), len(toks), toks))
                pos += len(toks)
