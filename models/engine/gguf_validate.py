"""Check a Qwen2-VL vision projector (mmproj) the way llama.cpp's ``clip.cpp`` will read it.

``clip.cpp`` trusts the file: it asserts on a metadata value of the wrong type
(``gguf_get_val_u32`` on an INT32 aborts the process), it loads the attention
weights of each block as *optional* (a fused ``attn_qkv`` may replace them) and
then builds the graph with a null tensor when one is missing (a flipped byte
that renamed ``v.blk.1.attn_q.weight`` segfaulted), and it asserts on shapes
that do not fit. So before llama.cpp sees an mmproj we read it with the
``gguf`` package and require exactly what ``clip.cpp`` needs for the
``qwen2vl_merger`` projector (``tools/mtmd/clip.cpp``, ``models/qwen2vl.cpp`` of
the llama.cpp vendored in llama-cpp-python 0.3.36):

- the keys it reads, each of the GGUF type it reads it as, with plausible values;
- every tensor of the vision tower and merger, no other, each with the shape
  the metadata implies (embedding length E, feed-forward length F, patch size P,
  spatial merge 2, projection dimension D) and a type ggml can run there;
- tensor data aligned, inside the file and not overlapping (``check_tensor_data``,
  used for the text model too).

Every failure is a ``CorruptModelError`` whose message names the file, says
what is wrong and what to do.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from models.errors import CorruptModelError, ModelError

QWEN2VL_PROJECTOR = "qwen2vl_merger"

# GGUF value types (gguf.GGUFValueType), by the names clip.cpp's getters use.
_U32, _I32, _F32, _BOOL, _STRING, _ARRAY = 4, 5, 6, 7, 8, 9

#: Keys clip.cpp reads for a Qwen2-VL vision encoder: the GGUF type it asserts (or
#: checks) and whether a missing key stops the load. Arrays: (ARRAY, item type).
_KEYS: dict[str, tuple[int | tuple[int, int], bool]] = {
    "clip.has_vision_encoder": (_BOOL, True),
    "clip.has_audio_encoder": (_BOOL, False),
    "clip.has_gen_audio_encoder": (_BOOL, False),
    "clip.projector_type": (_STRING, False),
    "clip.vision.projector_type": (_STRING, False),
    "clip.use_gelu": (_BOOL, False),
    "clip.use_silu": (_BOOL, False),
    "clip.minicpmv_version": (_I32, False),
    "clip.minicpmv_query_num": (_U32, False),
    "clip.vision.embedding_length": (_U32, True),
    "clip.vision.attention.head_count": (_U32, True),
    "clip.vision.attention.head_count_kv": (_U32, False),
    "clip.vision.attention.head_dim": (_U32, False),
    "clip.vision.feed_forward_length": (_U32, True),
    "clip.vision.block_count": (_U32, True),
    "clip.vision.projection_dim": (_U32, True),
    "clip.vision.attention.layer_norm_epsilon": (_F32, True),
    "clip.vision.image_size": (_U32, True),
    "clip.vision.patch_size": (_U32, True),
    "clip.vision.spatial_merge_size": (_U32, False),
    "clip.vision.n_wa_pattern": (_U32, False),
    "clip.vision.image_min_pixels": (_U32, False),
    "clip.vision.image_max_pixels": (_U32, False),
    "clip.vision.mm_patch_merge_type": (_STRING, False),
    "clip.vision.image_mean": ((_ARRAY, _F32), True),
    "clip.vision.image_std": ((_ARRAY, _F32), True),
    "clip.vision.image_grid_pinpoints": ((_ARRAY, _I32), False),
    "clip.vision.feature_layer": ((_ARRAY, _I32), False),
    "general.name": (_STRING, False),
    "general.description": (_STRING, False),
}

# ggml type ids (gguf.GGMLQuantizationType) allowed per role.
_F32_T, _F16_T, _BF16_T = 0, 1, 30
#: Weight matrices: floats and the common quantizations ggml multiplies on every backend.
_MATRIX_TYPES = {_F32_T, _F16_T, _BF16_T, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14}
_PATCH_TYPES = {_F32_T, _F16_T}  # im2col of the patch convolution takes F32 or F16 kernels only
_VECTOR_TYPES = {_F32_T}  # norms and biases: converters always keep them F32

# Limits far above any released Qwen2-VL (7B: width 1280, 32 blocks, 16 heads, FFN 5120).
_MAX_WIDTH, _MAX_LAYERS, _MAX_FFN, _MAX_PATCH, _MAX_IMAGE = 16384, 256, 1 << 20, 256, 1 << 16


def _damaged(path: Path, what: str) -> CorruptModelError:
    return CorruptModelError(
        f"{path.name} is damaged or not a Qwen2-VL vision projector ({what}); "
        "download or convert the mmproj again (the one published with the model)."
    )


def check_tensor_data(reader, path: Path, role: str) -> None:
    """Every tensor's data aligned, inside the file, and not overlapping another's."""
    size = os.path.getsize(path)
    alignment = int(getattr(reader, "alignment", 32) or 32)
    spans = []
    for t in reader.tensors:
        start, n = int(t.data_offset), int(t.n_bytes)
        if n <= 0 or (start - int(reader.data_offset)) % alignment:
            raise CorruptModelError(
                f"{path} is damaged (tensor {t.name!r} has a bad offset or size); download or convert the {role} again."
            )
        spans.append((start, start + n, t.name))
    end = max((e for _, e, _ in spans), default=0)
    if end > size:
        raise CorruptModelError(
            f"{path} is truncated ({size:,} of {end:,} bytes); download or convert the {role} again."
        )
    spans.sort()
    for (_, end0, name0), (start1, _, name1) in zip(spans, spans[1:]):
        if start1 < end0:
            raise CorruptModelError(
                f"{path} is damaged (tensors {name0!r} and {name1!r} overlap); download or convert the {role} again."
            )


def field_value(field):
    """``field.contents()``, with text that is not UTF-8 decoded with replacement characters."""
    try:
        return field.contents()
    except UnicodeDecodeError:
        if [int(t) for t in field.types] == [_STRING]:
            return bytes(field.parts[-1]).decode("utf-8", "replace")
        return [bytes(field.parts[i]).decode("utf-8", "replace") for i in field.data]


def _field(reader, key: str, path: Path, want: int | tuple[int, int], required: bool):
    field = reader.fields.get(key)
    if field is None:
        if required:
            raise _damaged(path, f"the key {key} is missing")
        return None
    types = [int(t) for t in field.types]
    if isinstance(want, tuple):
        if types[:2] != list(want):
            raise _damaged(path, f"the key {key} is not an array of the expected type")
    elif types != [want]:
        raise _damaged(path, f"the key {key} has value type {types[0] if types else '?'}, expected {want}")
    return field_value(field)


def _int_in(path: Path, key: str, value, low: int, high: int) -> int:
    if not isinstance(value, int) or not low <= value <= high:
        raise _damaged(path, f"{key} is {value!r}, expected {low}..{high}")
    return value


def check_qwen2vl_mmproj(reader, path: str | os.PathLike, text_n_embd: int = 0) -> str:
    """Validate an opened mmproj (``gguf.GGUFReader``); returns its projector type.

    Raises ``CorruptModelError`` (or ``ModelError`` for a projector of another
    model family) naming what is wrong.
    """
    from gguf import GGML_QUANT_SIZES  # imported here: gguf pulls numpy, kept off the start-up path

    path = Path(path)
    values = {key: _field(reader, key, path, want, required) for key, (want, required) in _KEYS.items()}
    projector = values["clip.projector_type"] or values["clip.vision.projector_type"] or ""
    if projector != QWEN2VL_PROJECTOR:
        raise ModelError(
            f"{path.name} is a '{projector or 'unknown'}' vision projector; LiveCC needs the Qwen2-VL one "
            f"({QWEN2VL_PROJECTOR}). Use the mmproj published with the model."
        )

    e = _int_in(path, "clip.vision.embedding_length", values["clip.vision.embedding_length"], 1, _MAX_WIDTH)
    heads = _int_in(path, "clip.vision.attention.head_count", values["clip.vision.attention.head_count"], 1, e)
    if e % heads or (e // heads) % 4:
        raise _damaged(path, f"{heads} attention heads do not split the width {e} into a multiple of 4")
    for key, want in (("clip.vision.attention.head_count_kv", heads), ("clip.vision.attention.head_dim", e // heads)):
        if values[key] is not None and values[key] != want:
            raise _damaged(path, f"{key} is {values[key]}, expected {want}")
    n_layers = _int_in(path, "clip.vision.block_count", values["clip.vision.block_count"], 1, _MAX_LAYERS)
    ffn = _int_in(path, "clip.vision.feed_forward_length", values["clip.vision.feed_forward_length"], 0, _MAX_FFN)
    proj = _int_in(path, "clip.vision.projection_dim", values["clip.vision.projection_dim"], 1, _MAX_WIDTH)
    patch = _int_in(path, "clip.vision.patch_size", values["clip.vision.patch_size"], 1, _MAX_PATCH)
    _int_in(path, "clip.vision.image_size", values["clip.vision.image_size"], 1, _MAX_IMAGE)
    merge = values["clip.vision.spatial_merge_size"]
    if merge is not None and merge != 2:
        raise _damaged(path, f"spatial merge size {merge}; llama.cpp's Qwen2-VL encoder merges 2x2 patches")
    if values["clip.vision.n_wa_pattern"]:
        raise _damaged(path, "a window-attention pattern, which Qwen2-VL does not have")
    if values["clip.use_gelu"] and values["clip.use_silu"]:
        raise _damaged(path, "both use_gelu and use_silu are set")
    eps = values["clip.vision.attention.layer_norm_epsilon"]
    if not (isinstance(eps, float) and math.isfinite(eps) and 0.0 < eps < 1.0):
        raise _damaged(path, f"layer norm epsilon {eps!r}")
    for key in ("clip.vision.image_mean", "clip.vision.image_std"):
        arr = values[key]
        if len(arr) < 3 or not all(math.isfinite(v) for v in arr[:3]) or (key.endswith("std") and min(arr[:3]) <= 0):
            raise _damaged(path, f"{key} is {arr!r}")
    pinpoints = values["clip.vision.image_grid_pinpoints"]
    if pinpoints is not None and len(pinpoints) % 2:
        raise _damaged(path, "image_grid_pinpoints has an odd number of values")
    if text_n_embd and proj != text_n_embd:
        return projector  # the caller reports a projector of another model with its own message

    expected = _expected_tensors(e, ffn, n_layers, patch, proj, reader)
    names = {t.name for t in reader.tensors}
    missing = [n for n, (_, _, optional) in expected.items() if not optional and n not in names]
    seen: set[str] = set()
    for t in reader.tensors:
        name = t.name
        spec = expected.get(name)
        if spec is None:
            hint = f" where {missing[0]!r} should be" if missing else ""
            raise _damaged(path, f"an unexpected tensor {name!r}{hint}")
        if name in seen:
            raise _damaged(path, f"the tensor {name!r} appears twice")
        seen.add(name)
        shape, types, _optional = spec
        actual = tuple(int(d) for d in t.shape)
        if actual != shape:
            raise _damaged(path, f"the tensor {name!r} has shape {list(actual)}, the metadata implies {list(shape)}")
        if int(t.tensor_type) not in types or actual[0] % GGML_QUANT_SIZES[t.tensor_type][0]:
            raise _damaged(path, f"the tensor {name!r} has type {t.tensor_type.name}, which llama.cpp cannot use there")
    if missing:
        raise _damaged(
            path,
            f"the tensor {missing[0]!r} is missing" + (f", and {len(missing) - 1} more" if len(missing) > 1 else ""),
        )
    check_tensor_data(reader, path, "mmproj")
    return projector


def _expected_tensors(e: int, ffn: int, n_layers: int, patch: int, proj: int, reader):
    """name -> (GGUF shape ``ne``, allowed types, optional) of a Qwen2-VL mmproj."""
    m = 4 * e  # 2x2 merged patches enter the merger
    if ffn == 0:  # legacy files (llama.cpp's old surgery script) leave the FFN length at 0
        up = next((t for t in reader.tensors if t.name == "v.blk.0.ffn_up.weight"), None)
        ffn = int(max(up.shape)) if up is not None and len(up.shape) == 2 else 0
    swapped = any(
        t.name == "v.blk.0.ffn_down.weight" and len(t.shape) == 2 and int(t.shape[0]) == e and ffn != e
        for t in reader.tensors
    )
    # clip.cpp swaps up and down when ffn_down's rows have the width (legacy exports): accept either
    # orientation, the same for every block.
    up_shape, down_shape = ((ffn, e), (e, ffn)) if swapped else ((e, ffn), (ffn, e))
    up_bias, down_bias = ((e,), (ffn,)) if swapped else ((ffn,), (e,))
    vec, mat = _VECTOR_TYPES, _MATRIX_TYPES
    specs: dict[str, tuple[tuple[int, ...], set[int], bool]] = {
        "v.patch_embd.weight": ((patch, patch, 3, e), _PATCH_TYPES, False),
        "v.patch_embd.weight.1": ((patch, patch, 3, e), _PATCH_TYPES, False),
        "v.post_ln.weight": ((e,), vec, True),
        "v.post_ln.bias": ((e,), vec, True),
        "v.pre_ln.weight": ((e,), vec, True),
        "v.pre_ln.bias": ((e,), vec, True),
        "mm.0.weight": ((m, m), mat, False),
        "mm.0.bias": ((m,), vec, False),
        "mm.2.weight": ((m, proj), mat, False),
        "mm.2.bias": ((proj,), vec, False),
    }
    for i in range(n_layers):
        b = f"v.blk.{i}."
        specs.update(
            {
                b + "ln1.weight": ((e,), vec, False),
                b + "ln1.bias": ((e,), vec, False),
                b + "attn_q.weight": ((e, e), mat, False),
                b + "attn_q.bias": ((e,), vec, False),
                b + "attn_k.weight": ((e, e), mat, False),
                b + "attn_k.bias": ((e,), vec, False),
                b + "attn_v.weight": ((e, e), mat, False),
                b + "attn_v.bias": ((e,), vec, False),
                b + "attn_out.weight": ((e, e), mat, False),
                b + "attn_out.bias": ((e,), vec, False),
                b + "ln2.weight": ((e,), vec, False),
                b + "ln2.bias": ((e,), vec, False),
                b + "ffn_up.weight": (up_shape, mat, False),
                b + "ffn_up.bias": (up_bias, vec, False),
                b + "ffn_down.weight": (down_shape, mat, False),
                b + "ffn_down.bias": (down_bias, vec, False),
            }
        )
    return specs


#: Text-model keys llama.cpp's qwen2vl loader reads as unsigned counts, with plausible ranges
#: (Qwen2-VL-72B: width 8192, 80 blocks, 64 heads, FFN 29568, 32k context).
_TEXT_COUNTS = {
    "embedding_length": (1, 1 << 16),
    "block_count": (1, 1024),
    "attention.head_count": (1, 1024),
    "attention.head_count_kv": (1, 1024),
    "feed_forward_length": (1, 1 << 20),
    "context_length": (1, 1 << 24),
}


def _text_damaged(path: Path, what: str) -> CorruptModelError:
    return CorruptModelError(f"{path.name} is damaged ({what}); download or convert the model again.")


def check_qwen2vl_text(reader, path: str | os.PathLike, arch: str = "qwen2vl") -> None:
    """What llama.cpp trusts in a Qwen2-VL text model without a clean error.

    Its own loader checks tensor names and shapes and most key types, but it
    divides by the head counts, and it asserts (aborts the process) when two
    vocabulary entries are the same string or when a byte-level token that the
    tokenizer falls back on is missing. Those are checked here.
    """
    path = Path(path)
    counts: dict[str, int] = {}
    for key, (low, high) in _TEXT_COUNTS.items():
        value = _field(reader, f"{arch}.{key}", path, _U32, key != "attention.head_count_kv")
        if value is not None and (not isinstance(value, int) or not low <= value <= high):
            raise _text_damaged(path, f"{arch}.{key} is {value!r}")
        counts[key] = value or 0  # 0: an optional key left out
    embd, heads = counts["embedding_length"], counts["attention.head_count"]
    kv_heads = counts["attention.head_count_kv"] or heads
    if embd % heads or heads % kv_heads:
        raise _text_damaged(path, f"{heads} heads and {kv_heads} KV heads do not split the width {embd}")
    field = reader.fields.get(f"{arch}.rope.dimension_sections")
    if field is None or [int(t) for t in field.types] != [_ARRAY, _I32] or len(field.data) != 4:
        raise _text_damaged(path, f"{arch}.rope.dimension_sections is missing or not four integers")
    sections = field_value(field)
    if any(s < 0 for s in sections) or sum(sections) != embd // heads // 2:
        raise _text_damaged(path, f"M-RoPE sections {sections} do not fit the head size {embd // heads}")
    _check_vocabulary(reader, path)


def _check_vocabulary(reader, path: Path) -> None:
    field = reader.fields.get("tokenizer.ggml.tokens")
    if field is None or [int(t) for t in field.types] != [_ARRAY, _STRING]:
        raise _text_damaged(path, "the vocabulary is missing")
    tokens = {field.parts[i].tobytes() for i in field.data}
    if len(tokens) != len(field.data):
        raise _text_damaged(path, "two vocabulary entries are the same")
    model = reader.fields.get("tokenizer.ggml.model")
    if model is not None and bytes(model.parts[-1]) == b"gpt2":
        missing = [b for b in _BYTE_TOKENS if b not in tokens]
        if missing:
            raise _text_damaged(
                path, f"the byte token {missing[0].decode('utf-8', 'replace')!r} is missing from the vocabulary"
            )


def _byte_level_tokens() -> list[bytes]:
    """The 256 tokens GPT-2 style byte-level BPE spells single bytes with (``bytes_to_unicode``)."""
    visible = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in visible:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b].encode("utf-8") for b in range(256)]


_BYTE_TOKENS = _byte_level_tokens()
