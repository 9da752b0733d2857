"""Write Qwen2-VL as the GGUF pair llama.cpp loads: a ``qwen2vl`` text model and its mmproj.

This is the one GGUF-writing path of the project. The Hugging Face converter
streams real checkpoint tensors through it; the tiny test model streams random
ones with the same Hugging Face names and shapes. So the tests exercise exactly
the naming, splitting and metadata that a converted LiveCC model gets.

Streaming: a GGUF file starts with every tensor's name, shape and offset, so no
byte of data can go to the output before the last tensor is known, and the input
is a one-pass iterable. Each tensor is therefore mapped, split, cast, and
appended at once to a spill file beside the output (``GGUFWriter.temp_file``);
once the input is exhausted and checked complete, the header is written and the
spill file copied after it. Memory holds one tensor at a time; the disk briefly
holds the output twice. The output appears under its final name only when
complete (written as a ``.partial`` file, then renamed).

Layout facts (from llama.cpp's own converter and loaders, vendored in
llama-cpp-python 0.3.36):
- text: architecture ``qwen2vl``; ``qwen2vl.rope.dimension_sections`` is required
  (M-RoPE sections t, h, w padded to four); q/k/v carry biases; a tied model has
  no ``output.weight`` and llama.cpp reuses ``token_embd.weight``.
- vision: architecture ``clip`` with projector ``qwen2vl_merger``. The Conv3D patch
  embedding (temporal size 2) becomes two Conv2D kernels ``v.patch_embd.weight``
  and ``v.patch_embd.weight.1``, one per frame of a temporal pair; the fused qkv
  is split into q, k, v. No activation key is written: mtmd then uses quick-GELU,
  which is Qwen2-VL's vision MLP activation. Norms are LayerNorms with biases.
- 1-D tensors (norms, biases) stay F32 whatever the output type.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import gguf
import numpy as np

from models.bpe_vocab import Vocab
from models.errors import ModelError

OutType = Literal["f32", "f16"]
TensorStream = Iterable[tuple[str, np.ndarray]]

# OpenAI CLIP normalisation, which Qwen2-VL's image processor uses.
CLIP_IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)

_FILE_TYPES = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16}
_SKIPPED_SUFFIXES = (".rotary_emb.inv_freq",)  # buffers some older checkpoints saved


@dataclass(frozen=True)
class Qwen2VLTextConfig:
    """Shape of the language model, as ``config.json`` (or its ``text_config``) gives it."""

    vocab_size: int
    hidden_size: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    ffn: int
    rope_theta: float = 1_000_000.0
    rms_eps: float = 1e-6
    context_length: int = 32768
    mrope_sections: tuple[int, ...] = (16, 24, 24)
    tie_embeddings: bool = False

    def __post_init__(self) -> None:
        if self.hidden_size % self.n_heads or self.n_heads % self.n_kv_heads:
            raise ValueError(
                f"heads do not divide: hidden {self.hidden_size}, {self.n_heads} heads, {self.n_kv_heads} kv heads"
            )
        if sum(self.mrope_sections) != self.head_dim // 2 or len(self.mrope_sections) > 4:
            raise ValueError(
                f"M-RoPE sections {self.mrope_sections} must sum to half the "
                f"head size ({self.head_dim // 2}), at most four of them"
            )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.n_heads

    @classmethod
    def from_hf_config(cls, config: Mapping[str, Any]) -> Qwen2VLTextConfig:
        """Read a Qwen2-VL ``config.json`` dict, flat (transformers < 4.52) or nested."""
        c = {**config, **(config.get("text_config") or {})}
        rope = c.get("rope_scaling") or c.get("rope_parameters") or {}
        return cls(
            vocab_size=int(c["vocab_size"]),
            hidden_size=int(c["hidden_size"]),
            n_layers=int(c["num_hidden_layers"]),
            n_heads=int(c["num_attention_heads"]),
            n_kv_heads=int(c.get("num_key_value_heads", c["num_attention_heads"])),
            ffn=int(c["intermediate_size"]),
            rope_theta=float(c.get("rope_theta", rope.get("rope_theta", 1_000_000.0))),
            rms_eps=float(c.get("rms_norm_eps", 1e-6)),
            context_length=int(c.get("max_position_embeddings", 32768)),
            mrope_sections=tuple(int(s) for s in rope.get("mrope_section", (16, 24, 24))),
            tie_embeddings=bool(c.get("tie_word_embeddings", False)),
        )

    def hf_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every Hugging Face tensor of the language model and its (PyTorch-order) shape."""
        h, f, kv = self.hidden_size, self.ffn, self.n_kv_heads * self.head_dim
        shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (self.vocab_size, h)}
        for i in range(self.n_layers):
            p = f"model.layers.{i}."
            shapes.update(
                {
                    p + "input_layernorm.weight": (h,),
                    p + "self_attn.q_proj.weight": (h, h),
                    p + "self_attn.q_proj.bias": (h,),
                    p + "self_attn.k_proj.weight": (kv, h),
                    p + "self_attn.k_proj.bias": (kv,),
                    p + "self_attn.v_proj.weight": (kv, h),
                    p + "self_attn.v_proj.bias": (kv,),
                    p + "self_attn.o_proj.weight": (h, h),
                    p + "post_attention_layernorm.weight": (h,),
                    p + "mlp.gate_proj.weight": (f, h),
                    p + "mlp.up_proj.weight": (f, h),
                    p + "mlp.down_proj.weight": (h, f),
                }
            )
        shapes["model.norm.weight"] = (h,)
        shapes["lm_head.weight"] = (self.vocab_size, h)
        return shapes


