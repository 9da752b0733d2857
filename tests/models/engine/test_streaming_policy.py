"""The streaming-window context policy: the decisions alone, then on the real llama.cpp path.

The engine runs use a 2,048-cell context and small frames so that a two-minute
clip forces several re-primes; the 60-minute flat-cost check is a benchmark
(``bench/long_stream.py``), not a test.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.chunking import LiveCCChunker
from app.pipeline.sampling import FrameSampler
from app.sources.file_source import FileSource
from app.sources.synthetic import write_test_video
from models.engine.context import ContextLedger, EvictOldestTurns, RePrimePlan, RoomRequest, Span
from models.engine.livecc_engine import EngineOptions, LiveCCEngine, trained_context_length
from models.engine.llama_runtime import RuntimeOptions
from models.engine.prompt import PartKind
from models.engine.records import AnswerDone, ChunkDone
from models.engine.reprime import rebuild_after_sink
from models.engine.streaming_policy import (
    TYPICAL_CHUNK_CELLS,
    TYPICAL_FRAME_PIXELS,
    ContextOptions,
    StreamingWindowPolicy,
    StreamingWindowSettings,
)
from models.engine.token_sampler import SamplingOptions
from models.errors import ContextTooSmallError
from tests.models.engine.prompt_spy import spy_prompts

# ------------------------------------------------------------------ decisions


def fake_ledger(n_turns, vision=100, vision_pos=10, reply=8, frames=True):
    """A sink and ``n_turns`` chunk turns laid out as the engine would record them."""
    ledger = ContextLedger()
    pos = 0
    for i in range(n_turns):
        turn = ledger.new_turn(i == 0, t0=float(i), t1=float(i + 1))
        kinds = ([(PartKind.SINK, 20, 20)] if i == 0 else []) + [
            (PartKind.TIME, 12, 12),
            (PartKind.VISION, vision, vision_pos),
        ]
        kinds += ([(PartKind.QUERY, 6, 6)] if i == 0 else []) + [
            (PartKind.HEADER, 5, 5),
            (PartKind.REPLY, reply, reply),
        ]
        for kind, cells, positions in kinds:
            ledger.add(turn, Span(kind, pos, pos + positions, cells, [i]))
            pos += positions
        turn.reply = [7] * reply
        turn.frames = (np.zeros((2, 2, 3), np.uint8),) * 2 if frames else None
    return ledger, pos


def apply(ledger, plan):
    for turn, span in plan:
        ledger.drop(turn, span)


def test_defaults_for_8k_16k_32k_leave_room_for_a_chunk_and_an_answer():
    for n_ctx, vision, text in ((8192, 10, 1536), (16384, 20, 3072), (32768, 40, 6144)):
        s = StreamingWindowSettings.for_context(n_ctx)
        assert (s.vision_chunks, s.text_tokens, s.reprime_vision_chunks) == (vision, text, 1)
        chunk = TYPICAL_CHUNK_CELLS + 30  # frames, time label, header, a short reply
        steady = 30 + s.vision_chunks * chunk + s.text_tokens
        assert steady + chunk + 512 <= n_ctx


def test_context_options_size_the_window_by_the_context_unless_told():
    auto = ContextOptions()
    for n_ctx in (8192, 16384, 32768):
        assert auto.window_settings(n_ctx) == StreamingWindowSettings.for_context(n_ctx)
    # Bigger frames take more cells per chunk: fewer seconds of frames fit the same half.
    big = ContextOptions(frame_pixels=2 * TYPICAL_FRAME_PIXELS).window_settings(8192)
    assert big.vision_chunks == 5 and big.text_tokens == 1536
    told = ContextOptions(vision_window_s=4, text_window_tokens=900, reprime_vision_s=9).window_settings(8192)
    assert (told.vision_chunks, told.text_tokens, told.reprime_vision_chunks) == (4, 900, 4)  # clamped to the window
    with pytest.raises(ValueError, match="unknown context policy 'lru'"):
        ContextOptions(policy="lru")
    with pytest.raises(ValueError, match="negative"):
        ContextOptions(vision_window_s=-1)


def test_context_options_build_a_fresh_policy_of_the_kind_named():
    a, b = ContextOptions().build(), ContextOptions().build()
    assert isinstance(a, StreamingWindowPolicy) and a is not b
    assert a.position_limit(16384, 32768) == 16384 and a.settings.vision_chunks == 20  # sized at first use
    assert isinstance(ContextOptions(policy="evict").build(), EvictOldestTurns)
    assert ContextOptions(vision_window_s=3).build().position_limit(4096, 32768) == 4096


def test_plan_keeps_a_short_vision_window_and_a_longer_text_window():
    ledger, _ = fake_ledger(30)
    policy = StreamingWindowPolicy(StreamingWindowSettings(vision_chunks=4, text_tokens=250))
    apply(ledger, policy.plan(ledger, needed=150, capacity=100_000))
    framed = [t.index for t in ledger.turns if t.vision_spans()]
    texted = [t.index for t in ledger.turns if t.text_cells() and t.index > 0]
    assert framed == [27, 28, 29]  # the chunk being evaluated is the fourth
    assert texted == list(range(20, 30))  # 10 turns of 25 text cells fit 250
    first = ledger.turns[0]  # the sink and the query stay; its frames and reply go
    assert [s.kind for s in first.spans] == [PartKind.SINK, PartKind.TIME, PartKind.QUERY, PartKind.HEADER]


def test_plan_gives_up_frames_then_text_when_the_cache_is_small():
    ledger, _ = fake_ledger(12)
    policy = StreamingWindowPolicy(StreamingWindowSettings(vision_chunks=10, text_tokens=10_000))
    used = ledger.used
    plan = policy.plan(ledger, needed=450, capacity=used)  # a full cache: 450 cells must go
    assert [s.kind for _, s in plan] == [PartKind.VISION] * 5  # the window's 3, then 2 more; no text
    apply(ledger, plan)
    assert [t.index for t in ledger.turns if t.vision_spans()] == list(range(5, 12))
    with pytest.raises(ContextTooSmallError, match="--n-ctx"):
        policy.plan(ledger, needed=ledger.used, capacity=ledger.used)


def test_reprime_waits_for_the_limit_then_rebuilds_the_text_window_below_half_of_it():
    ledger, n_past = fake_ledger(40)
    policy = StreamingWindowPolicy(StreamingWindowSettings(vision_chunks=4, text_tokens=250, position_limit=1500))
    apply(ledger, policy.plan(ledger, 150, 100_000))
    assert n_past == 20 + 40 * 35 + 6
    assert policy.reprime(ledger, RoomRequest(150, 100_000, 1350, 32768)) is None
    plan = policy.reprime(ledger, RoomRequest(150, 100_000, n_past, 32768))
    assert [t.index for t in plan.turns] == list(range(30, 40))  # the text window
    assert plan.with_frames == {39}  # one chunk re-encoded, the rest as text
    # A tighter limit keeps fewer turns (hysteresis: the rebuilt context, the
    # next turn included, must end below half of the limit), but at least one.
    tight = policy.with_settings(position_limit=600).reprime(ledger, RoomRequest(150, 100_000, n_past, 32768))
    assert [t.index for t in tight.turns] == [36, 37, 38, 39]  # 20 + 4 * 25 + 10 + 150 <= 300
    tiny = policy.with_settings(position_limit=300).reprime(ledger, RoomRequest(150, 100_000, n_past, 32768))
    assert [t.index for t in tiny.turns] == [39]


def test_the_baseline_never_reprimes():
    ledger, n_past = fake_ledger(5)
    assert EvictOldestTurns().reprime(ledger, RoomRequest(150, 1000, 10**6, 32768)) is None
    assert EvictOldestTurns.keep_frames == 0


# ----------------------------------------------------------- on llama.cpp

N_CTX = 2048
SETTINGS = StreamingWindowSettings(vision_chunks=3, text_tokens=300, reprime_vision_chunks=1)


@pytest.fixture(scope="module")
def two_minutes(tmp_path_factory):
    path = write_test_video(tmp_path_factory.mktemp("clip") / "two.mp4", seconds=120, fps=4, size=(224, 168))
    with FileSource(path) as source:
        return list(LiveCCChunker().chunks(FrameSampler().sample(source.frames())))


def make_engine(tiny_model, settings=SETTINGS, n_ctx=N_CTX):
    opts = EngineOptions(
        runtime=RuntimeOptions(n_ctx=n_ctx, n_threads=2), sampling=SamplingOptions(greedy=True), max_new_tokens=8
    )
    return LiveCCEngine(tiny_model.text_path, tiny_model.mmproj_path, opts, policy=StreamingWindowPolicy(settings))


def rebuilt_spans(engine):
    """(turn, span) of what the last re-prime evaluated after the sink, in position order."""
    end = engine.reprimes[-1].n_past_after
    return sorted(
        ((t, sp) for t in engine.ledger.turns for sp in t.spans if sp.kind is not PartKind.SINK and sp.p1 <= end),
        key=lambda ts: ts[1].p0,
    )


@pytest.fixture(scope="module")
def long_run(tiny_model, two_minutes):
    """Stream the clip once; record what every chunk did."""
    engine = make_engine(tiny_model)
    seen = spy_prompts(engine)
    sink0 = None
    records = []
    for chunk in two_minutes:
        before_reprimes = engine.reprime_count
        before_eval = engine.runtime.evaluated_tokens()
        before_seen = len(seen)
        done = engine.process(chunk)
        reprimed = engine.reprime_count > before_reprimes
        if sink0 is None:
            sink0 = (engine.ledger.sink.p0, engine.ledger.sink.p1, list(engine.ledger.sink.tokens))
        spans = sorted((s for t in engine.ledger.turns for s in t.spans), key=lambda s: s.p0)
        kept_reply = next((s.n_tokens for s in engine.ledger.turns[-1].spans if s.kind is PartKind.REPLY), 0)
        records.append(
            dict(
                done=done,
                reprimed=reprimed,
                report=engine.reprimes[-1] if reprimed else None,
                evaluated=engine.runtime.evaluated_tokens() - before_eval,
                kept_reply=kept_reply,
                n_past=engine.n_past,
                used=engine.ledger.used,
                positions=engine.runtime.position_range(),
                span_sum=sum(s.n_tokens for s in spans),
                spans=[(s.kind, s.p0, s.p1) for s in spans],
                texts=seen[before_seen:],
                framed=sum(t.frames is not None for t in engine.ledger.turns),
                replies={t.index: engine.runtime.text_of(t.reply) for t in engine.ledger.turns},
                rebuilt=rebuilt_spans(engine) if reprimed else None,
                sink=(engine.ledger.sink.p0, engine.ledger.sink.p1, list(engine.ledger.sink.tokens)),
            )
        )
    yield engine, records, sink0
    engine.close()


def test_a_long_stream_reprimes_and_keeps_positions_in_range(long_run, two_minutes):
    engine, records, sink0 = long_run
    limit = engine.policy.position_limit(N_CTX, engine.n_ctx_train)
    assert limit == N_CTX
    assert len(records) == len(two_minutes) == 118  # no chunk lost
    assert all(isinstance(r["done"], ChunkDone) for r in records)
    assert sum(r["reprimed"] for r in records) >= 3
    for r in records:
        assert r["positions"][1] < r["n_past"] <= limit
        assert r["used"] == r["span_sum"] <= N_CTX  # the ledger accounts for every cell
        assert r["positions"][0] == 0 and r["sink"] == sink0  # the sink is never rebuilt
        assert r["framed"] <= SETTINGS.reprime_vision_chunks
    assert all(r["done"].stats.generated_tokens > 0 for r in records[-20:])  # still talking


def test_a_reprime_evaluates_only_the_window_after_the_reused_sink(long_run):
    engine, records, _ = long_run
    for r in (r for r in records if r["reprimed"]):
        report, done = r["report"], r["done"]
        # llama.cpp's own counters: the rebuilt window, the new chunk and its reply; not the sink.
        assert r["evaluated"] == report.tokens_evaluated + done.stats.prompt_tokens + r["kept_reply"]
        assert report.n_past_after <= SETTINGS.reprime_fill * N_CTX
        assert report.vision_turns == 1 and report.text_turns >= 5
        assert report.llama_calls <= 4  # text runs are batched: text, frames, text
        # Contiguous positions: every span starts where the previous one ended.
        spans = r["spans"]
        assert spans[0][0] is PartKind.SINK
        assert all(a[2] == b[1] for a, b in zip(spans, spans[1:]))


def test_the_rebuilt_context_holds_the_query_once_and_the_recent_commentary(long_run):
    engine, records, _ = long_run
    i = next(i for i, r in enumerate(records) if r["reprimed"])
    r, before = records[i], records[i - 1]
    own, rebuilt = r["texts"][:3], r["texts"][3:]  # the chunk is tokenized first: time, frames, header
    assert [n for _, n in own] == [0, 2, 0]
    assert [n for _, n in rebuilt] == [2]  # one chunk's frames re-encoded; text goes as token ids
    text = engine.runtime.text_of([tok for _, sp in r["rebuilt"] for tok in sp.tokens], special=True)
    assert text.startswith("Time=") and text.count("Please describe the video.") == 1
    assert text.index("Please describe the video.") < text.index("<|im_end|>")  # in the first turn
    # The commentary of the last turns before the rebuild is in it, with their time labels.
    recent = [idx for idx in sorted(before["replies"]) if before["replies"][idx].strip()][-3:]
    for idx in recent:
        assert before["replies"][idx] in text
    assert f"Time={records[i - 1]['done'].t0:.1f}-{records[i - 1]['done'].t1:.1f}s" in text


def test_rebuilt_replies_are_the_generated_token_ids(long_run):
    engine, records, _ = long_run
    for r in (r for r in records if r["reprimed"]):
        replies = [(turn, span) for turn, span in r["rebuilt"] if span.kind is PartKind.REPLY]
        assert len(replies) >= 5 and all(span.tokens == turn.reply for turn, span in replies)


def split_token(runtime):
    """A token ``t`` and two tokens spelling the same text: what sampling may produce, what
    tokenizing the text would never give back."""
    for token in range(runtime.n_vocab):
        text = runtime.piece(token).decode("utf-8", errors="ignore")
        if len(text) >= 2 and text.isalpha() and runtime.tokenize_text(text) == [token]:
            halves = runtime.tokenize_text(text[0]) + runtime.tokenize_text(text[1:])
            if len(halves) == 2 and runtime.text_of(halves) == text:
                return token, halves
    raise AssertionError("the vocabulary has no splittable token")


def test_a_reprime_writes_a_reply_back_as_the_ids_sampled_not_as_retokenized_text(tiny_model, two_minutes):
    engine = make_engine(tiny_model)
    try:
        for chunk in two_minutes[:6]:
            engine.process(chunk)
        runtime = engine.runtime
        merged, halves = split_token(runtime)
        turns = tuple(t for t in engine.ledger.turns if t.is_chunk)[-3:]
        turns[-1].reply = halves + [merged]  # non-canonical: text_of() would tokenize to [merged, merged]
        assert runtime.tokenize_text(runtime.text_of(turns[-1].reply)) != turns[-1].reply
        before = runtime.evaluated_tokens()
        report = rebuild_after_sink(
            runtime,
            engine.ledger,
            RePrimePlan(turns, frozenset()),
            n_past=engine.n_past,
            query=engine.query,
            marker=runtime.marker,
        )
        rebuilt = [sp for sp in turns[-1].spans if sp.kind is PartKind.REPLY]
        assert [sp.tokens for sp in rebuilt] == [halves + [merged]]
        # llama.cpp evaluated exactly the spans the ledger records: three ids for that reply, not two.
        spans = [sp for t in turns for sp in t.spans]
        assert runtime.evaluated_tokens() - before == report.tokens_evaluated == sum(sp.n_tokens for sp in spans)
        assert report.llama_calls == 1 and report.n_past_after == engine.ledger.sink.p1 + report.tokens_evaluated
    finally:
        engine.close()


def test_query_changes_and_questions_survive_a_reprime(tiny_model, two_minutes):
    engine = make_engine(tiny_model, StreamingWindowSettings(vision_chunks=3, text_tokens=300, position_limit=1200))
    try:
        for chunk in two_minutes[:10]:
            engine.process(chunk)
        assert engine.reprime_count == 0
        engine.set_query("Who scores?")
        for chunk in two_minutes[10:60]:
            engine.process(chunk)
            if chunk.index == 20:
                assert isinstance(list(engine.ask("What happened?", max_new_tokens=8))[-1], AnswerDone)
            assert engine.n_past <= 1200
        assert engine.reprime_count >= 2
        # The rebuilt context opens with the latest query, not the first one.
        first = engine.ledger.query_turn()
        text = engine.runtime.text_of([tok for s in first.spans for tok in s.tokens])
        assert "Who scores?" in text and "describe" not in text
        assert first is next(t for t in engine.ledger.turns if any(s.kind is not PartKind.SINK for s in t.spans))
    finally:
        engine.close()


def test_engines_run_the_streaming_window_unless_told_otherwise(tiny_model):
    opts = EngineOptions(runtime=RuntimeOptions(n_ctx=N_CTX, n_threads=2))
    with LiveCCEngine(tiny_model.text_path, tiny_model.mmproj_path, opts) as engine:
        assert isinstance(engine.policy, StreamingWindowPolicy)
    evict = EngineOptions(runtime=opts.runtime, context=ContextOptions(policy="evict"))
    with LiveCCEngine(tiny_model.text_path, tiny_model.mmproj_path, evict) as engine:
        assert isinstance(engine.policy, EvictOldestTurns)


def test_trained_context_is_read_from_the_model(tiny_model):
    class NoField:
        pair = type("Pair", (), {"text_path": tiny_model.text_path})()

    assert trained_context_length(NoField()) == 32768
