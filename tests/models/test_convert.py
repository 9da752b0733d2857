"""HF checkpoint -> GGUF conversion and quantization, on tiny checkpoints written without torch."""

from __future__ import annotations

import json
import shutil
import threading
import tracemalloc
from pathlib import Path

import gguf
import numpy as np
import pytest

from models.convert import convert_checkpoint, inspect_checkpoint
from models.engine.livecc_engine import EngineOptions, LiveCCEngine
from models.engine.llama_runtime import RuntimeOptions
from models.engine.records import Frame, VideoChunk
from models.engine.token_sampler import SamplingOptions
from models.errors import ConversionError, LiveCCError, NotEnoughDiskError, OperationCancelled
from models.gguf_qwen2vl import Qwen2VLTextConfig, write_mmproj_gguf, write_text_gguf
from models.safetensors_reader import load_tensor, read_header
from models.tiny_model import random_tensors, tiny_configs
from tests.models.tiny_hf import (
    from_bf16_bits,
    tiny_config_json,
    tiny_tensors,
    to_bf16_bits,
    write_safetensors,
    write_tiny_checkpoint,
)

Q = gguf.GGMLQuantizationType


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A bf16 checkpoint in three shards, as save_pretrained writes a large model."""
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "LiveCC-Tiny", dtype="BF16", shards=3)


def tensors_of(path: Path) -> dict[str, object]:
    return {t.name: t for t in gguf.GGUFReader(path).tensors}


def field(path: Path, key: str):
    return gguf.GGUFReader(path).fields[key].contents()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def run_one_chunk(text: Path, mmproj: Path) -> str:
    """Feed a 6-frame opening chunk through the real engine; return its commentary."""
    rng = np.random.default_rng(3)
    frames = tuple(Frame(i * 0.5, rng.integers(0, 256, (112, 140, 3), dtype=np.uint8)) for i in range(6))
    opts = EngineOptions(
        runtime=RuntimeOptions(n_ctx=2048, n_threads=2), sampling=SamplingOptions(greedy=True), max_new_tokens=4
    )
    with LiveCCEngine(text, mmproj, opts) as engine:
        done = engine.process(VideoChunk(0, frames, 0.0, 3.0))
    assert done.stats.generated_tokens >= 1
    return done.text


def test_bf16_shards_convert_exactly_through_the_shared_writer(checkpoint, tmp_path):
    result = convert_checkpoint(checkpoint, tmp_path / "out", quant="F32", outtype="f32")
    assert result.text_path.name == "LiveCC-Tiny-F32.gguf" and result.quant == "F32"
    # The same bf16-rounded tensors written directly through the shared writer give the same GGUF tensors.
    text_cfg, vision_cfg, vocab = tiny_configs()
    rounded = [(n, from_bf16_bits(to_bf16_bits(a)).reshape(a.shape)) for n, a in tiny_tensors()]
    expected_text = write_text_gguf(tmp_path / "exp.gguf", text_cfg, vocab, iter(rounded), out_type="f32")
    expected_proj = write_mmproj_gguf(tmp_path / "exp-mmproj.gguf", vision_cfg, iter(rounded), out_type="f32")
    for got, want in ((result.text_path, expected_text), (result.mmproj_path, expected_proj)):
        got_t, want_t = tensors_of(got), tensors_of(want)
        assert got_t.keys() == want_t.keys()
        for name, t in want_t.items():
            assert np.array_equal(np.asarray(got_t[name].data), np.asarray(t.data)), name
    embed = np.asarray(tensors_of(result.text_path)["token_embd.weight"].data)
    assert np.array_equal(embed, dict(rounded)["model.embed_tokens.weight"])


def test_tokenizer_metadata_is_carried_over(checkpoint, tmp_path):
    result = convert_checkpoint(checkpoint, tmp_path, quant="F16")
    _text, _vision, vocab = tiny_configs()
    config = json.loads((checkpoint / "tokenizer_config.json").read_text())
    assert field(result.text_path, "tokenizer.ggml.pre") == "qwen2"
    assert field(result.text_path, "tokenizer.ggml.model") == "gpt2"
    assert field(result.text_path, "tokenizer.chat_template") == config["chat_template"]
    tokens = field(result.text_path, "tokenizer.ggml.tokens")
    assert tokens[field(result.text_path, "tokenizer.ggml.eos_token_id")] == "<|im_end|>"
    assert field(result.text_path, "tokenizer.ggml.add_bos_token") is False
    types = field(result.text_path, "tokenizer.ggml.token_type")
    assert types[tokens.index("<|video_pad|>")] == gguf.TokenType.CONTROL
    assert list(tokens[: len(vocab)]) == list(vocab.tokens)
    assert field(result.text_path, "qwen2vl.rope.dimension_sections") == [2, 3, 3, 0]


def test_f16_output_keeps_vectors_f32_and_rounds_bf16_exactly(checkpoint, tmp_path):
    result = convert_checkpoint(checkpoint, tmp_path, quant="F16")
    text = tensors_of(result.text_path)
    assert text["blk.0.ffn_up.weight"].tensor_type == Q.F16
    assert text["blk.0.attn_norm.weight"].tensor_type == Q.F32
    assert text["blk.0.attn_q.bias"].tensor_type == Q.F32
    source = dict(tiny_tensors())["model.layers.0.mlp.up_proj.weight"]
    want = from_bf16_bits(to_bf16_bits(source)).reshape(source.shape).astype(np.float16)
    assert np.array_equal(np.asarray(text["blk.0.ffn_up.weight"].data), want)
    proj = tensors_of(result.mmproj_path)
    assert {"v.patch_embd.weight", "v.patch_embd.weight.1", "v.blk.1.attn_k.weight"} <= proj.keys()


def test_outputs_run_in_the_engine(checkpoint, tmp_path):
    result = convert_checkpoint(checkpoint, tmp_path, quant="F16")
    run_one_chunk(result.text_path, result.mmproj_path)


@pytest.mark.parametrize("quant, main_type", [("Q8_0", Q.Q8_0), ("Q4_K_M", None), ("Q5_K_M", None)])
def test_quantized_outputs_load_and_run(checkpoint, tmp_path, quant, main_type):
    seen = []
    result = convert_checkpoint(checkpoint, tmp_path, quant=quant.lower(), on_progress=seen.append)
    assert result.text_path.name == f"LiveCC-Tiny-{quant}.gguf"
    assert not (tmp_path / "LiveCC-Tiny-F16.gguf").exists()  # the f16 intermediate is removed
    types = {t.tensor_type for t in tensors_of(result.text_path).values()}
    # Tiny rows (64 values) cannot hold 256-value k-quant blocks: llama.cpp falls back per tensor.
    assert types - {Q.F32, Q.F16}, "nothing was quantized"
    if main_type is not None:
        assert main_type in types
    assert tensors_of(result.mmproj_path)["v.blk.0.attn_q.weight"].tensor_type == Q.F16
    stages = [p.stage for p in seen]
    assert {"convert", "quantize", "hash"} <= set(stages)
    assert seen[stages.index("quantize")].estimated
    run_one_chunk(result.text_path, result.mmproj_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert {f["file"] for f in manifest["files"]} == {result.text_path.name, result.mmproj_path.name}


def test_keep_unquantized_keeps_the_f16_model(checkpoint, tmp_path):
    result = convert_checkpoint(checkpoint, tmp_path, quant="Q8_0", keep_unquantized=True)
    assert result.unquantized_path == tmp_path / "LiveCC-Tiny-F16.gguf"
    assert result.unquantized_path.is_file()


def damaged(tmp_path: Path, checkpoint: Path) -> Path:
    copy = tmp_path / "damaged"
    shutil.copytree(checkpoint, copy)
    return copy


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda d: (d / "config.json").write_text(
                json.dumps({**tiny_config_json(), "model_type": "llama", "architectures": ["LlamaForCausalLM"]})
            ),
            "not Qwen2-VL",
        ),
        (
            lambda d: (d / "config.json").write_text(
                json.dumps({**tiny_config_json(), "model_type": "qwen2_5_vl", "architectures": ["X"]})
            ),
            "Qwen2.5-VL",
        ),
        (lambda d: (d / "model-00002-of-00003.safetensors").unlink(), "shards are missing"),
        (lambda d: (d / "tokenizer.json").unlink(), "tokenizer.json is missing"),
        (lambda d: (d / "config.json").unlink(), "config.json is missing"),
        (lambda d: (d / "config.json").write_text("{broken"), "cannot be read"),
        (lambda d: (d / "model.safetensors.index.json").unlink(), "No model.safetensors"),
    ],
)
def test_bad_checkpoints_give_clear_errors_and_no_files(checkpoint, tmp_path, change, message):
    folder = damaged(tmp_path, checkpoint)
    change(folder)
    with pytest.raises(ConversionError, match=message):
        convert_checkpoint(folder, tmp_path / "out")
    assert leftovers(tmp_path / "out") == []


def test_truncated_and_garbled_shards_are_reported(checkpoint, tmp_path):
    folder = damaged(tmp_path, checkpoint)
    shard = folder / "model-00003-of-00003.safetensors"
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(ConversionError, match="truncated"):
        inspect_checkpoint(folder)
    shard.write_bytes(b"\xff" * 64)
    with pytest.raises(ConversionError, match="not a safetensors file|damaged"):
        inspect_checkpoint(folder)


def test_a_foreign_tokenizer_is_refused(checkpoint, tmp_path):
    folder = damaged(tmp_path, checkpoint)
    tok = json.loads((folder / "tokenizer.json").read_text())
    tok["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}
    (folder / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(ConversionError, match="pre_tokenizer"):
        inspect_checkpoint(folder)
    tok = json.loads((checkpoint / "tokenizer.json").read_text())
    tok["added_tokens"] = [t for t in tok["added_tokens"] if t["content"] != "<|video_pad|>"]
    (folder / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(ConversionError, match="video_pad"):
        inspect_checkpoint(folder)


def test_tensors_that_do_not_match_the_config_leave_no_file(tmp_path):
    items = [(n, a) for n, a in tiny_tensors() if n != "model.norm.weight"]
    folder = write_tiny_checkpoint(tmp_path / "ck", tensors=items, shards=1)
    with pytest.raises(LiveCCError, match="model.norm.weight"):
        convert_checkpoint(folder, tmp_path / "out")
    assert [p for p in leftovers(tmp_path / "out") if p.endswith((".gguf", ".partial"))] == []


def test_values_beyond_float16_ask_for_f32(tmp_path):
    items = [(n, a * 1e6 if n == "model.layers.0.mlp.up_proj.weight" else a) for n, a in tiny_tensors()]
    folder = write_tiny_checkpoint(tmp_path / "ck", tensors=items, dtype="F32", shards=1)
    with pytest.raises(ConversionError, match="--outtype f32"):
        convert_checkpoint(folder, tmp_path / "out", quant="F16")
    convert_checkpoint(folder, tmp_path / "out32", quant="F32", outtype="f32")


def test_not_enough_disk_is_found_before_writing(checkpoint, tmp_path, monkeypatch):
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=100_000))
    with pytest.raises(NotEnoughDiskError, match="needed to convert"):
        convert_checkpoint(checkpoint, tmp_path / "out")
    assert leftovers(tmp_path / "out") == []


def test_cancel_stops_and_cleans_up(checkpoint, tmp_path):
    cancel = threading.Event()

    def progress(p):
        if p.stage == "convert":
            cancel.set()

    with pytest.raises(OperationCancelled):
        convert_checkpoint(checkpoint, tmp_path / "out", quant="Q8_0", on_progress=progress, cancel=cancel)
    assert [p for p in leftovers(tmp_path / "out") if p.endswith((".gguf", ".partial"))] == []


def test_bf16_is_widened_exactly(tmp_path):
    bits = np.array([0x3F80, 0xC020, 0x4049, 0x0001, 0x7F7F, 0x0000], np.uint16)
    want = np.array([1.0, -2.5, 3.140625, 9.183549615799121e-41, 3.3895313892515355e38, 0.0], np.float32)
    path = tmp_path / "bf16.safetensors"
    header = json.dumps({"w": {"dtype": "BF16", "shape": [6], "data_offsets": [0, 12]}}).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header + bits.tobytes())
    (info,) = read_header(path)
    assert np.array_equal(load_tensor(info, np.float32), want)
    with pytest.raises(ConversionError, match="float16"):  # 3.4e38 does not fit float16
        load_tensor(info, np.float16)


def test_memory_stays_bounded_by_one_tensor(tmp_path):
    """Converting a checkpoint 60x its largest tensor allocates about one tensor's worth, not the model."""
    text = Qwen2VLTextConfig(
        vocab_size=960, hidden_size=256, n_layers=24, n_heads=4, n_kv_heads=2, ffn=1024, mrope_sections=(8, 12, 12)
    )
    _t, vision, _v = tiny_configs()
    config = {
        **tiny_config_json(),
        "hidden_size": 256,
        "intermediate_size": 1024,
        "num_hidden_layers": 24,
        "rope_scaling": {"type": "mrope", "mrope_section": [8, 12, 12]},
    }
    config["vision_config"] = {**config["vision_config"], "hidden_size": 256}
    vision = type(vision)(depth=2, embed_dim=64, n_heads=4, ffn=256, out_hidden=256)
    items = list(random_tensors(text.hf_shapes(), 0)) + list(random_tensors(vision.hf_shapes(), 1))
    folder = write_tiny_checkpoint(tmp_path / "ck", tensors=items, config=config, dtype="F32", shards=4)
    largest = max(a.nbytes for _, a in items)
    total = sum(a.nbytes for _, a in items)
    del items
    assert total > 60 * largest
    tracemalloc.start()
    try:
        convert_checkpoint(folder, tmp_path / "out", quant="F16")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Constant buffers (4 MiB hashing blocks, the tensor-name map) come on top of one tensor in flight.
    assert peak < 3 * largest + (10 << 20) < total, f"peak {peak:,} B; largest tensor {largest:,} B, total {total:,} B"


def test_reader_maps_f16_without_copying(tmp_path):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    write_safetensors(tmp_path / "x.safetensors", [("w", array)], dtype="F16")
    (info,) = read_header(tmp_path / "x.safetensors")
    loaded = load_tensor(info, np.float16)
    assert isinstance(loaded, np.memmap) and np.array_equal(loaded, array.astype(np.float16))