@dataclass(frozen=True)
class Qwen2VLVisionConfig:
    """Shape of the vision tower and merger, from ``config.json``'s ``vision_config``."""

    depth: int
    embed_dim: int
    n_heads: int
    ffn: int
    out_hidden: int
    patch_size: int = 14
    spatial_merge_size: int = 2
    temporal_patch_size: int = 2
    in_channels: int = 3
    image_size: int = 560
    layer_norm_eps: float = 1e-6
    image_mean: tuple[float, float, float] = CLIP_IMAGE_MEAN
    image_std: tuple[float, float, float] = CLIP_IMAGE_STD

    def __post_init__(self) -> None:
        if self.embed_dim % self.n_heads or (self.embed_dim // self.n_heads) % 4:
            # mtmd splits each vision head into four rotary sections of head/4.
            raise ValueError(f"vision head size {self.embed_dim}/{self.n_heads} must be a multiple of 4")
        if self.temporal_patch_size != 2:
            raise ValueError("llama.cpp's Qwen2-VL vision tower needs temporal_patch_size 2")

    @property
    def merged_dim(self) -> int:
        """Width of one merged token (spatial_merge_size² patches) entering the merger."""
        return self.embed_dim * self.spatial_merge_size**2

    @classmethod
    def from_hf_config(
        cls,
        config: Mapping[str, Any],
        preprocessor: Mapping[str, Any] | None = None,
    ) -> Qwen2VLVisionConfig:
        """Read ``config.json`` (and optionally ``preprocessor_config.json``) dicts."""
        v = config["vision_config"]
        text = {**config, **(config.get("text_config") or {})}
        pre = preprocessor or {}
        embed = int(v["embed_dim"])
        return cls(
            depth=int(v["depth"]),
            embed_dim=embed,
            n_heads=int(v["num_heads"]),
            ffn=int(embed * float(v.get("mlp_ratio", 4))),
            out_hidden=int(text.get("hidden_size", v.get("hidden_size"))),
            patch_size=int(v.get("patch_size", 14)),
            spatial_merge_size=int(v.get("spatial_merge_size", 2)),
            temporal_patch_size=int(v.get("temporal_patch_size", 2)),
            in_channels=int(v.get("in_chans", v.get("in_channels", 3))),
            layer_norm_eps=float(text.get("rms_norm_eps", 1e-6)),
            image_mean=tuple(pre.get("image_mean", CLIP_IMAGE_MEAN)),
            image_std=tuple(pre.get("image_std", CLIP_IMAGE_STD)),
        )

    def hf_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every Hugging Face tensor of the vision tower and merger, with its shape."""
        e, f, m, p = self.embed_dim, self.ffn, self.merged_dim, self.patch_size
        shapes: dict[str, tuple[int, ...]] = {
            "visual.patch_embed.proj.weight": (e, self.in_channels, self.temporal_patch_size, p, p),
        }
        for i in range(self.depth):
            b = f"visual.blocks.{i}."
            shapes.update(
                {
                    b + "norm1.weight": (e,),
                    b + "norm1.bias": (e,),
                    b + "attn.qkv.weight": (3 * e, e),
                    b + "attn.qkv.bias": (3 * e,),
                    b + "attn.proj.weight": (e, e),
                    b + "attn.proj.bias": (e,),
                    b + "norm2.weight": (e,),
                    b + "norm2.bias": (e,),
                    b + "mlp.fc1.weight": (f, e),
                    b + "mlp.fc1.bias": (f,),
                    b + "mlp.fc2.weight": (e, f),
                    b + "mlp.fc2.bias": (e,),
                }
            )
        shapes.update(
            {
                "visual.merger.ln_q.weight": (e,),
                "visual.merger.ln_q.bias": (e,),
                "visual.merger.mlp.0.weight": (m, m),
                "visual.merger.mlp.0.bias": (m,),
                "visual.merger.mlp.2.weight": (self.out_hidden, m),
                "visual.merger.mlp.2.bias": (self.out_hidden,),
            }
        )
        return shapes


def canonical_hf_name(name: str) -> str:
    """Map newer transformers' nesting (``model.language_model.``, ``model.visual.``) to the flat names."""
    for old, new in (("model.language_model.", "model."), ("model.visual.", "visual.")):
        if name.startswith(old):
            return new + name[len(old) :]
    return name


def is_vision_tensor(name: str) -> bool:
    """True for tensors that belong in the mmproj rather than the text GGUF."""
    return canonical_hf_name(name).startswith("visual.")


def write_text_gguf(
    path: str | Path,
    cfg: Qwen2VLTextConfig,
    vocab: Vocab,
    tensors: TensorStream,
    *,
    out_type: OutType = "f16",
    name: str = "Qwen2-VL",
) -> Path:
    """Write the language model GGUF from Hugging Face-named tensors; vision tensors are skipped.

    ``vocab`` is padded to ``cfg.vocab_size`` (the embedding's rows). Raises
    ``ModelError`` for an unknown, misshapen or missing tensor; then no file is left.
    """
    if len(vocab) > cfg.vocab_size:
        raise ModelError(
            f"The tokenizer has {len(vocab)} tokens but the model only "
            f"{cfg.vocab_size} embeddings; the files do not belong together."
        )
    vocab = vocab.padded(cfg.vocab_size)
    tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2VL, cfg.n_layers)
    optional = {"lm_head.weight"} if cfg.tie_embeddings else set()

    def metadata(w: gguf.GGUFWriter) -> None:
        w.add_type(gguf.GGUFType.MODEL)
        w.add_name(name)
        w.add_file_type(_FILE_TYPES[out_type])
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
        w.add_context_length(cfg.context_length)
        w.add_embedding_length(cfg.hidden_size)
        w.add_block_count(cfg.n_layers)
        w.add_feed_forward_length(cfg.ffn)
        w.add_head_count(cfg.n_heads)
        w.add_head_count_kv(cfg.n_kv_heads)
        w.add_layer_norm_rms_eps(cfg.rms_eps)
        w.add_rope_freq_base(cfg.rope_theta)
        w.add_rope_dimension_sections(list(cfg.mrope_sections) + [0] * (4 - len(cfg.mrope_sections)))
        vocab.add_to_gguf(w)

    def convert(hf_name: str, array: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        yield _gguf_name(tmap, hf_name), array

    stream = _checked(tensors, cfg.hf_shapes(), optional, lambda n: not is_vision_tensor(n), convert)
    return _write_gguf(Path(path), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.QWEN2VL], metadata, stream, out_type)


