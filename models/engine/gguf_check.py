"""Check a model + mmproj pair before llama.cpp sees it.

llama.cpp reports bad files tersely, and on some faults it aborts the whole
process. Reading the GGUF headers ourselves (with the ``gguf`` package) turns
the common mistakes into clear messages: a missing or truncated file, an mmproj
passed as the model, a text-only model, a projector made for another model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from models.engine.gguf_validate import (
    check_qwen2vl_mmproj,
    check_qwen2vl_text,
    check_tensor_data,
    field_value,
)
from models.errors import (
    CorruptModelError,
    MismatchedProjectorError,
    ModelError,
    ModelFileNotFoundError,
    ModelWithoutVisionError,
)

GGUF_MAGIC = b"GGUF"
#: Text architectures whose vision projector mtmd pairs with the LiveCC protocol.
SUPPORTED_ARCHITECTURES = ("qwen2vl",)


@dataclass(frozen=True)
class ModelPair:
    """Facts read from a checked model + mmproj pair."""

    text_path: Path
    mmproj_path: Path
    architecture: str
    n_layers: int
    n_embd: int
    projector_type: str
    name: str


def _open(path: Path, role: str):
    import gguf  # imported here: only needed when a model is loaded

    if not path.is_file():
        raise ModelFileNotFoundError(f"The {role} file was not found: {path}")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise CorruptModelError(f"{path} is not a GGUF file (wrong header); download or convert the {role} again.")
    try:
        reader = gguf.GGUFReader(path)
    except Exception as exc:  # the reader raises assorted errors on damaged files
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise CorruptModelError(
            f"{path} is damaged or truncated ({reason}); download or convert the {role} again."
        ) from exc
    check_tensor_data(reader, path, role)  # inside the file (not truncated), aligned, not overlapping
    return reader


def _count(reader, key: str, path: Path) -> int:
    """A whole-number key (0 if absent); a value of another type means a damaged file."""
    value = _value(reader, key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CorruptModelError(f"{path} is damaged ({key} is {value!r}); download or convert it again.")
    return value


def _value(reader, key: str, default=None):
    field = reader.fields.get(key)
    if field is None:
        return default
    return field_value(field)


def check_model_pair(text_path: str | os.PathLike, mmproj_path: str | os.PathLike) -> ModelPair:
    """Validate both files; raise a ``ModelError`` subclass saying what is wrong."""
    text_path, mmproj_path = Path(text_path), Path(mmproj_path)
    text = _open(text_path, "model")
    arch = _value(text, "general.architecture", "")
    if arch == "clip":
        raise ModelError(
            f"{text_path.name} is a vision projector (mmproj), not a language model; "
            "pass it with --mmproj and give the language model GGUF as --model."
        )
    if arch not in SUPPORTED_ARCHITECTURES:
        raise ModelWithoutVisionError(
            f"{text_path.name} is a '{arch}' model; LiveCC needs a Qwen2-VL model "
            "(architecture qwen2vl) such as LiveCC-7B-Instruct converted to GGUF."
        )
    check_qwen2vl_text(text, text_path, arch)
    n_layers = _count(text, f"{arch}.block_count", text_path)
    n_embd = _count(text, f"{arch}.embedding_length", text_path)

    proj = _open(mmproj_path, "mmproj")
    proj_arch = _value(proj, "general.architecture", "")
    if proj_arch != "clip":
        raise ModelError(
            f"{mmproj_path.name} is a '{proj_arch}' model, not a vision projector (mmproj); "
            "pass the mmproj GGUF published with the model."
        )
    if not _value(proj, "clip.has_vision_encoder", False):
        raise ModelWithoutVisionError(f"{mmproj_path.name} has no vision encoder; LiveCC needs one.")
    # Names, shapes and types of every tensor clip.cpp will use, against the file's own metadata.
    projector = check_qwen2vl_mmproj(proj, mmproj_path, n_embd)
    proj_dim = _count(proj, "clip.vision.projection_dim", mmproj_path)
    if proj_dim and n_embd and proj_dim != n_embd:
        raise MismatchedProjectorError(
            f"{mmproj_path.name} projects to {proj_dim} dimensions but {text_path.name} expects {n_embd}: "
            "the mmproj belongs to another model. Use the mmproj published with this model."
        )
    return ModelPair(
        text_path=text_path,
        mmproj_path=mmproj_path,
        architecture=arch,
        n_layers=n_layers,
        n_embd=n_embd,
        projector_type=projector,
        name=str(_value(text, "general.name", text_path.stem)),
    )
