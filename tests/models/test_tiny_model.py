"""The tiny Qwen2-VL pair loads in the real llama.cpp and behaves like the real model's files.

These tests also cover the shared GGUF writer (the converter's path) and the BPE vocabulary.
"""

from __future__ import annotations

import ctypes
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import gguf
import llama_cpp
import numpy as np
import pytest
from llama_cpp import mtmd_cpp as mtmd

from models.bpe_vocab import QWEN2VL_SPECIAL_TOKENS, Vocab, build_word_vocab
from models.errors import ModelError
from models.gguf_qwen2vl import Qwen2VLTextConfig, Qwen2VLVisionConfig, write_text_gguf
from models.tiny_model import TinyModel, make_tiny_model, random_tensors, tiny_configs

W, H = 644, 476  # multiples of 28: 23 x 17 merged tokens
MARKER = mtmd.mtmd_default_marker().decode()
PROMPT = f"<|im_start|>user\nTime=0.0-1.0s{MARKER}{MARKER}<|im_end|>\n<|im_start|>assistant\n"


@contextmanager
def loaded(tiny: TinyModel) -> Iterator[tuple[int, int, int]]:
    """(model, context, mtmd context) on CPU, freed afterwards."""
    model = llama_cpp.llama_model_load_from_file(str(tiny.text_path).encode(), llama_cpp.llama_model_default_params())
    assert model, "llama.cpp rejected the text GGUF"
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx, cparams.n_batch, cparams.n_ubatch, cparams.n_threads = 2048, 512, 512, 2
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    mparams = mtmd.mtmd_context_params_default()
    mparams.use_gpu, mparams.n_threads, mparams.warmup, mparams.print_timings = False, 2, False, False
    mctx = mtmd.mtmd_init_from_file(str(tiny.mmproj_path).encode(), model, mparams)
    try:
        assert ctx and mctx, "llama.cpp rejected the context or the mmproj"
        yield model, ctx, mctx
    finally:
        if mctx:
            mtmd.mtmd_free(mctx)
        if ctx:
            llama_cpp.llama_free(ctx)
        llama_cpp.llama_model_free(model)


def frame_pair(kind: str) -> list[np.ndarray]:
    """Two consecutive H x W RGB frames: a box moving right, or two flat colours."""
    frames = []
    for i in range(2):
        if kind == "box":
            img = np.full((H, W, 3), 40, np.uint8)
            img[150:250, 100 + 30 * i : 220 + 30 * i] = (255, 200, 0)
        else:
            img = np.full((H, W, 3), (20 + 60 * i, 90, 200), np.uint8)
        frames.append(img)
    return frames


@contextmanager
def tokenized(mctx: int, text: str, frames: Sequence[np.ndarray]) -> Iterator[int]:
    """mtmd chunks of ``text`` with one mergeable bitmap per frame."""
    bitmaps = []
    for img in frames:
        data = (ctypes.c_uint8 * img.size).from_buffer_copy(np.ascontiguousarray(img).tobytes())
        bitmap = mtmd.mtmd_bitmap_init(img.shape[1], img.shape[0], data)
        mtmd.mtmd_bitmap_set_mergeable(bitmap, True)
        bitmaps.append(bitmap)
    raw = text.encode()
    inp = mtmd.mtmd_input_text()
    inp.text, inp.text_len, inp.add_special, inp.parse_special = raw, len(raw), True, True
    chunks = mtmd.mtmd_input_chunks_init()
    try:
        array = (mtmd.mtmd_bitmap_p_ctypes * len(bitmaps))(*bitmaps)
        assert mtmd.mtmd_tokenize(mctx, chunks, ctypes.byref(inp), array, len(bitmaps)) == 0
        yield chunks
    finally:
        mtmd.mtmd_input_chunks_free(chunks)
        for bitmap in bitmaps:
            mtmd.mtmd_bitmap_free(bitmap)


def chunk_summary(chunks: int) -> list[tuple[int, int, int]]:
    """(type, n_tokens, n_pos) per chunk."""
    out = []
    for i in range(mtmd.mtmd_input_chunks_size(chunks)):
        c = mtmd.mtmd_input_chunks_get(chunks, i)
        out.append(
            (
                mtmd.mtmd_input_chunk_get_type(c),
                mtmd.mtmd_input_chunk_get_n_tokens(c),
                mtmd.mtmd_input_chunk_get_n_pos(c),
            )
        )
    return out


