"""The streaming engine on the real llama.cpp with the tiny random model."""

from __future__ import annotations

import numpy as np
import pytest

from app.pipeline.chunking import LiveCCChunker
from app.pipeline.sampling import FrameSampler, smart_resize
from app.sources.file_source import FileSource
from app.sources.synthetic import write_test_video
from models.engine.livecc_engine import EngineOptions, LiveCCEngine
from models.engine.llama_runtime import RuntimeOptions
from models.engine.prompt import PartKind
from models.engine.records import AnswerDelta, AnswerDone, ChunkDone, ChunkStarted, CommentaryDelta, Frame, VideoChunk
from models.engine.token_sampler import SamplingOptions, TokenSampler
from models.errors import ContextTooSmallError
from tests.models.engine.prompt_spy import spy_prompts

MARKER = "<__media__>"


@pytest.fixture
def make_engine(tiny_model):
    engines = []

    def make(n_ctx=4096, max_new_tokens=16, greedy=True, **kw):
        opts = EngineOptions(
            runtime=RuntimeOptions(n_ctx=n_ctx, n_threads=2),
            sampling=SamplingOptions(greedy=greedy, **kw),
            max_new_tokens=max_new_tokens,
        )
        engine = LiveCCEngine(tiny_model.text_path, tiny_model.mmproj_path, opts)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


@pytest.fixture(scope="module")
def clip_chunks(tmp_path_factory):
    """The chunks of a generated 10-second 320x240 clip."""
    path = write_test_video(tmp_path_factory.mktemp("clip") / "ten.mp4", seconds=10, size=(320, 240))
    with FileSource(path) as source:
        return list(LiveCCChunker().chunks(FrameSampler().sample(source.frames())))


def run(engine, chunk):
    return list(engine.feed(chunk))


def test_prompt_strings_and_spans_of_a_ten_second_clip(make_engine, clip_chunks):
    engine = make_engine()
    marker = engine.runtime.marker
    seen = spy_prompts(engine)
    spans = []
    for chunk in clip_chunks:
        before = len(seen)
        events = run(engine, chunk)
        spans.append((chunk.t0, chunk.t1, len(chunk.frames)))
        text = "".join(t for t, _ in seen[before:])
        assert sum(n for _, n in seen[before:]) == len(chunk.frames)
        vision = marker * len(chunk.frames)
        if chunk.index == 0:
            assert text == (
                "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                f"Time=0.0-3.0s{vision}Please describe the video.<|im_end|>\n<|im_start|>assistant\n"
            )
        else:
            assert text == (
                f"<|im_end|>\n<|im_start|>user\nTime={chunk.t0:.1f}-{chunk.t1:.1f}s{vision}"
                "<|im_end|>\n<|im_start|>assistant\n"
            )
        assert isinstance(events[0], ChunkStarted) and isinstance(events[-1], ChunkDone)
    assert spans == [(0.0, 3.0, 6)] + [(float(s), float(s + 1), 2) for s in range(3, 10)]


def test_query_change_is_sent_once_in_the_next_chunk(make_engine, clip_chunks):
    engine = make_engine()
    seen = spy_prompts(engine)
    run(engine, clip_chunks[0])
    n = len(seen)
    run(engine, clip_chunks[1])
    assert not any("describe" in t for t, _ in seen[n:])
    engine.set_query("Who has the ball?")
    n = len(seen)
    run(engine, clip_chunks[2])
    assert "".join(t for t, _ in seen[n:]).count("Who has the ball?") == 1
    n = len(seen)
    run(engine, clip_chunks[3])
    assert "Who has the ball?" not in "".join(t for t, _ in seen[n:])


