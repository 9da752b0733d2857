"""Tiny Hugging Face Qwen2-VL checkpoints for the converter's tests, written without torch.

The files are what ``save_pretrained`` writes for a Qwen2-VL: ``config.json``, sharded
``*.safetensors`` with ``model.safetensors.index.json``, and a fast tokenizer
(``tokenizer.json`` with Qwen2's pre-tokenizer, ``tokenizer_config.json``). Weights are
the tiny model's random tensors, so a conversion of this checkpoint must equal
``make_tiny_model``'s GGUF tensor for tensor.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from models.bpe_vocab import COMMENTARY_PIECES, QWEN2VL_SPECIAL_TOKENS, Vocab, to_byte_level
from models.convert import QWEN2_PRETOKENIZER_REGEX
from models.tiny_model import random_tensors, tiny_configs

_SAFETENSORS_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}


def to_bf16_bits(array: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), rounded to nearest even, as torch does."""
    bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def from_bf16_bits(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def write_safetensors(path: Path, tensors: Sequence[tuple[str, np.ndarray]], dtype: str = "F32") -> None:
    """Write a safetensors file; float32 inputs are stored as ``dtype`` (F32, F16 or BF16)."""
    header: dict = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name, array in tensors:
        data = to_bf16_bits(array) if dtype == "BF16" else np.ascontiguousarray(array, dtype=_SAFETENSORS_DTYPES[dtype])
        raw = data.tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(encoded)))
        fh.write(encoded)
        for raw in blobs:
            fh.write(raw)


def tokenizer_json(vocab: Vocab) -> dict:
    """A Hugging Face fast-tokenizer file for ``vocab``, with Qwen2's pre-tokenizer."""
    n_normal = len(vocab) - len(QWEN2VL_SPECIAL_TOKENS)
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": n_normal + i,
                "content": t,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for i, t in enumerate(QWEN2VL_SPECIAL_TOKENS)
        ],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": {"Regex": QWEN2_PRETOKENIZER_REGEX},
                    "behavior": "Isolated",
                    "invert": False,
                },
                byte_level,
            ],
        },
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {t: i for i, t in enumerate(vocab.tokens[:n_normal])},
            "merges": [m.split(" ") for m in vocab.merges],
        },
    }


def tokenizer_config(vocab: Vocab) -> dict:
    return {
        "tokenizer_class": "Qwen2Tokenizer",
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "bos_token": None,
        "add_bos_token": False,
        "model_max_length": 32768,
        "errors": "replace",
        "clean_up_tokenization_spaces": False,
        "split_special_tokens": False,
        "chat_template": vocab.chat_template,
    }


def tiny_config_json() -> dict:
    """A transformers 4.x-style (flat) Qwen2-VL ``config.json`` of the tiny shapes."""
    text, vision, vocab = tiny_configs()
    ids = {t: vocab.token_id(t) for t in QWEN2VL_SPECIAL_TOKENS}
    return {
        "architectures": ["Qwen2VLForConditionalGeneration"],
        "model_type": "qwen2_vl",
        "hidden_size": text.hidden_size,
        "intermediate_size": text.ffn,
        "num_attention_heads": text.n_heads,
        "num_hidden_layers": text.n_layers,
        "num_key_value_heads": text.n_kv_heads,
        "rms_norm_eps": text.rms_eps,
        "rope_theta": text.rope_theta,
        "max_position_embeddings": text.context_length,
        "vocab_size": text.vocab_size,
        "tie_word_embeddings": False,
        "hidden_act": "silu",
        "torch_dtype": "bfloat16",
        "rope_scaling": {"type": "mrope", "mrope_section": list(text.mrope_sections)},
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_config": {
            "depth": vision.depth,
            "embed_dim": vision.embed_dim,
            "mlp_ratio": vision.ffn / vision.embed_dim,
            "num_heads": vision.n_heads,
            "in_chans": 3,
            "hidden_size": vision.out_hidden,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "hidden_act": "quick_gelu",
        },
    }


def tiny_tensors(seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """The tiny model's Hugging Face tensors (text then vision), float32."""
    text, vision, vocab = tiny_configs()
    words = [vocab.token_id(to_byte_level(p)) for p in COMMENTARY_PIECES] + [vocab.eos_id]
    return list(random_tensors(text.hf_shapes(), [seed, 0], words)) + list(
        random_tensors(vision.hf_shapes(), [seed, 1])
    )


def write_tiny_checkpoint(
    folder: Path,
    *,
    dtype: str = "BF16",
    shards: int = 2,
    seed: int = 0,
    tensors: Iterable[tuple[str, np.ndarray]] | None = None,
    config: dict | None = None,
) -> Path:
    """Write a complete tiny checkpoint to ``folder`` (created) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    _text, _vision, vocab = tiny_configs()
    items = list(tensors if tensors is not None else tiny_tensors(seed))
    per = math.ceil(len(items) / shards)
    names = (
        ["model.safetensors"]
        if shards == 1
        else [f"model-{i + 1:05d}-of-{shards:05d}.safetensors" for i in range(shards)]
    )
    weight_map = {}
    for i, name in enumerate(names):
        part = items[i * per : (i + 1) * per]
        write_safetensors(folder / name, part, dtype)
        weight_map.update({n: name for n, _ in part})
    if shards > 1:
        (folder / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {}, "weight_map": weight_map}), encoding="utf-8"
        )
    (folder / "config.json").write_text(json.dumps(config or tiny_config_json()), encoding="utf-8")
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer_json(vocab)), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(vocab)), encoding="utf-8")
    return folder
