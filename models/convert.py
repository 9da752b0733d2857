"""Convert a Hugging Face Qwen2-VL checkpoint (LiveCC) into the GGUF pair llama.cpp runs.

``convert_checkpoint(folder, out_dir, quant="Q4_K_M")`` checks the checkpoint
(architecture, config, tokenizer, every shard present and whole), writes the
text GGUF and the mmproj through the project's one GGUF writer
(``models.gguf_qwen2vl``), streaming tensor by tensor from memory-mapped shards
(``models.safetensors_reader``), then quantizes the text model with llama.cpp
(``models.quantize``). The mmproj stays f16: the vision tower is small, and
quantizing it costs accuracy for little memory.

Memory: one tensor at a time; the largest (the 152,064 x 3,584 embedding,
1.1 GB as f16) bounds it. Disk: the writer briefly holds the text model twice
(spill file + output), then the quantized copy is written and the f16 one
removed; the free space for that peak is checked before anything is written.

What is carried over from the tokenizer files, and checked: the BPE vocabulary
and merges, the added tokens as control tokens (the vision and chat tokens must
be there), EOS ``<|im_end|>``, no BOS added, the chat template, and the
pre-tokenizer, which must be Qwen2's: llama.cpp's ``qwen2`` pre-tokenizer is
written into the GGUF, and any other split rule would tokenize differently.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import gguf

from models.bpe_vocab import QWEN2VL_CHAT_TEMPLATE, Vocab
from models.download import check_disk_space
from models.errors import ConversionError, ModelError, OperationCancelled
from models.gguf_qwen2vl import (
    OutType,
    Qwen2VLTextConfig,
    Qwen2VLVisionConfig,
    is_vision_tensor,
    write_mmproj_gguf,
    write_text_gguf,
)
from models.hashing import digest_file
from models.progress import Progress, ProgressCallback, RateMeter, Throttle
from models.quantize import QUANT_TYPES, estimate_quantized_bytes, normalize_quant, quantize
from models.safetensors_reader import Checkpoint, TensorInfo, open_checkpoint, read_json
from models.store import Manifest, ManifestFile, ModelStore

QWEN2_PRETOKENIZER_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
REQUIRED_SPECIAL_TOKENS = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|video_pad|>")
UNQUANTIZED = ("F16", "F32")


@dataclass(frozen=True)
class CheckpointInfo:
    """A checked checkpoint, ready to convert, and the sizes its outputs will have."""

    checkpoint: Checkpoint
    text: Qwen2VLTextConfig
    vision: Qwen2VLVisionConfig
    vocab: Vocab
    name: str
    text_bytes: int  # the unquantized text GGUF
    vision_bytes: int  # the mmproj GGUF
    text_weights: int  # values in the text model


@dataclass(frozen=True)
class ConversionResult:
    """The GGUF pair written; ``unquantized_path`` is the kept f16/f32 text model, if any."""

    text_path: Path
    mmproj_path: Path
    quant: str
    unquantized_path: Path | None = None


def inspect_checkpoint(folder: str | Path, outtype: OutType = "f16") -> CheckpointInfo:
    """Check everything about a checkpoint that can be checked before converting it."""
    checkpoint = open_checkpoint(folder)
    config = checkpoint.config
    _check_architecture(config, checkpoint.folder)
    _check_config_limits(config, checkpoint.folder / "config.json")
    try:
        text = Qwen2VLTextConfig.from_hf_config(config)
        preprocessor = _optional_json(checkpoint.folder / "preprocessor_config.json")
        vision = Qwen2VLVisionConfig.from_hf_config(config, preprocessor)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConversionError(
            f"{checkpoint.folder / 'config.json'} is incomplete or inconsistent ({exc}); download the checkpoint again."
        ) from exc
    vocab = read_vocab(checkpoint.folder, config)
    width = 2 if outtype == "f16" else 4
    text_bytes = vision_bytes = text_weights = 0
    for t in checkpoint.tensors:
        count = t.nbytes // _itemsize(t)
        n = count * (width if len(t.shape) >= 2 else 4)
        if is_vision_tensor(t.name):
            vision_bytes += n
        else:
            text_bytes += n
            text_weights += count
    text_bytes += 48 * len(vocab) + 32 * len(vocab.merges)  # tokenizer metadata, roughly
    name = str(config.get("_name_or_path") or checkpoint.folder.name).rstrip("/").split("/")[-1]
    return CheckpointInfo(checkpoint, text, vision, vocab, name, text_bytes, vision_bytes, text_weights)


def read_vocab(folder: Path, config: dict) -> Vocab:
    """The tokenizer of a Qwen2-VL checkpoint, checked to be the one llama.cpp's qwen2 path expects."""
    path = folder / "tokenizer.json"
    data = read_json(path, "tokenizer.json")
    if not _is_qwen2_pretokenizer(data.get("pre_tokenizer")):
        raise ConversionError(
            f"{path} does not split text the way Qwen2 does (its pre_tokenizer differs), so "
            "llama.cpp would tokenize it differently; this is not a Qwen2-VL tokenizer."
        )
    merged = {**config, **(config.get("text_config") or {})}
    try:
        vocab = Vocab.from_hf_tokenizer_json(path, model_config=merged)
    except ModelError as exc:
        raise ConversionError(str(exc)) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ConversionError(f"{path} or config.json is inconsistent ({exc}); download the checkpoint again.") from exc
    control = {int(gguf.TokenType.CONTROL)}
    for token in REQUIRED_SPECIAL_TOKENS:
        try:
            ok = vocab.token_types[vocab.token_id(token)] in control
        except KeyError:
            ok = False
        if not ok:
            raise ConversionError(f"The tokenizer lacks the special token {token}; it is not Qwen2-VL's tokenizer.")
    if vocab.tokens[vocab.eos_id] != "<|im_end|>":
        # The chat model ends a turn with <|im_end|>; the base config names <|endoftext|>.
        vocab = dataclasses.replace(vocab, eos_id=vocab.token_id("<|im_end|>"))
    if not vocab.chat_template:
        vocab = dataclasses.replace(vocab, chat_template=QWEN2VL_CHAT_TEMPLATE)
    return vocab