def write_mmproj_gguf(
    path: str | Path,
    vcfg: Qwen2VLVisionConfig,
    tensors: TensorStream,
    *,
    out_type: OutType = "f16",
    name: str = "Qwen2-VL vision",
) -> Path:
    """Write the vision tower + merger as a CLIP mmproj GGUF; non-vision tensors are skipped.

    Raises ``ModelError`` for an unknown, misshapen or missing tensor; then no file is left.
    """
    # The merger's "mlp.2" is looked up like a block index: the map needs >= 3 blocks.
    tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH.MMPROJ, max(vcfg.depth, 3))

    def metadata(w: gguf.GGUFWriter) -> None:
        w.add_type(gguf.GGUFType.MMPROJ)
        w.add_name(name)
        w.add_file_type(_FILE_TYPES[out_type])
        w.add_clip_has_vision_encoder(True)
        w.add_clip_projector_type(gguf.VisionProjectorType.QWEN2VL)
        w.add_vision_projection_dim(vcfg.out_hidden)
        w.add_vision_image_size(vcfg.image_size)
        w.add_vision_patch_size(vcfg.patch_size)
        w.add_vision_embedding_length(vcfg.embed_dim)
        w.add_vision_feed_forward_length(vcfg.ffn)
        w.add_vision_block_count(vcfg.depth)
        w.add_vision_head_count(vcfg.n_heads)
        w.add_vision_attention_layernorm_eps(vcfg.layer_norm_eps)
        w.add_vision_image_mean(list(vcfg.image_mean))
        w.add_vision_image_std(list(vcfg.image_std))
        w.add_vision_spatial_merge_size(vcfg.spatial_merge_size)

    def convert(hf_name: str, array: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        if hf_name == "visual.patch_embed.proj.weight":
            # Conv3D [out, in, t=2, kh, kw] -> one Conv2D kernel per frame of the pair.
            yield "v.patch_embd.weight", array[:, :, 0]
            yield "v.patch_embd.weight.1", array[:, :, 1]
        elif ".attn.qkv." in hf_name:
            for part, piece in zip("qkv", np.split(array, 3, axis=0)):
                yield _gguf_name(tmap, hf_name.replace(".qkv.", f".{part}.")), piece
        else:
            yield _gguf_name(tmap, hf_name), array

    stream = _checked(tensors, vcfg.hf_shapes(), set(), is_vision_tensor, convert)
    return _write_gguf(Path(path), "clip", metadata, stream, out_type)


def _gguf_name(tmap: gguf.TensorNameMap, hf_name: str) -> str:
    name = tmap.get_name(hf_name, try_suffixes=(".weight", ".bias"))
    if name is None:
        raise ModelError(f"No GGUF name for tensor {hf_name!r}; this is not a Qwen2-VL checkpoint.")
    return name


def _checked(
    tensors: TensorStream,
    expected: Mapping[str, tuple[int, ...]],
    optional: set[str],
    wanted: Callable[[str], bool],
    convert: Callable[[str, np.ndarray], Iterator[tuple[str, np.ndarray]]],
) -> Iterator[tuple[str, np.ndarray]]:
    """Filter, validate and convert a Hugging Face stream; raise at the end if anything is missing."""
    seen: set[str] = set()
    for raw_name, array in tensors:
        hf_name = canonical_hf_name(raw_name)
        if not wanted(hf_name) or hf_name.endswith(_SKIPPED_SUFFIXES):
            continue
        shape = expected.get(hf_name)
        if shape is None:
            raise ModelError(f"Unexpected tensor {raw_name!r}: the checkpoint does not match its config.json.")
        if tuple(array.shape) != shape:
            raise ModelError(f"Tensor {raw_name!r} has shape {tuple(array.shape)}, config.json implies {shape}.")
        if hf_name in seen:
            raise ModelError(f"Tensor {raw_name!r} appears twice in the checkpoint.")
        seen.add(hf_name)
        yield from convert(hf_name, array)
    missing = sorted(set(expected) - seen - optional)
    if missing:
        raise ModelError(f"The checkpoint lacks {len(missing)} tensor(s), e.g. {missing[0]!r}; download it again.")


def _cast(array: np.ndarray, out_type: OutType) -> np.ndarray:
    if array.dtype.kind != "f":
        raise ModelError(f"Expected floating-point weights, got {array.dtype}.")
    dtype = np.float32 if array.ndim <= 1 or out_type == "f32" else np.float16
    return np.ascontiguousarray(array, dtype=dtype)


def _write_gguf(
    path: Path,
    arch: str,
    metadata: Callable[[gguf.GGUFWriter], None],
    tensors: Iterable[tuple[str, np.ndarray]],
    out_type: OutType,
) -> Path:
    if out_type not in _FILE_TYPES:
        raise ValueError(f"out_type must be one of {sorted(_FILE_TYPES)}, not {out_type!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique name per writer; created like any file, so the umask sets its mode.
    partial = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial")
    try:
        # The spill file sits beside the output, not in /tmp, which may be small or in RAM.
        with tempfile.TemporaryFile(dir=path.parent) as spill:
            writer = gguf.GGUFWriter(partial, arch)
            # add_tensor appends data here instead of keeping it. gguf annotates the attribute as the
            # SpooledTemporaryFile it makes itself, but only writes, seeks and reads it.
            writer.temp_file = spill  # type: ignore[assignment]
            metadata(writer)
            for name, array in tensors:
                writer.add_tensor(name, _cast(array, out_type))
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_tensors_to_file()
            writer.close()
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path
