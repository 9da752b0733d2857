"""A tiny random-weight Qwen2-VL GGUF pair, so tests run the real llama.cpp path offline.

The weights are random but everything else is real: the architecture keys, the
mmproj's temporal patch embedding, a BPE vocabulary whose tokens are English
words (random output still reads as words), and the Qwen special tokens. The
tensors are generated under their Hugging Face names and written through the
same functions the converter uses, so a test of this model is a test of the
conversion path too.

The initialisation is chosen so that the output depends on the frames. With the
usual std 0.02 every hidden state shrinks to nothing and the model answers the
same tokens whatever it sees, so tests could not tell chunks apart. Here each
weight matrix has std gain/sqrt(fan_in) (activations stay near unit scale); the
attention query/key projections get gain 2, so attention is peaked rather than a
flat average over hundreds of vision tokens, and the merger's output gain 3, so
vision embeddings are as loud as text embeddings. Measured on six frame pairs
(noise, solid colours, a moving box): with plain 1/sqrt(fan_in) three pairs gave
identical greedy tokens; with these gains all six differed. Finally, output rows
of tokens that are not whole words (bytes, half-merged pieces) are scaled by
1/4, so greedy output reads as commentary words instead of byte noise.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models import bpe_vocab, gguf_qwen2vl
from models.bpe_vocab import COMMENTARY_PIECES, Vocab, build_word_vocab, to_byte_level
from models.gguf_qwen2vl import (
    OutType,
    Qwen2VLTextConfig,
    Qwen2VLVisionConfig,
    write_mmproj_gguf,
    write_text_gguf,
)

# Bump when the generated files would change for the same seed (shapes, init, keys).
GENERATOR_VERSION = 1

TEXT_FILE = "tiny-qwen2vl.gguf"
MMPROJ_FILE = "tiny-qwen2vl-mmproj.gguf"
STAMP_FILE = "tiny-qwen2vl.stamp.json"


@dataclass(frozen=True)
class TinyModel:
    """Paths of a tiny model pair, ready for ``llama_model_load_from_file`` and ``mtmd_init_from_file``."""

    text_path: Path
    mmproj_path: Path


def tiny_configs() -> tuple[Qwen2VLTextConfig, Qwen2VLVisionConfig, Vocab]:
    """The tiny shapes: Qwen2-VL's structure with every width cut down.

    Text: hidden 64, 2 layers, 4 heads of 16, 2 KV heads, FFN 128, M-RoPE sections
    (2, 3, 3) (Qwen's 16/24/24 scaled to head 16), 32k context. Vision: depth 2,
    width 64, 4 heads, FFN 256, patch 14, merge 2, temporal patch 2, merger into 64.
    """
    vocab = build_word_vocab()
    text = Qwen2VLTextConfig(
        vocab_size=-(-len(vocab) // 64) * 64,
        hidden_size=64,
        n_layers=2,
        n_heads=4,
        n_kv_heads=2,
        ffn=128,
        rope_theta=1_000_000.0,
        rms_eps=1e-6,
        context_length=32768,
        mrope_sections=(2, 3, 3),
    )
    vision = Qwen2VLVisionConfig(depth=2, embed_dim=64, n_heads=4, ffn=256, out_hidden=text.hidden_size)
    return text, vision, vocab


# Weight gains by name fragment (see the module docstring); everything else has gain 1.
_GAINS = {".q_proj.": 2.0, ".k_proj.": 2.0, ".attn.qkv.": 2.0, "merger.mlp.2.": 3.0}
_MINOR_OUTPUT_ROW_SCALE = 0.25


def random_tensors(
    shapes: Mapping[str, tuple[int, ...]],
    seed: int | list[int],
    favoured_rows: Iterable[int] = (),
) -> Iterator[tuple[str, np.ndarray]]:
    """Yield a random float32 tensor for each Hugging Face name, one at a time, in ``shapes`` order.

    ``favoured_rows``: ids whose ``lm_head`` rows keep full scale; the other rows are
    scaled down so that greedy decoding prefers them. Empty: no row is scaled.
    """
    rng = np.random.default_rng(seed)
    favoured = sorted(set(favoured_rows))
    for name, shape in shapes.items():
        if name.endswith(".bias"):
            array = rng.normal(0.0, 0.1, shape)
        elif len(shape) == 1:  # norm scales
            array = 1.0 + rng.normal(0.0, 0.1, shape)
        elif name.endswith("embed_tokens.weight"):
            array = rng.normal(0.0, 1.0, shape)
        else:
            gain = next((g for frag, g in _GAINS.items() if frag in name), 1.0)
            array = rng.normal(0.0, gain / math.sqrt(math.prod(shape[1:])), shape)
        if name == "lm_head.weight" and favoured:
            scale = np.full((shape[0], 1), _MINOR_OUTPUT_ROW_SCALE)
            scale[favoured] = 1.0
            array *= scale
        yield name, array.astype(np.float32)


def make_tiny_model(out_dir: str | Path, seed: int = 0, out_type: OutType = "f32") -> TinyModel:
    """Write (or reuse) ``tiny-qwen2vl.gguf`` and ``tiny-qwen2vl-mmproj.gguf`` in ``out_dir``.

    The same seed gives byte-identical files. A stamp file records what was built;
    when it matches this generator, seed and output type, and both files have their
    recorded sizes, nothing is written. Each file appears only when complete.
    """
    out_dir = Path(out_dir)
    model = TinyModel(out_dir / TEXT_FILE, out_dir / MMPROJ_FILE)
    text_cfg, vision_cfg, vocab = tiny_configs()
    key = _build_key(seed, out_type, text_cfg, vision_cfg, vocab)
    stamp = out_dir / STAMP_FILE
    if _stamp_matches(stamp, key, model):
        return model

    out_dir.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    words = [vocab.token_id(to_byte_level(p)) for p in COMMENTARY_PIECES] + [vocab.eos_id]
    write_text_gguf(
        model.text_path,
        text_cfg,
        vocab,
        random_tensors(text_cfg.hf_shapes(), [seed, 0], words),
        out_type=out_type,
        name="tiny-qwen2vl",
    )
    write_mmproj_gguf(
        model.mmproj_path,
        vision_cfg,
        random_tensors(vision_cfg.hf_shapes(), [seed, 1]),
        out_type=out_type,
        name="tiny-qwen2vl vision",
    )
    record = {"key": key, "sizes": [model.text_path.stat().st_size, model.mmproj_path.stat().st_size]}
    fd, tmp = tempfile.mkstemp(prefix=f".{STAMP_FILE}.", dir=out_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(record, f)
    os.replace(tmp, stamp)
    return model


def _build_key(seed: int, out_type: str, text: Qwen2VLTextConfig, vision: Qwen2VLVisionConfig, vocab: Vocab) -> str:
    """Hash of everything the files depend on, the generating code included.

    Hashing the sources makes an edit to the writer or the initialisation rebuild
    cached files even when nobody remembers to bump ``GENERATOR_VERSION``.
    """
    digest = hashlib.sha256()
    for part in (GENERATOR_VERSION, seed, out_type, text, vision, vocab.merges, vocab.tokens):
        digest.update(repr(part).encode("utf-8"))
    for module in (bpe_vocab, gguf_qwen2vl, sys.modules[__name__]):
        try:
            digest.update(Path(module.__file__ or "").read_bytes())
        except OSError:  # frozen build without sources: the version number alone decides
            pass
    return digest.hexdigest()


def _stamp_matches(stamp: Path, key: str, model: TinyModel) -> bool:
    try:
        record = json.loads(stamp.read_text(encoding="utf-8"))
        sizes = [model.text_path.stat().st_size, model.mmproj_path.stat().st_size]
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("key") == key and record.get("sizes") == sizes
