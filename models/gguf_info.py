"""A quick look at a GGUF file's header: what it is, without reading its tensors.

``models list`` looks at every GGUF in the models folder. ``gguf.GGUFReader``
would parse every key and every tensor entry, 150,000 vocabulary strings
included, each time; this reader walks the key/value section once, skips
arrays, keeps the few keys that say what the file is, and stops as soon as it
has them. Damage shows as ``GgufSummary.problem`` rather than an exception, so
one bad file does not hide the others.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

GGUF_MAGIC = b"GGUF"

# GGUF value types: fixed sizes of the scalar ones; 8 = string, 9 = array.
_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_SCALAR_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
#: A metadata value as read here: a number, a flag, a string, or an array's length.
GgufValue = int | float | str

# llama_ftype values -> the names users know them by.
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
}


@dataclass(frozen=True)
class GgufSummary:
    """What a GGUF header says. ``problem`` is set (and the rest may be empty) if unreadable."""

    path: Path
    architecture: str = ""
    name: str = ""
    file_type: str = ""
    n_layers: int = 0
    n_embd: int = 0
    projection_dim: int = 0
    has_vision: bool = False
    problem: str = ""

    @property
    def is_text_model(self) -> bool:
        return not self.problem and self.architecture not in ("", "clip")

    @property
    def is_projector(self) -> bool:
        return not self.problem and self.architecture == "clip"


def summarize(path: str | Path) -> GgufSummary:
    """Read the identifying keys of ``path``; never raises for a damaged file."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return _summarize(path, fh)
    except OSError as exc:
        return GgufSummary(path, problem=f"cannot be read ({exc.strerror or exc})")
    except (struct.error, UnicodeDecodeError, ValueError):
        return GgufSummary(path, problem="damaged or truncated header")


def _summarize(path: Path, fh: BinaryIO) -> GgufSummary:
    if fh.read(4) != GGUF_MAGIC:
        return GgufSummary(path, problem="not a GGUF file")
    version, _n_tensors, n_kv = struct.unpack("<IQQ", _read(fh, 20))
    if version < 2:
        return GgufSummary(path, problem=f"GGUF version {version} is too old for llama.cpp")
    values: dict[str, GgufValue] = {}
    arch = None
    for _ in range(n_kv):
        key = _read_string(fh)
        vtype = struct.unpack("<I", _read(fh, 4))[0]
        wanted = key.startswith(("general.", "clip.")) or (arch is not None and key.startswith(arch + "."))
        if vtype == _ARRAY or not wanted:
            _skip_value(fh, vtype)
            continue
        values[key] = _read_scalar(fh, vtype)
        if key == "general.architecture":
            arch = str(values[key])
        if (
            arch
            and f"{arch}.embedding_length" in values
            and f"{arch}.block_count" in values
            and "general.file_type" in values
        ):
            break
    arch = arch or ""
    ftype = values.get("general.file_type")
    return GgufSummary(
        path=path,
        architecture=arch,
        name=str(values.get("general.name", "")),
        file_type=FILE_TYPES.get(int(ftype), f"type {ftype}") if isinstance(ftype, int) else "",
        n_layers=int(values.get(f"{arch}.block_count", 0) or values.get("clip.vision.block_count", 0)),
        n_embd=int(values.get(f"{arch}.embedding_length", 0) or 0),
        projection_dim=int(values.get("clip.vision.projection_dim", 0) or 0),
        has_vision=bool(values.get("clip.has_vision_encoder", False)),
    )


def _read(fh: BinaryIO, n: int) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise ValueError("truncated")
    return data


def _read_string(fh: BinaryIO, errors: str = "strict") -> str:
    (length,) = struct.unpack("<Q", _read(fh, 8))
    if length > 1 << 24:
        raise ValueError("implausible string length")
    return _read(fh, length).decode("utf-8", errors)


def _read_scalar(fh: BinaryIO, vtype: int, errors: str = "strict") -> GgufValue:
    if vtype == _STRING:
        return _read_string(fh, errors)
    if vtype not in _SCALAR_FORMATS:
        raise ValueError(f"unknown value type {vtype}")
    return struct.unpack(_SCALAR_FORMATS[vtype], _read(fh, _SCALAR_SIZES[vtype]))[0]


def _skip_value(fh: BinaryIO, vtype: int) -> None:
    if vtype == _STRING:
        (length,) = struct.unpack("<Q", _read(fh, 8))
        fh.seek(length, 1)
    elif vtype == _ARRAY:
        item_type, count = struct.unpack("<IQ", _read(fh, 12))
        if item_type in _SCALAR_SIZES:
            fh.seek(_SCALAR_SIZES[item_type] * count, 1)
        else:
            for _ in range(count):
                _skip_value(fh, item_type)
    elif vtype in _SCALAR_SIZES:
        fh.seek(_SCALAR_SIZES[vtype], 1)
    else:
        raise ValueError(f"unknown value type {vtype}")


@dataclass(frozen=True)
class GgufLayout:
    """What memory a GGUF needs: its tensors' byte sizes and the attention shape."""

    path: Path
    architecture: str
    n_layers: int
    n_embd: int
    n_heads: int
    n_kv_heads: int
    n_vocab: int
    tensor_bytes: dict[str, int]

    def layer_bytes(self, i: int) -> int:
        prefix = f"blk.{i}."
        return sum(n for name, n in self.tensor_bytes.items() if name.startswith(prefix))

    @property
    def total_bytes(self) -> int:
        return sum(self.tensor_bytes.values())


def read_layout(path: str | os.PathLike[str]) -> GgufLayout:
    """Walk the whole header (keys, then tensor entries); raises ``ValueError`` if damaged."""
    import gguf

    path = Path(path)
    with open(path, "rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            raise ValueError(f"{path.name} is not a GGUF file")
        _version, n_tensors, n_kv = struct.unpack("<IQQ", _read(fh, 20))
        values: dict[str, GgufValue] = {}
        for _ in range(n_kv):
            # Text that is not UTF-8 (a damaged chat template, say) does not matter for the layout.
            key = _read_string(fh, "replace")
            vtype = struct.unpack("<I", _read(fh, 4))[0]
            if vtype == _ARRAY:
                item_type, count = struct.unpack("<IQ", _read(fh, 12))
                values[key] = count  # arrays: only their length matters here
                fh.seek(-12, 1)
                _skip_value(fh, vtype)
            else:
                values[key] = _read_scalar(fh, vtype, "replace")
        sizes: dict[str, int] = {}
        for _ in range(n_tensors):
            name = _read_string(fh)
            (n_dims,) = struct.unpack("<I", _read(fh, 4))
            dims = struct.unpack(f"<{n_dims}Q", _read(fh, 8 * n_dims))
            ttype, _offset = struct.unpack("<IQ", _read(fh, 12))
            block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(ttype)]
            count = 1
            for d in dims:
                count *= d
            sizes[name] = count // block * type_size
    arch = str(values.get("general.architecture", ""))
    prefix = "clip.vision" if arch == "clip" else arch
    heads = int(values.get(f"{prefix}.attention.head_count", 0) or 0)
    return GgufLayout(
        path=path,
        architecture=arch,
        n_layers=int(values.get(f"{prefix}.block_count", 0) or 0),
        n_embd=int(values.get(f"{prefix}.embedding_length", 0) or 0),
        n_heads=heads,
        n_kv_heads=int(values.get(f"{arch}.attention.head_count_kv", heads) or heads),
        n_vocab=int(values.get("tokenizer.ggml.tokens", 0) or 0),
        tensor_bytes=sizes,
    )
