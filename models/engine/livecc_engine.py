"""LiveCC streaming commentary on llama.cpp: one growing, bounded KV cache.

``LiveCCEngine.feed(chunk)`` runs one turn of the official LiveCC protocol
(showlab/livecc ``demo/infer.py``) and yields events as tokens are decoded:
the chunk's prompt part by part (only the new tokens are evaluated: the cache
holds everything before), then at most ``max_new_tokens`` tokens. ``ask()``
answers a question on the same context (the release's conversation mode).

What stays in the cache is the context policy's decision (``policy=``, or
``EngineOptions.context``). The default, ``StreamingWindowPolicy``, keeps a
window of recent frames and a longer one of recent text and keeps positions in
the trained range by re-priming the context after the sink
(``models.engine.reprime``): streams of hours cost the same per chunk as the
first minutes. ``EvictOldestTurns`` is plain eviction, whose positions grow
without bound: the baseline the benchmarks compare against.
"""

from __future__ import annotations

import codecs
import os
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from models.engine import defaults
from models.engine.context import ContextLedger, ContextPolicy, RoomRequest, Span, Turn
from models.engine.engine_base import EngineBase
from models.engine.llama_runtime import DeviceReport, LlamaMtmdRuntime, RuntimeOptions
from models.engine.prompt import DEFAULT_QUERY, SILENCE, PartKind, chunk_turn, question_turn
from models.engine.protocol import EngineInfo
from models.engine.records import (
    AnswerDelta,
    AnswerDone,
    ChunkDone,
    ChunkStarted,
    ChunkStats,
    CommentaryDelta,
    VideoChunk,
)
from models.engine.reprime import RePrimeReport, rebuild_after_sink
from models.engine.streaming_policy import ContextOptions
from models.engine.token_sampler import SamplingOptions, TokenSampler


@dataclass(frozen=True)
class EngineOptions:
    """Protocol settings. ``runtime`` and ``sampling`` are documented on their classes.

    context: what stays in the cache (``ContextOptions``): by default the
        streaming window, sized by the context.
    max_new_tokens: most tokens generated per chunk (the release uses 16).
    answer_max_tokens: most tokens of an answer in conversation mode.
    """

    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    context: ContextOptions = field(default_factory=ContextOptions)
    max_new_tokens: int = defaults.MAX_NEW_TOKENS
    answer_max_tokens: int = defaults.ANSWER_MAX_TOKENS


