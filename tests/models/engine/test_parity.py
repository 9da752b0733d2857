"""Our llama.cpp path equals Hugging Face transformers on a tiny random Qwen2-VL: the proof for the real model.

A tiny Qwen2-VL (2 text layers, hidden 64; vision depth 2, width 64) is built with
transformers on the CPU, given the tiny model's scaled random weights (so outputs
depend on the frames), saved with ``save_pretrained`` (transformers 5 layout),
converted by ``models.convert`` to f32 and f16 GGUF pairs, and compared on the
same frames (already resized to multiples of 28, so no resize enters) and the
LiveCC prompt:

(a) vision embeddings of a 2-frame temporal patch (mtmd_encode_chunk) against
    ``model.visual``. llama.cpp computes the Conv3D patch embedding with its
    pixels and weights rounded to f16 (ggml's im2col), and GELUs from f16 tables,
    so against plain f32 transformers the difference is ~0.2 % of the largest
    value (f32 and f16 GGUF alike; f16 measured up to 0.3 %); tolerance 1 %.
    Against transformers with those roundings emulated, and llama.cpp's flash
    attention (f16 K/V) off, the f32 GGUF agrees to 0.7-1.7e-3 on values up to ~7
    (tolerance 4e-3): no conversion error (a swapped or misshapen tensor) survives that.
(b) next-token logits after a LiveCC first turn with a 2-frame chunk: max abs
    difference measured 0.0095 (f32) / 0.011 (f16) on logits of magnitude ~3.5;
    tolerance 0.05, and the same top-5 tokens in the same order.
(c) greedy decoding with repetition penalty 1.05 over four streaming chunks
    (the 6-frame opening chunk, then 2-frame chunks), 16 tokens each, through
    ``LiveCCEngine``, against transformers recomputing the whole interleaved
    sequence (M-RoPE positions from ``get_rope_index``, as in training): every
    token identical.

Also checked: the tokenizer (transformers' fast tokenizer from the checkpoint's
``tokenizer.json``) and llama.cpp tokenize the LiveCC prompts to the same ids.
"""

from __future__ import annotations

import copy
import ctypes
import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import llama_cpp  # noqa: E402
from llama_cpp import mtmd_cpp as mtmd  # noqa: E402

from models.convert import convert_checkpoint  # noqa: E402
from models.engine.livecc_engine import EngineOptions, LiveCCEngine  # noqa: E402
from models.engine.llama_runtime import LlamaMtmdRuntime, RuntimeOptions  # noqa: E402
from models.engine.prompt import DEFAULT_QUERY, chunk_turn, render  # noqa: E402
from models.engine.records import Frame, VideoChunk  # noqa: E402
from models.engine.token_sampler import SamplingOptions, TokenSampler  # noqa: E402
from models.gguf_qwen2vl import CLIP_IMAGE_MEAN, CLIP_IMAGE_STD, canonical_hf_name  # noqa: E402
from models.tiny_model import tiny_configs  # noqa: E402
from tests.models.tiny_hf import tiny_tensors, tokenizer_config, tokenizer_json  # noqa: E402

H, W = 112, 140  # multiples of 28: an 8 x 10 patch grid, 4 x 5 = 20 merged tokens per temporal patch
PENALTY, LIMIT = 1.05, 16