def greedy_after_frames(tiny: TinyModel, frames: Sequence[np.ndarray], n: int = 8) -> tuple[np.ndarray, list[int]]:
    """Logits after the prompt, and ``n`` greedy tokens."""
    with loaded(tiny) as (model, ctx, mctx), tokenized(mctx, PROMPT, frames) as chunks:
        n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))
        n_past = llama_cpp.llama_pos(0)
        assert mtmd.mtmd_helper_eval_chunks(mctx, ctx, chunks, 0, 0, 512, True, ctypes.byref(n_past)) == 0
        first = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,)).copy()
        logits, tokens, pos = first, [], n_past.value
        batch = llama_cpp.llama_batch_init(1, 0, 1)
        try:
            for _ in range(n):
                tokens.append(int(np.argmax(logits)))
                batch.n_tokens, batch.token[0], batch.pos[0] = 1, tokens[-1], pos
                batch.n_seq_id[0], batch.seq_id[0][0], batch.logits[0] = 1, 0, True
                assert llama_cpp.llama_decode(ctx, batch) == 0
                pos += 1
                logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
        finally:
            llama_cpp.llama_batch_free(batch)
        return first, tokens


def tokenize(model: int, text: str, parse_special: bool) -> list[int]:
    vocab = llama_cpp.llama_model_get_vocab(model)
    raw = text.encode()
    out = (llama_cpp.llama_token * 128)()
    n = llama_cpp.llama_tokenize(vocab, raw, len(raw), out, 128, False, parse_special)
    assert n >= 0
    return list(out[:n])


def test_files_load(tiny_model: TinyModel) -> None:
    with loaded(tiny_model) as (model, _ctx, _mctx):
        buf = ctypes.create_string_buffer(64)
        llama_cpp.llama_model_meta_val_str(model, b"general.architecture", buf, 64)
        assert buf.value == b"qwen2vl"
        assert llama_cpp.llama_model_n_embd(model) == 64
        assert llama_cpp.llama_model_n_layer(model) == 2
        assert llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model)) == tiny_configs()[0].vocab_size


def test_vision_is_supported_with_mrope(tiny_model: TinyModel) -> None:
    with loaded(tiny_model) as (_model, _ctx, mctx):
        assert mtmd.mtmd_support_vision(mctx)
        assert mtmd.mtmd_decode_use_mrope(mctx)


def test_two_mergeable_frames_become_one_temporal_patch(tiny_model: TinyModel) -> None:
    with loaded(tiny_model) as (_model, _ctx, mctx), tokenized(mctx, PROMPT, frame_pair("box")) as chunks:
        summary = chunk_summary(chunks)
    images = [c for c in summary if c[0] == mtmd.MTMD_INPUT_CHUNK_TYPE_IMAGE]
    assert images == [(mtmd.MTMD_INPUT_CHUNK_TYPE_IMAGE, 23 * 17, 23)]
    assert len(summary) == 3  # text, image, text


def test_ellipsis_is_one_token(tiny_model: TinyModel) -> None:
    with loaded(tiny_model) as (model, _ctx, _mctx):
        assert len(tokenize(model, " ...", parse_special=True)) == 1
        assert tokenize(model, "Great ...", True)[-1] == tokenize(model, " ...", True)[0]


def test_special_tokens_are_single_control_tokens(tiny_model: TinyModel) -> None:
    with loaded(tiny_model) as (model, _ctx, _mctx):
        vocab = llama_cpp.llama_model_get_vocab(model)
        for text in (
            "<|endoftext|>",
            "<|im_start|>",
            "<|im_end|>",
            "<|vision_start|>",
            "<|vision_end|>",
            "<|vision_pad|>",
            "<|image_pad|>",
            "<|video_pad|>",
        ):
            ids = tokenize(model, text, parse_special=True)
            assert len(ids) == 1, text
            assert llama_cpp.llama_vocab_is_control(vocab, ids[0]), text
            assert len(tokenize(model, text, parse_special=False)) > 1, text
        assert llama_cpp.llama_vocab_eos(vocab) == tokenize(model, "<|im_end|>", True)[0]
        assert not llama_cpp.llama_vocab_get_add_bos(vocab)


def test_output_depends_on_frames(tiny_model: TinyModel) -> None:
    logits_box, tokens_box = greedy_after_frames(tiny_model, frame_pair("box"))
    logits_flat, tokens_flat = greedy_after_frames(tiny_model, frame_pair("flat"))
    again, tokens_again = greedy_after_frames(tiny_model, frame_pair("box"))
    assert tokens_box != tokens_flat
    assert np.abs(logits_box - logits_flat).max() > 0.1
    assert tokens_again == tokens_box and np.array_equal(again, logits_box)


def test_same_seed_same_bytes(tiny_model: TinyModel, tmp_path: Path) -> None:
    same = make_tiny_model(tmp_path / "same", seed=0)
    other = make_tiny_model(tmp_path / "other", seed=1)
    assert same.text_path.read_bytes() == tiny_model.text_path.read_bytes()
    assert same.mmproj_path.read_bytes() == tiny_model.mmproj_path.read_bytes()
    assert other.text_path.read_bytes() != tiny_model.text_path.read_bytes()
    assert other.mmproj_path.read_bytes() != tiny_model.mmproj_path.read_bytes()