class LiveCCEngine(EngineBase):
    """A LiveCC model pair running the streaming protocol over one KV cache.

    policy: what to keep when the cache is full (``ContextPolicy``); by
        default the one ``options.context`` describes.
    reprimes: the last rebuilds of the context (``RePrimeReport``), newest last,
        for status lines and benchmarks; ``reprime_count`` counts them all.
    """

    def __init__(
        self,
        model_path: str | os.PathLike,
        mmproj_path: str | os.PathLike,
        options: EngineOptions = EngineOptions(),
        *,
        policy: ContextPolicy | None = None,
        query: str = DEFAULT_QUERY,
    ) -> None:
        self.options = options
        self.runtime = LlamaMtmdRuntime(model_path, mmproj_path, options.runtime)
        self.policy = policy or options.context.build()
        self.n_ctx_train = trained_context_length(self.runtime)
        self.ledger = ContextLedger()
        self.reprimes: deque[RePrimeReport] = deque(maxlen=64)
        self.reprime_count = 0
        self._framed: deque[Turn] = deque()  # chunk turns whose frames are kept, oldest first
        self.silence_token = self.runtime.single_token(SILENCE)
        self._sampler = TokenSampler(options.sampling, self.silence_token)
        self._answer_sampler = TokenSampler(
            SamplingOptions(greedy=True, repetition_penalty=options.sampling.repetition_penalty), None
        )
        self.query = query
        self._query_sent: str | None = None
        self.n_past = 0

    @property
    def device(self) -> DeviceReport:
        return self.runtime.device

    def describe_device(self) -> str:
        """Where the model runs, with the automatic GPU plan's reason when one was made."""
        plan = self.runtime.gpu_plan if self.device.gpu_offload_supported else ""
        return f"{self.device.describe()} ({plan})" if plan else self.device.describe()

    def info(self) -> EngineInfo:
        device = self.device
        return EngineInfo(
            self.runtime.pair.name,
            self.describe_device(),
            bool(device.gpu_offload_supported and device.n_layers_offloaded),
        )

    def close(self) -> None:
        self.runtime.close()

    def reset(self) -> None:
        """Forget the stream: empty the cache (a new video starts at time 0)."""
        self.runtime.clear()
        self.ledger.clear()
        self._framed.clear()
        self._query_sent = None
        self.n_past = 0

    # ---------------------------------------------------------------- streaming
    def feed(self, chunk: VideoChunk) -> Iterator[ChunkStarted | CommentaryDelta | ChunkDone]:
        """Run one LiveCC turn on ``chunk``; yields events as tokens are decoded."""
        started = time.perf_counter()
        llama_before = self.runtime.llama_seconds
        yield ChunkStarted(chunk.index, chunk.t0, chunk.t1)
        query = self.query if self.query != self._query_sent else None
        parts = chunk_turn(
            chunk.t0,
            chunk.t1,
            len(chunk.frames),
            query,
            first=not self.ledger.turns_started,
            marker=self.runtime.marker,
        )
        frames = [f.rgb for f in chunk.frames]
        turn, evicted, prompt_tokens = self._evaluate_turn(
            parts, frames, has_query=query is not None, reserve=self.options.max_new_tokens, t0=chunk.t0, t1=chunk.t1
        )
        self._keep_frames(turn, frames)
        if query is not None:
            self._query_sent = query
        prefilled = time.perf_counter()

        pieces: list[str] = []
        held = ""  # a leading silence token, shown only if words follow it
        n_generated = 0
        for token, text in self._generate(turn, self._sampler, self.options.max_new_tokens):
            n_generated += 1
            if n_generated == 1 and token == self.silence_token:
                held = text
                continue
            text, held = held + text, ""
            pieces.append(text)
            if text:
                yield CommentaryDelta(chunk.t0, chunk.t1, text)
        reply = "".join(pieces)
        stats = self._stats(prompt_tokens, n_generated, evicted, started, prefilled, llama_before)
        yield ChunkDone(chunk.index, chunk.t0, chunk.t1, reply if reply.strip() else "", stats)

    def ask(self, question: str, max_new_tokens: int | None = None) -> Iterator[AnswerDelta | AnswerDone]:
        """Answer a question about what the model has seen, on the same context."""
        started = time.perf_counter()
        llama_before = self.runtime.llama_seconds
        limit = max_new_tokens or self.options.answer_max_tokens
        parts = question_turn(question.strip(), first=not self.ledger.turns_started)
        turn, evicted, prompt_tokens = self._evaluate_turn(
            parts, [], has_query=False, reserve=limit, question=question.strip()
        )
        prefilled = time.perf_counter()
        pieces = []
        for _token, text in self._generate(turn, self._answer_sampler, limit):
            pieces.append(text)
            if text:
                yield AnswerDelta(text)
        stats = self._stats(prompt_tokens, len(pieces), evicted, started, prefilled, llama_before)
        yield AnswerDone(question, "".join(pieces).strip(), stats)

    # ---------------------------------------------------------------- internals
    def _evaluate_turn(
        self,
        parts,
        frames,
        *,
        has_query: bool,
        reserve: int,
        t0: float | None = None,
        t1: float | None = None,
        question: str | None = None,
    ) -> tuple[Turn, int, int]:
        """Tokenize and evaluate a turn's parts after making room for them.

        Returns the turn, the cells evicted to make room, and the tokens
        evaluated (a re-priming rebuild's tokens are not counted: see ``reprimes``).
        """
        runtime = self.runtime
        tokenized = []
        try:
            for part in parts:
                tokenized.append(runtime.tokenize_part(part.text, frames if part.kind is PartKind.VISION else ()))
            needed = sum(t.n_tokens for t in tokenized) + reserve
            evicted = self._make_room(needed)
            turn = self.ledger.new_turn(has_query, t0=t0, t1=t1, question=question)
            for i, (part, tok) in enumerate(zip(parts, tokenized)):
                p0 = self.n_past
                self.n_past = runtime.eval_part(tok, p0, logits=i == len(parts) - 1)
                self.ledger.add(turn, Span(part.kind, p0, self.n_past, tok.n_tokens, tok.text_tokens))
        finally:
            for tok in tokenized:
                tok.free()
        return turn, evicted, sum(t.n_tokens for t in tokenized)

    def _make_room(self, needed: int) -> int:
        """Re-prime if the policy says so, then evict; returns the cells given up."""
        evicted = 0
        request = RoomRequest(needed, self.runtime.n_ctx, self.n_past, self.n_ctx_train)
        plan = self.policy.reprime(self.ledger, request)
        if plan is not None:
            report = rebuild_after_sink(
                self.runtime,
                self.ledger,
                plan,
                n_past=self.n_past,
                query=self._query_sent or self.query,
                marker=self.runtime.marker,
            )
            self.n_past = report.n_past_after
            self.reprimes.append(report)
            self.reprime_count += 1
            evicted += max(0, report.cells_before - report.cells_after)
        for turn, span in self.policy.plan(self.ledger, needed, self.runtime.n_ctx):
            self.runtime.remove(span.p0, span.p1)
            self.ledger.drop(turn, span)
            evicted += span.n_tokens
        return evicted

    def _generate(self, turn: Turn, sampler: TokenSampler, limit: int) -> Iterator[tuple[int, str]]:
        """Yield (token, text) as generated.

        Every generated token is evaluated into the cache except the last one
        (the end-of-turn token, or the token that hit the limit), exactly as the
        release keeps ``sequences[:, :-1]``: the next turn starts with
        ``<|im_end|>\\n``, which closes the reply.
        """
        runtime = self.runtime
        reply = Span(PartKind.REPLY, self.n_past, self.n_past, 0)
        self.ledger.add(turn, reply)
        turn.reply = reply.tokens  # the same list: the turn remembers its reply after the span goes
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        logits = runtime.logits()
        for n in range(limit):
            token = sampler.pick(logits, self.ledger.token_counts, n)
            if runtime.is_end_of_generation(token):
                break
            text = decoder.decode(runtime.piece(token))
            if n == limit - 1:
                yield token, text + decoder.decode(b"", final=True)
                break
            # The word goes out before the token is evaluated: first-word delay is one decode shorter.
            yield token, text
            runtime.decode_token(token, self.n_past)
            self.n_past += 1
            self.ledger.extend_reply(reply, token)
            logits = runtime.logits()
        if reply.n_tokens == 0:
            self.ledger.drop(turn, reply)

    def _keep_frames(self, turn: Turn, frames: list) -> None:
        """Keep the frames of the policy's last few chunks, for re-priming; drop older ones."""
        if self.policy.keep_frames <= 0 or not frames:
            return
        turn.frames = tuple(frames)
        self._framed.append(turn)
        while len(self._framed) > self.policy.keep_frames:
            self._framed.popleft().frames = None

    def _stats(self, prompt_tokens, n_generated, evicted, started, prefilled, llama_before) -> ChunkStats:
        now = time.perf_counter()
        return ChunkStats(
            prompt_tokens=prompt_tokens,
            generated_tokens=n_generated,
            evicted_tokens=evicted,
            kv_tokens=self.ledger.used,
            n_past=self.n_past,
            prefill_s=prefilled - started,
            generate_s=now - prefilled,
            wall_s=now - started,
            llama_s=self.runtime.llama_seconds - llama_before,
        )


def trained_context_length(runtime) -> int:
    """The context length the model was trained with (``n_ctx_train``).

    Read from the runtime when it says, else from the GGUF header
    (``<arch>.context_length``); Qwen2-VL's 32,768 when neither does.
    """
    value = getattr(runtime, "n_ctx_train", None)
    if value:
        return int(value)
    try:
        import gguf

        reader = gguf.GGUFReader(runtime.pair.text_path)
        arch = reader.fields["general.architecture"].contents()
        return int(reader.fields[f"{arch}.context_length"].contents())
    except (KeyError, OSError, ValueError):
        return 32768