def build_reference(folder: Path):
    """A transformers Qwen2-VL with the tiny shapes and weights, saved as a checkpoint."""
    text, _vision, vocab = tiny_configs()
    ids = vocab.token_id
    config = transformers.Qwen2VLConfig(
        text_config=dict(
            vocab_size=text.vocab_size,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            rms_norm_eps=1e-6,
            max_position_embeddings=32768,
            bos_token_id=ids("<|endoftext|>"),
            eos_token_id=ids("<|im_end|>"),
            rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
        ),
        vision_config=dict(
            depth=2,
            embed_dim=64,
            hidden_size=64,
            num_heads=4,
            mlp_ratio=4,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            in_channels=3,
            hidden_act="quick_gelu",
        ),
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        bos_token_id=ids("<|endoftext|>"),
        eos_token_id=ids("<|im_end|>"),
        tie_word_embeddings=False,
    )
    model = transformers.Qwen2VLForConditionalGeneration(config).eval()
    names = {canonical_hf_name(k): k for k in model.state_dict()}
    model.load_state_dict({names[k]: torch.from_numpy(v) for k, v in tiny_tensors()}, strict=True)
    model.save_pretrained(folder)
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer_json(vocab)), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(vocab)), encoding="utf-8")
    return model


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    base = tmp_path_factory.mktemp("parity")
    model = build_reference(base / "hf")
    pairs = {}
    for outtype in ("f32", "f16"):
        result = convert_checkpoint(base / "hf", base / outtype, quant=outtype.upper(), outtype=outtype, stem="tiny")
        pairs[outtype] = (result.text_path, result.mmproj_path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(base / "hf")
    return model, tokenizer, pairs


def frames(n: int, seed: int) -> list[np.ndarray]:
    """Noisy frames with a box moving right: content that attention must tell apart."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    out = []
    for i in range(n):
        frame = (base // 2 + rng.integers(0, 128, (H, W, 3))).astype(np.uint8)
        frame[20:60, 10 + 6 * i : 50 + 6 * i] = (255, 200, 0)
        out.append(frame)
    return out


def patchify(rgb: list[np.ndarray]) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """Qwen2-VL's video preprocessing (rescale, CLIP normalize, temporal patches) for sized frames."""
    x = (np.stack(rgb).astype(np.float32) / 255.0 - np.float32(CLIP_IMAGE_MEAN)) / np.float32(CLIP_IMAGE_STD)
    x = x.transpose(0, 3, 1, 2)
    t, c, h, w = x.shape
    gt, gh, gw = t // 2, h // 14, w // 14
    x = x.reshape(gt, 2, c, gh // 2, 2, 14, gw // 2, 2, 14).transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return torch.from_numpy(np.ascontiguousarray(x.reshape(gt * gh * gw, c * 2 * 14 * 14))), (gt, gh, gw)


def test_patchify_matches_the_transformers_image_processor():
    """Two equal frames make the same patches as transformers' own (single-image) processor."""
    processor = transformers.Qwen2VLImageProcessorPil(do_resize=False)
    frame = frames(1, 7)[0]
    theirs = processor(images=[frame], return_tensors="np")
    ours, thw = patchify([frame, frame])
    assert tuple(theirs["image_grid_thw"][0]) == thw
    np.testing.assert_allclose(ours.numpy(), theirs["pixel_values"], atol=1e-6)


@contextmanager
def mtmd_context(text: Path, mmproj: Path, flash_attn: int):
    llama_cpp.llama_backend_init()
    model = llama_cpp.llama_model_load_from_file(str(text).encode(), llama_cpp.llama_model_default_params())
    params = mtmd.mtmd_context_params_default()
    params.use_gpu, params.n_threads, params.warmup, params.print_timings = False, 2, False, False
    params.flash_attn_type = flash_attn
    ctx = mtmd.mtmd_init_from_file(str(mmproj).encode(), model, params)
    try:
        assert model and ctx
        yield ctx
    finally:
        if ctx:
            mtmd.mtmd_free(ctx)
        llama_cpp.llama_model_free(model)


def mtmd_embeddings(text: Path, mmproj: Path, pair: list[np.ndarray], flash_attn: int = -1) -> np.ndarray:
    """The vision tower's output for one mergeable frame pair, as llama.cpp computes it.

    flash_attn: llama.cpp's setting (-1 auto, as the engine runs; 0 off: f32 attention).
    """
    with mtmd_context(text, mmproj, flash_attn) as ctx:
        bitmaps, keep = [], []
        for img in pair:
            buf = np.ascontiguousarray(img)
            keep.append(buf)
            bitmap = mtmd.mtmd_bitmap_init(W, H, buf.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)))
            mtmd.mtmd_bitmap_set_mergeable(bitmap, True)
            bitmaps.append(bitmap)
        raw = mtmd.mtmd_default_marker() * 2
        inp = mtmd.mtmd_input_text(text=raw, text_len=len(raw), add_special=False, parse_special=True)
        chunks = mtmd.mtmd_input_chunks_init()
        try:
            array = (mtmd.mtmd_bitmap_p_ctypes * 2)(*bitmaps)
            assert mtmd.mtmd_tokenize(ctx, chunks, ctypes.byref(inp), array, 2) == 0
            images = [mtmd.mtmd_input_chunks_get(chunks, i) for i in range(mtmd.mtmd_input_chunks_size(chunks))]
            (image,) = [c for c in images if mtmd.mtmd_input_chunk_get_type(c) != mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT]
            n = mtmd.mtmd_input_chunk_get_n_tokens(image)
            assert mtmd.mtmd_encode_chunk(ctx, image) == 0
            return np.ctypeslib.as_array(mtmd.mtmd_get_output_embd(ctx), shape=(n * 64,)).reshape(n, 64).copy()
        finally:
            mtmd.mtmd_input_chunks_free(chunks)
            for bitmap in bitmaps:
                mtmd.mtmd_bitmap_free(bitmap)