def output_names(stem: str, quant: str | None, outtype: OutType) -> tuple[str, str, str]:
    """(unquantized text, final text, mmproj) file names for a conversion."""
    base = f"{stem}-{outtype.upper()}.gguf"
    final = base if quant is None or quant in UNQUANTIZED else f"{stem}-{quant}.gguf"
    return base, final, f"{stem}-mmproj-{outtype.upper()}.gguf"


def convert_checkpoint(
    folder: str | Path,
    out_dir: str | Path,
    *,
    quant: str | None = "Q4_K_M",
    outtype: OutType = "f16",
    stem: str | None = None,
    keep_unquantized: bool = False,
    threads: int | None = None,
    source: str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> ConversionResult:
    """Convert ``folder`` into ``out_dir``; see the module docstring.

    quant: a ``QUANT_TYPES`` name, or ``None``/"F16"/"F32" to keep the text model unquantized.
    outtype: precision of the unquantized text model and of the mmproj.
    stem: base of the file names (default: the checkpoint's name).
    keep_unquantized: keep the f16/f32 text model after quantizing (to requantize later).
    source: where the checkpoint came from, for the manifest.
    A ``manifest.json`` with sizes and sha256 of the outputs is written to ``out_dir``.
    """
    quant = None if quant is None else (quant.upper() if quant.upper() in UNQUANTIZED else normalize_quant(quant))
    if outtype not in ("f16", "f32"):
        raise ConversionError(f"--outtype must be f16 or f32, not {outtype!r}.")
    info = inspect_checkpoint(folder, outtype)
    out_dir = Path(out_dir)
    stem = stem or info.name
    base_name, final_name, mmproj_name = output_names(stem, quant, outtype)
    quantize_to = quant if final_name != base_name else None  # what to quantize the text model to, if anything
    quantized = quantize_to is not None
    quant_bytes = estimate_quantized_bytes(info.text_weights, quantize_to) if quantize_to else 0
    peak = max(
        2 * info.text_bytes, info.text_bytes + 2 * info.vision_bytes, info.text_bytes + info.vision_bytes + quant_bytes
    )
    check_disk_space([(out_dir / base_name, peak)], "to convert")

    text_path, mmproj_path = out_dir / base_name, out_dir / mmproj_name
    ckpt = info.checkpoint
    text_total = sum(t.nbytes for t in ckpt.tensors if not is_vision_tensor(t.name))
    write_text_gguf(
        text_path,
        info.text,
        info.vocab,
        ckpt.stream(lambda n: not is_vision_tensor(n), outtype, _ticker("text model", text_total, on_progress, cancel)),
        out_type=outtype,
        name=stem,
    )
    try:
        write_mmproj_gguf(
            mmproj_path,
            info.vision,
            ckpt.stream(
                is_vision_tensor,
                outtype,
                _ticker("vision projector", ckpt.total_bytes - text_total, on_progress, cancel),
            ),
            out_type=outtype,
            name=f"{stem} vision",
        )
        final_path = text_path
        if quantize_to:
            final_path = quantize(
                text_path, out_dir / final_name, quantize_to, threads=threads, on_progress=on_progress, cancel=cancel
            )
            if not keep_unquantized:
                text_path.unlink()
    except BaseException:
        if quantized and not keep_unquantized:
            text_path.unlink(missing_ok=True)
        raise
    result = ConversionResult(
        final_path, mmproj_path, quant or outtype.upper(), text_path if quantized and keep_unquantized else None
    )
    write_conversion_manifest(out_dir, result, source or str(ckpt.folder), stem, on_progress, cancel)
    return result


def write_conversion_manifest(
    out_dir: Path,
    result: ConversionResult,
    source: str,
    title: str,
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> None:
    """Record the outputs' sizes and sha256 (merged with what the folder already holds)."""
    store = ModelStore(out_dir.parent)
    manifest = store.read_manifest(out_dir) or Manifest(out_dir.name, f"{source} (converted)", (), title)
    roles = [("model", result.text_path), ("mmproj", result.mmproj_path)]
    if result.unquantized_path is not None:
        roles.append(("model", result.unquantized_path))
    for role, path in roles:
        sha = digest_file(path, on_progress=on_progress, cancel=cancel)
        manifest = manifest.with_file(ManifestFile(role, path.name, path.stat().st_size, sha))
    store.write_manifest(out_dir, manifest)


# ---------------------------------------------------------------- internals
def _check_architecture(config: dict, folder: Path) -> None:
    model_type = str(config.get("model_type", ""))
    archs = config.get("architectures") or []
    if model_type == "qwen2_vl" or "Qwen2VLForConditionalGeneration" in archs:
        return
    what = ", ".join(archs) or model_type or "an unknown architecture"
    hint = " Qwen2.5-VL has a different vision tower; LiveCC is Qwen2-VL." if "2_5" in model_type else ""
    raise ConversionError(
        f"{folder} holds {what}, not Qwen2-VL (Qwen2VLForConditionalGeneration); "
        f"LiveCC Desk converts LiveCC / Qwen2-VL checkpoints only.{hint}"
    )


# Whole-number config values and their plausible ranges, far above any Qwen2-VL (72B: width 8192,
# 80 layers, 64 heads, FFN 29568, vocabulary 152064; vision 32 blocks of width 1280). Checked before
# anything is sized from them: a damaged "num_hidden_layers": 1e12 must not become a tensor list.
_TEXT_LIMITS = {
    "vocab_size": (1, 1 << 20, True),
    "hidden_size": (1, 1 << 16, True),
    "num_hidden_layers": (1, 1024, True),
    "num_attention_heads": (1, 1024, True),
    "num_key_value_heads": (1, 1024, False),
    "intermediate_size": (1, 1 << 20, True),
    "max_position_embeddings": (1, 1 << 24, False),
}
_VISION_LIMITS = {
    "depth": (1, 256, True),
    "embed_dim": (1, 1 << 14, True),
    "num_heads": (1, 1024, True),
    "hidden_size": (1, 1 << 16, False),
    "patch_size": (1, 256, False),
    "spatial_merge_size": (1, 16, False),
    "temporal_patch_size": (1, 16, False),
    "in_chans": (1, 16, False),
    "in_channels": (1, 16, False),
}


def _check_config_limits(config: dict, path: Path) -> None:
    """Reject absurd or malformed shapes in ``config.json`` before anything is allocated from them."""

    def bad(key: str, value: object, what: str) -> ConversionError:
        return ConversionError(
            f"{path} gives {key} = {json.dumps(value)[:40]}, {what}; the file is damaged or not a "
            "Qwen2-VL config: download the checkpoint again."
        )

    def whole(section: dict, limits: dict, prefix: str) -> None:
        for key, (low, high, required) in limits.items():
            if key not in section:
                if required:
                    raise ConversionError(f"{path} lacks {prefix}{key}; download the checkpoint again.")
                continue
            value = section[key]
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise bad(prefix + key, section[key], f"not a whole number from {low:,} to {high:,}")

    text = config.get("text_config") or {}
    vision = config.get("vision_config")
    if not isinstance(text, dict) or not isinstance(vision, dict):
        raise ConversionError(
            f"{path} lacks a vision_config (or its text_config is not an object); download the checkpoint again."
        )
    whole({**config, **text}, _TEXT_LIMITS, "")
    whole(vision, _VISION_LIMITS, "vision_config.")
    ratio = vision.get("mlp_ratio", 4)
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio <= 64:
        raise bad("vision_config.mlp_ratio", ratio, "not a number from 0 to 64")
    merged = {**config, **text}
    rope = merged.get("rope_scaling") or merged.get("rope_parameters") or {}
    sections = rope.get("mrope_section", [16, 24, 24]) if isinstance(rope, dict) else None
    if (
        not isinstance(sections, list)
        or not 1 <= len(sections) <= 4
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 4096 for v in sections)
    ):
        raise bad("rope_scaling.mrope_section", sections, "not one to four whole numbers")


def _is_qwen2_pretokenizer(pre: object) -> bool:
    if not isinstance(pre, dict):
        return False
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else [pre]
    if not isinstance(steps, list):
        return False
    splits = [s for s in steps if isinstance(s, dict) and s.get("type") == "Split"]
    byte_level = any(isinstance(s, dict) and s.get("type") == "ByteLevel" for s in steps)
    return byte_level and len(splits) == 1 and (splits[0].get("pattern") or {}).get("Regex") == QWEN2_PRETOKENIZER_REGEX


def _optional_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _itemsize(t: TensorInfo) -> int:
    return {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}[t.dtype]


def _ticker(label: str, total: int, on_progress: ProgressCallback | None, cancel: threading.Event | None):
    """A per-tensor callback: checks for cancellation and reports bytes converted."""
    meter, throttle, done = RateMeter(), Throttle(0.1), [0]

    def tick(info: TensorInfo) -> None:
        if cancel is not None and cancel.is_set():
            raise OperationCancelled("Conversion cancelled; nothing half-written was kept.")
        done[0] += info.nbytes
        if on_progress is not None and throttle.ready(done[0] >= total):
            rate = meter.update(done[0])
            on_progress(Progress("convert", label, done[0], total, rate, RateMeter.eta(done[0], total, rate)))

    return tick


def quant_choices() -> tuple[str, ...]:
    return (*QUANT_TYPES, *UNQUANTIZED)