def test_two_frames_become_one_temporal_patch(make_engine, clip_chunks):
    engine = make_engine()
    chunk = clip_chunks[1]
    h, w = chunk.frames[0].height, chunk.frames[0].width
    assert (h, w) == smart_resize(240, 320)
    part = engine.runtime.tokenize_part(engine.runtime.marker * 2, [f.rgb for f in chunk.frames])
    try:
        assert engine.runtime.vision_segments(part) == [((h // 28) * (w // 28), max(h, w) // 28)]
    finally:
        part.free()


def test_the_opening_chunk_is_one_video_segment_of_three_patches(make_engine, clip_chunks):
    """As in transformers: one <|vision_start|>..<|vision_end|>, patches at t = p0, p0+1, p0+2."""
    engine = make_engine()
    rt = engine.runtime
    frames = [f.rgb for f in clip_chunks[0].frames]
    h, w = frames[0].shape[0] // 28, frames[0].shape[1] // 28
    part = rt.tokenize_part(rt.marker * 6, frames)
    try:
        assert rt.vision_segments(part) == [(h * w, max(h, w))] * 3  # mtmd: three images
        assert part.video_groups == 3
        vs, ve = rt.single_token("<|vision_start|>"), rt.single_token("<|vision_end|>")
        assert part.text_tokens == [vs, ve]  # the inner end/start pairs are gone
        assert part.n_tokens == 3 * h * w + 2
        before = rt.evaluated_tokens()
        end = rt.eval_part(part, 100, logits=True)
    finally:
        part.free()
    assert rt.evaluated_tokens() - before == 3 * h * w + 2
    # <|vision_start|> at 100, the patches from 101, the text after at 101 + max(t, h, w).
    assert end == 101 + max(3, h, w) + 1
    assert rt.position_range() == (100, end - 1)


def test_each_chunk_evaluates_only_its_new_tokens(make_engine, clip_chunks):
    engine = make_engine(max_new_tokens=8)
    evicted = 0
    for chunk in clip_chunks:
        before = engine.runtime.evaluated_tokens()
        kv_before = engine.ledger.used
        done = run(engine, chunk)[-1]
        evaluated = engine.runtime.evaluated_tokens() - before
        reply = [s for s in engine.ledger.turns[-1].spans if s.kind is PartKind.REPLY]
        kept = reply[0].n_tokens if reply else 0
        # llama.cpp's own counters: the new prompt parts plus the kept reply tokens, nothing older.
        assert evaluated == done.stats.prompt_tokens + kept
        # The cache: what was there, less what the policy gave up, plus the new turn.
        assert engine.ledger.used == kv_before - done.stats.evicted_tokens + done.stats.prompt_tokens + kept
        assert engine.runtime.position_range()[1] < engine.n_past
        evicted += done.stats.evicted_tokens
    assert engine.reprime_count == 0  # nothing was evaluated again
    assert evicted > 0  # the default policy's vision window (5 s at 4096) was passed


def test_reply_stops_at_the_limit_and_drops_its_last_token(make_engine, clip_chunks):
    engine = make_engine(max_new_tokens=3)
    for chunk in clip_chunks[:4]:
        done = run(engine, chunk)[-1]
        assert 0 <= done.stats.generated_tokens <= 3
        reply = [s for s in engine.ledger.turns[-1].spans if s.kind is PartKind.REPLY]
        kept = reply[0].n_tokens if reply else 0
        # Every generated token is kept but the last: the token that hit the limit or <|im_end|>
        # (which is not counted as generated).
        assert kept in (done.stats.generated_tokens, done.stats.generated_tokens - 1)
        if done.stats.generated_tokens == 3:
            assert kept == 2


def test_deltas_add_up_to_the_chunk_text(make_engine, clip_chunks):
    engine = make_engine(greedy=False, seed=7)
    for chunk in clip_chunks[:5]:
        events = run(engine, chunk)
        deltas = "".join(e.text for e in events if isinstance(e, CommentaryDelta))
        done = events[-1]
        assert deltas.strip() == done.text.strip()
        assert all((e.t0, e.t1) == (chunk.t0, chunk.t1) for e in events if isinstance(e, CommentaryDelta))


def test_sampling_is_reproducible_with_a_seed_and_differs_across_seeds(make_engine, clip_chunks):
    def texts(seed):
        engine = make_engine(greedy=False, seed=seed, temperature=1.5, top_k=0, top_p=1.0)
        return [run(engine, c)[-1].text for c in clip_chunks[:4]]

    assert texts(1) == texts(1)
    assert texts(1) != texts(2)


def test_commentary_depends_on_the_frames(make_engine):
    def commentary(color):
        frames = tuple(Frame(i * 0.5, np.full((224, 224, 3), color, np.uint8)) for i in range(6))
        engine = make_engine()
        return run(engine, VideoChunk(0, frames, 0.0, 3.0))[-1].text

    assert commentary((250, 10, 10)) != commentary((10, 10, 250))


class ScriptedSampler(TokenSampler):
    """Random weights never choose silence; this sampler does, to test the engine's handling of it."""

    def __init__(self, script):
        self.script = list(script)

    def pick(self, logits, context_counts, n_generated):
        return self.script.pop(0)


def test_silence_is_empty_text_and_stays_in_the_cache(make_engine, clip_chunks):
    engine = make_engine()
    im_end = engine.runtime.single_token("<|im_end|>")
    engine._sampler = ScriptedSampler([engine.silence_token, im_end])
    events = run(engine, clip_chunks[0])
    done = events[-1]
    assert done.text == "" and done.silent
    assert not any(isinstance(e, CommentaryDelta) for e in events)
    reply = [s for s in engine.ledger.turns[-1].spans if s.kind is PartKind.REPLY][0]
    assert reply.tokens == [engine.silence_token]  # " ..." kept, <|im_end|> dropped
    # Silence followed by words is commentary, not silence.
    word = engine.runtime.single_token(" ball")
    engine._sampler = ScriptedSampler([engine.silence_token, word, im_end])
    done = run(engine, clip_chunks[1])[-1]
    assert done.text == " ... ball"


def test_context_stays_bounded_over_a_ten_minute_video(make_engine, tmp_path):
    path = write_test_video(tmp_path / "ten-minutes.mp4", seconds=600, fps=4, size=(224, 168))
    engine = make_engine(n_ctx=4096, max_new_tokens=8)
    n_ctx = engine.runtime.n_ctx
    done = []
    with FileSource(path) as source:
        for chunk in LiveCCChunker().chunks(FrameSampler().sample(source.frames())):
            done.append(run(engine, chunk)[-1])
            assert engine.ledger.used <= n_ctx
    assert len(done) == 598 and done[-1].t1 == pytest.approx(600.0, abs=0.6)
    assert sum(d.stats.evicted_tokens for d in done) > 0
    assert all(d.stats.generated_tokens > 0 for d in done[-50:])  # still talking at the end
    kinds = [s.kind for t in engine.ledger.turns for s in t.spans]
    assert kinds[0] is PartKind.SINK and PartKind.QUERY in kinds
    # The default policy keeps positions within the context by re-priming; the sink stays at 0.
    assert engine.reprime_count > 0 and engine.n_past <= n_ctx
    assert engine.runtime.position_range()[1] < engine.n_past
    first_kept = min(s.p0 for t in engine.ledger.turns for s in t.spans)
    assert engine.runtime.position_range()[0] == first_kept == 0


def test_a_context_too_small_for_one_chunk_is_a_clear_error(make_engine, clip_chunks):
    engine = make_engine(n_ctx=256)
    with pytest.raises(ContextTooSmallError, match="--n-ctx"):
        run(engine, clip_chunks[0])


def test_questions_are_answered_on_the_same_context(make_engine, clip_chunks):
    engine = make_engine()
    for chunk in clip_chunks[:3]:
        run(engine, chunk)
    before = engine.runtime.evaluated_tokens()
    events = list(engine.ask("What happened?", max_new_tokens=20))
    done = events[-1]
    assert isinstance(done, AnswerDone) and done.question == "What happened?"
    assert "".join(e.text for e in events if isinstance(e, AnswerDelta)).strip() == done.text
    assert done.stats.generated_tokens <= 20
    assert engine.runtime.evaluated_tokens() - before <= done.stats.prompt_tokens + 20
    # Commentary goes on after the answer.
    assert isinstance(run(engine, clip_chunks[3])[-1], ChunkDone)