class _F16Table(torch.nn.Module):
    """An activation evaluated as ggml's CPU tables do: f16 in, f16 out."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x.half().double()).half().double()


def ggml_like_visual(model):
    """model.visual in float64 with ggml's f16 roundings: patch embedding inputs/weights, GELU tables."""
    visual = copy.deepcopy(model.model.visual).double()
    for block in visual.blocks:
        block.mlp.act = _F16Table(lambda x: x * torch.sigmoid(1.702 * x))
    visual.merger.mlp[1] = _F16Table(lambda x: torch.nn.functional.gelu(x, approximate="tanh"))
    with torch.no_grad():
        weight = visual.patch_embed.proj.weight
        weight.copy_(weight.half().double())

    def run(pv, grid):
        with torch.no_grad():
            return visual(pv.half().double(), grid_thw=grid).pooler_output.numpy()

    return run


@pytest.mark.parametrize("outtype", ["f32", "f16"])
def test_vision_embeddings_match(ref, outtype):
    model, _tok, pairs = ref
    pair = frames(2, 1)
    pv, thw = patchify(pair)
    grid = torch.tensor([thw])
    with torch.no_grad():
        expected = model.model.visual(pv, grid_thw=grid).pooler_output.numpy()
    ours = mtmd_embeddings(*pairs[outtype], pair)
    assert ours.shape == expected.shape == (20, 64)
    scale = np.abs(expected).max()
    assert np.abs(ours - expected).max() <= 0.01 * scale
    if outtype == "f32":  # without flash attention (f16 K/V), only ggml's known f16 roundings remain
        emulated = ggml_like_visual(model)(pv, grid)
        exact = mtmd_embeddings(*pairs[outtype], pair, flash_attn=0)
        assert np.abs(exact - emulated).max() <= 4e-3


def test_tokenizers_agree_on_the_livecc_prompts(ref):
    _model, tok, pairs = ref
    first = render(chunk_turn(0.0, 3.0, 6, DEFAULT_QUERY, first=True, marker=""))
    later = render(chunk_turn(3.0, 4.0, 2, None, first=False, marker=""))
    with LlamaMtmdRuntime(*pairs["f16"], RuntimeOptions(n_ctx=512, n_threads=2)) as runtime:
        for text in (first, later, " ... Great shot! 3-2 (what a goal)\n"):
            assert runtime.tokenize_text(text) == tok(text, add_special_tokens=False).input_ids, text


def hf_logits(model, ids: list[int], pvs: list[torch.Tensor], grids: list[tuple]) -> np.ndarray:
    x = torch.tensor([ids])
    with torch.no_grad():
        out = model(
            input_ids=x,
            pixel_values_videos=torch.cat(pvs),
            video_grid_thw=torch.tensor(grids),
            mm_token_type_ids=(x == model.config.video_token_id).int() * 2,
        )
    return out.logits[0, -1].double().numpy()


