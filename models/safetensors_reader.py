"""Read Hugging Face safetensors shards one tensor at a time, in bounded memory.

A safetensors file is an 8-byte little-endian header length, a JSON header
(name -> dtype, shape, byte range) and the raw tensor bytes. We parse the header
ourselves and read each tensor only when the writer asks for it, in blocks, so
only one converted tensor is held at a time: a 16 GB checkpoint converts with
about one large tensor's worth of memory (the 7B embedding, 1.1 GB as f16).
(The ``safetensors`` package would do the same, but it would be one more
runtime dependency for forty lines.)

numpy has no bfloat16. A bf16 value is the upper half of a float32, so it is
widened exactly by shifting its 16 bits into the high half of a uint32 and
viewing that as float32. Conversion runs in row blocks straight into the output
dtype, so a bf16 embedding never exists in RAM as a full float32 copy.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.errors import ConversionError

_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
}
_BLOCK_ELEMENTS = 1 << 22  # elements converted at once (16 MiB of float32)
_MAX_HEADER = 100 << 20  # a larger header is damage, not a model


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lies in a shard."""

    name: str
    shard: Path
    dtype: str
    shape: tuple[int, ...]
    offset: int  # absolute byte offset of the data in the shard
    nbytes: int


def read_header(path: Path) -> list[TensorInfo]:
    """The tensors of one ``.safetensors`` file, in file order; raise if it is damaged."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            raw_len = fh.read(8)
            if len(raw_len) < 8:
                raise ConversionError(f"{path.name} is empty or truncated; download it again.")
            (header_len,) = struct.unpack("<Q", raw_len)
            if header_len > min(_MAX_HEADER, size - 8):
                raise ConversionError(f"{path.name} is not a safetensors file or is truncated; download it again.")
            header = json.loads(fh.read(header_len))
    except OSError as exc:
        raise ConversionError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConversionError(f"{path.name} has a damaged header ({exc}); download it again.") from exc
    if not isinstance(header, dict):
        raise ConversionError(f"{path.name} has a damaged header; download it again.")
    base = 8 + header_len
    tensors = []
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        tensors.append(_tensor_info(path, name, meta, base, size))
    return sorted(tensors, key=lambda t: t.offset)


def _tensor_info(path: Path, name: str, meta: Any, base: int, size: int) -> TensorInfo:
    try:
        dtype, shape = str(meta["dtype"]), tuple(int(d) for d in meta["shape"])
        begin, end = (int(x) for x in meta["data_offsets"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConversionError(f"{path.name}: damaged entry for tensor {name!r}; download it again.") from exc
    if dtype not in _DTYPES:
        raise ConversionError(
            f"{path.name}: tensor {name!r} is {dtype}; only F32, F16 and BF16 weights can be converted."
        )
    if end - begin != math.prod(shape) * _DTYPES[dtype].itemsize or begin < 0:
        raise ConversionError(f"{path.name}: tensor {name!r} has an inconsistent size; download it again.")
    if base + end > size:
        raise ConversionError(
            f"{path.name} is truncated ({size:,} bytes, tensor {name!r} ends at {base + end:,}); download it again."
        )
    return TensorInfo(name, path, dtype, shape, base + begin, end - begin)


def load_tensor(info: TensorInfo, out_dtype: np.dtype | type = np.float32) -> np.ndarray:
    """The tensor's values as ``out_dtype`` (float16 or float32), converted in blocks.

    Data already in ``out_dtype`` comes back as a read-only memory map (no copy; its
    pages are the file's, which the OS can drop at any time). Anything else is read
    block by block with plain file reads into the new array, so the source never
    occupies memory beyond one block. Raises ``ConversionError`` if a value does not
    fit float16 or the file ends early.
    """
    out_dtype = np.dtype(out_dtype)
    src_dtype = _DTYPES[info.dtype]
    count = math.prod(info.shape)
    if info.dtype != "BF16" and src_dtype == out_dtype:
        if not count:
            return np.empty(info.shape, out_dtype)
        return np.memmap(info.shard, dtype=src_dtype, mode="r", offset=info.offset, shape=info.shape)
    out = np.empty(count, dtype=out_dtype)
    buf = np.empty(min(count, _BLOCK_ELEMENTS), dtype=src_dtype)
    with open(info.shard, "rb") as fh:
        fh.seek(info.offset)
        for start in range(0, count, _BLOCK_ELEMENTS):
            block = buf[: min(_BLOCK_ELEMENTS, count - start)]
            if fh.readinto(block.data.cast("B")) != block.nbytes:
                raise ConversionError(f"{info.shard.name} ends inside tensor {info.name!r}; download it again.")
            values = (block.astype(np.uint32) << 16).view(np.float32) if info.dtype == "BF16" else block
            target = out[start : start + block.size]
            with np.errstate(over="ignore"):
                target[...] = values
            if out_dtype == np.float16 and not np.isfinite(target).all():
                raise ConversionError(
                    f"Tensor {info.name!r} has values beyond float16's range; convert with --outtype f32."
                )
    return out.reshape(info.shape)


@dataclass(frozen=True)
class Checkpoint:
    """A Hugging Face model folder: its config and where every tensor lies."""

    folder: Path
    config: dict
    tensors: tuple[TensorInfo, ...]

    @property
    def total_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    def stream(
        self, select: Callable[[str], bool], out_type: str, on_tensor: Callable[[TensorInfo], None] | None = None
    ) -> Iterator[tuple[str, np.ndarray]]:
        """Yield ``(hf_name, array)`` for the selected tensors, one loaded at a time.

        Matrices come as float16 for ``out_type == "f16"`` (halving the memory of
        the largest tensor); 1-D tensors always as float32, as the GGUF keeps them.
        ``on_tensor`` is called after each tensor has been consumed (progress).
        """
        for info in self.tensors:
            if not select(info.name):
                continue
            dtype = np.float16 if out_type == "f16" and len(info.shape) >= 2 else np.float32
            yield info.name, load_tensor(info, dtype)
            if on_tensor is not None:
                on_tensor(info)


def open_checkpoint(folder: str | Path) -> Checkpoint:
    """Read ``config.json`` and every shard's header; raise ``ConversionError`` if anything is missing.

    Sharded checkpoints are found through ``model.safetensors.index.json``; a shard it
    names that is absent, or a tensor it maps to a shard that lacks it, is reported.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConversionError(f"{folder} is not a folder; give the folder of a Hugging Face checkpoint.")
    config = read_json(folder / "config.json", "config.json")
    index_path = folder / "model.safetensors.index.json"
    if index_path.is_file():
        index = read_json(index_path, index_path.name)
        weight_map = index.get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ConversionError(f"{index_path.name} has no weight_map; download it again.")
        shard_names = sorted(set(weight_map.values()))
        missing = [s for s in shard_names if not (folder / s).is_file()]
        if missing:
            raise ConversionError(
                f"{len(missing)} of {len(shard_names)} shards are missing from {folder}, "
                f"e.g. {missing[0]}; download the checkpoint again (downloads resume)."
            )
    elif (folder / "model.safetensors").is_file():
        weight_map, shard_names = None, ["model.safetensors"]
    else:
        hint = (
            " It holds PyTorch .bin weights; only safetensors are read (no pickle is ever loaded)."
            if any(folder.glob("*.bin"))
            else ""
        )
        raise ConversionError(f"No model.safetensors or model.safetensors.index.json in {folder}.{hint}")
    tensors: list[TensorInfo] = []
    seen: dict[str, Path] = {}
    for shard in shard_names:
        for info in read_header(folder / shard):
            if info.name in seen:
                raise ConversionError(f"Tensor {info.name!r} is in both {seen[info.name].name} and {shard}.")
            seen[info.name] = info.shard
            tensors.append(info)
    if weight_map is not None:
        absent = [n for n, s in weight_map.items() if seen.get(n, Path()).name != s]
        if absent:
            raise ConversionError(
                f"{weight_map[absent[0]]} lacks tensor {absent[0]!r} that the index lists; "
                "the shard is damaged or from another revision: download it again."
            )
    return Checkpoint(folder, config, tuple(tensors))


def read_json(path: Path, what: str) -> dict:
    """A JSON object from ``path``, or ``ConversionError`` naming ``what`` is wrong."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConversionError(
            f"{what} is missing from {path.parent}; it is not a complete Hugging Face checkpoint."
        ) from exc
    except (OSError, ValueError) as exc:
        raise ConversionError(f"{path} cannot be read ({exc}); download it again.") from exc
    if not isinstance(value, dict):
        raise ConversionError(f"{path} is not a JSON object; download it again.")
    return value