def test_cache_reuses_matching_files_and_rebuilds_others(tmp_path: Path) -> None:
    first = make_tiny_model(tmp_path, seed=0)
    stamps = [p.stat().st_mtime_ns for p in (first.text_path, first.mmproj_path)]
    assert make_tiny_model(tmp_path, seed=0) == first
    assert [p.stat().st_mtime_ns for p in (first.text_path, first.mmproj_path)] == stamps

    original = first.text_path.read_bytes()
    first.text_path.write_bytes(original[:1000])  # a damaged file is rebuilt
    make_tiny_model(tmp_path, seed=0)
    assert first.text_path.read_bytes() == original

    make_tiny_model(tmp_path, seed=3)  # another seed replaces the pair
    assert first.text_path.read_bytes() != original
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [first.text_path.name, first.mmproj_path.name, "tiny-qwen2vl.stamp.json"]
    )


def test_f16_output_keeps_1d_tensors_f32_and_loads(tmp_path: Path) -> None:
    tiny = make_tiny_model(tmp_path, seed=0, out_type="f16")
    types = {t.name: t.tensor_type for t in gguf.GGUFReader(tiny.mmproj_path).tensors}
    assert types["v.patch_embd.weight.1"] == gguf.GGMLQuantizationType.F16
    assert types["v.blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.F16
    assert types["v.blk.0.attn_q.bias"] == gguf.GGMLQuantizationType.F32
    text_types = {t.name: t.tensor_type for t in gguf.GGUFReader(tiny.text_path).tensors}
    assert text_types["blk.1.ffn_down.weight"] == gguf.GGMLQuantizationType.F16
    assert text_types["blk.1.attn_norm.weight"] == gguf.GGMLQuantizationType.F32
    with loaded(tiny) as (_model, _ctx, mctx):
        assert mtmd.mtmd_support_vision(mctx)


def test_missing_tensor_fails_and_leaves_no_file(tmp_path: Path) -> None:
    text_cfg, _vision, vocab = tiny_configs()
    stream = (item for item in random_tensors(text_cfg.hf_shapes(), 0) if item[0] != "model.norm.weight")
    with pytest.raises(ModelError, match="model.norm.weight"):
        write_text_gguf(tmp_path / "broken.gguf", text_cfg, vocab, stream)
    assert list(tmp_path.iterdir()) == []


def test_configs_from_hf_qwen2vl_7b_config() -> None:
    config = {
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_attention_heads": 28,
        "num_hidden_layers": 28,
        "num_key_value_heads": 4,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "max_position_embeddings": 32768,
        "vocab_size": 152064,
        "tie_word_embeddings": False,
        "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
        "vision_config": {
            "depth": 32,
            "embed_dim": 1280,
            "mlp_ratio": 4,
            "num_heads": 16,
            "in_chans": 3,
            "hidden_size": 3584,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
    }
    text = Qwen2VLTextConfig.from_hf_config(config)
    assert (text.head_dim, text.ffn, text.n_kv_heads, text.mrope_sections) == (128, 18944, 4, (16, 24, 24))
    vision = Qwen2VLVisionConfig.from_hf_config(config)
    assert (vision.ffn, vision.out_hidden, vision.merged_dim) == (5120, 3584, 5120)
    assert vision.hf_shapes()["visual.patch_embed.proj.weight"] == (1280, 3, 2, 14, 14)


def test_vocab_round_trips_through_hf_tokenizer_files(tmp_path: Path) -> None:
    built = build_word_vocab()
    n_normal = len(built) - len(QWEN2VL_SPECIAL_TOKENS)
    tokenizer = {
        "model": {
            "type": "BPE",
            "vocab": {t: i for i, t in enumerate(built.tokens[:n_normal])},
            "merges": [m.split(" ") for m in built.merges],
        },
        "added_tokens": [
            {"id": n_normal + i, "content": t, "special": True} for i, t in enumerate(QWEN2VL_SPECIAL_TOKENS)
        ],
    }
    (tmp_path / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "eos_token": "<|im_end|>",
                "pad_token": "<|endoftext|>",
                "bos_token": None,
                "chat_template": built.chat_template,
            }
        ),
        encoding="utf-8",
    )
    model_config = {"bos_token_id": built.bos_id, "vocab_size": len(built) + 10}

    read = Vocab.from_hf_tokenizer_json(tmp_path / "tokenizer.json", model_config=model_config)
    assert read == built.padded(len(built) + 10)