def turn_ids(tok, chunk: VideoChunk, query: str | None) -> tuple[list[int], torch.Tensor, tuple]:
    """The LiveCC turn of ``chunk`` as transformers sees it: one video segment of pad tokens."""
    pv, thw = patchify([f.rgb for f in chunk.frames])
    pads = "<|video_pad|>" * (thw[0] * thw[1] * thw[2] // 4)
    parts = chunk_turn(chunk.t0, chunk.t1, len(chunk.frames), query, first=chunk.index == 0, marker="")
    text = render(parts, f"<|vision_start|>{pads}<|vision_end|>")
    return tok(text, add_special_tokens=False).input_ids, pv, thw


@pytest.mark.parametrize("outtype", ["f32", "f16"])
def test_next_token_logits_match(ref, outtype):
    model, tok, pairs = ref
    chunk = VideoChunk(0, tuple(Frame(i * 0.5, f) for i, f in enumerate(frames(2, 1))), 0.0, 1.0)
    ids, pv, thw = turn_ids(tok, chunk, DEFAULT_QUERY)
    expected = hf_logits(model, ids, [pv], [thw])
    with LlamaMtmdRuntime(*pairs[outtype], RuntimeOptions(n_ctx=1024, n_threads=2)) as runtime:
        parts = chunk_turn(0.0, 1.0, 2, DEFAULT_QUERY, first=True, marker=runtime.marker)
        n_past = 0
        for i, part in enumerate(parts):
            tokenized = runtime.tokenize_part(part.text, [f.rgb for f in chunk.frames] if part.n_frames else ())
            n_past = runtime.eval_part(tokenized, n_past, logits=i == len(parts) - 1)
            tokenized.free()
        ours = runtime.logits().astype(np.float64)
    assert np.abs(ours - expected).max() <= 0.05
    assert list(np.argsort(-ours)[:5]) == list(np.argsort(-expected)[:5])


def stream_chunks(seed: int, later: int = 3) -> list[VideoChunk]:
    """LiveCC's chunking at 2 fps: 6 frames (0-3 s), then 2 frames per second."""
    rgb = frames(6 + 2 * later, seed)
    all_frames = [Frame(i * 0.5, f) for i, f in enumerate(rgb)]
    chunks = [VideoChunk(0, tuple(all_frames[:6]), 0.0, 3.0)]
    for k in range(later):
        pair = tuple(all_frames[6 + 2 * k : 8 + 2 * k])
        chunks.append(VideoChunk(k + 1, pair, pair[0].t, pair[-1].t + 0.5))
    return chunks


def transformers_stream(model, tok, chunks: list[VideoChunk]) -> list[list[int]]:
    """Greedy LiveCC streaming in transformers, as the release decodes.

    Each turn is prefilled over the whole interleaved sequence so far (M-RoPE
    positions from ``get_rope_index``, as in training), then decoded with
    transformers' KV cache. Repetition penalty over every id in the context, at
    most 16 tokens, and the last generated token (end of turn, or the 16th) is not kept.
    """
    eos = model.config.eos_token_id
    ids, pvs, grids, replies = [], [], [], []
    for chunk in chunks:
        turn, pv, thw = turn_ids(tok, chunk, DEFAULT_QUERY if chunk.index == 0 else None)
        ids += turn
        pvs.append(pv)
        grids.append(thw)
        x = torch.tensor([ids])
        with torch.no_grad():
            out = model(
                input_ids=x,
                pixel_values_videos=torch.cat(pvs),
                video_grid_thw=torch.tensor(grids),
                mm_token_type_ids=(x == model.config.video_token_id).int() * 2,
                use_cache=True,
            )
        reply: list[int] = []
        for n in range(LIMIT):
            scores = out.logits[0, -1].double().numpy()
            seen = np.array(sorted(set(ids + reply)))
            scores[seen] = np.where(scores[seen] > 0, scores[seen] / PENALTY, scores[seen] * PENALTY)
            token = int(np.argmax(scores))
            if token == eos:
                break
            reply.append(token)
            if n < LIMIT - 1:
                with torch.no_grad():
                    out = model(input_ids=torch.tensor([[token]]), cache=out.past_key_values, use_cache=True)
        replies.append(reply)
        ids += reply[:-1] if len(reply) == LIMIT else reply
    return replies


@pytest.fixture(scope="module")
def expected_replies(ref):
    model, tok, _pairs = ref
    return transformers_stream(model, tok, stream_chunks(seed=0))


def engine_stream(pair: tuple[Path, Path], chunks: list[VideoChunk], monkeypatch) -> list[list[int]]:
    picked: list[int] = []
    real_pick = TokenSampler.pick

    def recording_pick(self, logits, counts, n):
        token = real_pick(self, logits, counts, n)
        picked.append(token)
        return token

    monkeypatch.setattr(TokenSampler, "pick", recording_pick)
    options = EngineOptions(
        runtime=RuntimeOptions(n_ctx=4096, n_threads=2),
        sampling=SamplingOptions(greedy=True, repetition_penalty=PENALTY),
        max_new_tokens=LIMIT,
    )
    replies = []
    with LiveCCEngine(*pair, options) as engine:
        for chunk in chunks:
            picked.clear()
            engine.process(chunk)
            replies.append([t for t in picked if not engine.runtime.is_end_of_generation(t)])
    return replies


@pytest.mark.parametrize("outtype", ["f32", "f16"])
def test_greedy_streaming_tokens_are_identical(ref, expected_replies, outtype, monkeypatch):
    _model, _tok, pairs = ref
    ours = engine_stream(pairs[outtype], stream_chunks(seed=0), monkeypatch)
    assert [len(r) for r in expected_replies] == [LIMIT] * 4
    assert ours == expected_replies
