"""Regressions from the fault drill (issue 12): damaged model files and configs get one clear line.

Each case here once crashed llama.cpp, printed a traceback, passed ``models verify
--load``, or grew memory without end. Files are damaged the way the drill found
them (a flipped byte, NaN weights, a lying header), then checked the way a user
meets them: ``check_model_pair`` before llama.cpp, the CLI in a child process (a
crash there fails the test instead of killing pytest), ``models verify --load``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import gguf
import numpy as np
import pytest

from app.sources.synthetic import write_test_video
from models.convert import convert_checkpoint
from models.engine.gguf_check import check_model_pair
from models.engine.token_sampler import SamplingOptions, TokenSampler
from models.errors import ConversionError, CorruptModelError, ModelError
from models.verify import verify_pair
from tests.models.tiny_hf import tiny_config_json, write_tiny_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def copy_pair(tiny_model, folder: Path) -> tuple[Path, Path]:
    text, mmproj = folder / "model.gguf", folder / "mmproj.gguf"
    shutil.copy(tiny_model.text_path, text)
    shutil.copy(tiny_model.mmproj_path, mmproj)
    return text, mmproj


def replace_bytes(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert data.count(old) == 1 and len(old) == len(new)
    path.write_bytes(data.replace(old, new))


def fill_tensor(path: Path, name: str, value: float) -> None:
    reader = gguf.GGUFReader(path, "r+")
    tensor = next(t for t in reader.tensors if t.name == name)
    tensor.data[...] = value
    reader.data.flush()


def set_key_type(path: Path, key: str, vtype: int) -> None:
    reader = gguf.GGUFReader(path, "r+")
    field = reader.fields[key]
    field.parts[2][0] = vtype  # parts: key length, key, value type, value...
    reader.data.flush()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_test_video(tmp_path_factory.mktemp("checks") / "clip.mp4", seconds=3.5, fps=4.0, size=(112, 84))


def commentate(video: Path, text: Path, mmproj: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "commentate",
            str(video),
            "--model",
            str(text),
            "--mmproj",
            str(mmproj),
            "--greedy",
            "--max-new-tokens",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )


def error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


# ------------------------------------------------------------------ the mmproj
def test_a_renamed_vision_tensor_is_refused_before_llama_cpp(tiny_model, clip, tmp_path):
    """The drill's segfault: one flipped byte renamed v.blk.1.attn_q.weight."""
    text, mmproj = copy_pair(tiny_model, tmp_path)
    replace_bytes(mmproj, b"v.blk.1.attn_q.weight", b"v.blk.1.attn_a.weight")
    with pytest.raises(CorruptModelError, match=r"mmproj\.gguf.*'v\.blk\.1\.attn_q\.weight'"):
        check_model_pair(text, mmproj)
    line = error_line(commentate(clip, text, mmproj))
    assert "v.blk.1.attn_q.weight" in line and "mmproj" in line


@pytest.mark.parametrize(
    "damage, message",
    [
        # clip.cpp asserts on the value type of the keys it reads: an abort, not an error
        (lambda p: set_key_type(p, "clip.vision.block_count", int(gguf.GGUFValueType.INT32)), "block_count"),
        (
            lambda p: set_key_type(p, "clip.vision.attention.layer_norm_epsilon", int(gguf.GGUFValueType.UINT32)),
            "layer_norm_epsilon",
        ),
        # a block count the tensors do not have
        (lambda p: _set_u32(p, "clip.vision.block_count", 3), "v.blk.2"),
        # a width that does not split into rotary sections of heads
        (lambda p: _set_u32(p, "clip.vision.attention.head_count", 3), "heads"),
        # a shape that does not follow from the metadata
        (lambda p: _set_dim(p, "v.blk.0.attn_k.weight", 1, 32), "v.blk.0.attn_k.weight"),
        # an extra tensor clip.cpp would pick up (a patch bias makes the Qwen2-VL graph assert)
        (lambda p: replace_bytes(p, b"v.post_ln.bias", b"v.patch_embd.b"), "unexpected tensor"),
        # a tensor type llama.cpp cannot use for a norm
        (lambda p: _set_type(p, "v.blk.0.ln1.weight", int(gguf.GGMLQuantizationType.F16)), "ln1.weight"),
        # a tensor type that does not exist
        (lambda p: _set_type(p, "v.blk.0.ln1.weight", 99), "damaged"),
        # a tensor whose data lies in another's
        (lambda p: _set_offset(p, "v.blk.0.ln1.bias", "v.blk.0.ln1.weight"), "overlap"),
    ],
)
def test_a_damaged_mmproj_header_is_one_clear_error(tiny_model, tmp_path, damage, message):
    text, mmproj = copy_pair(tiny_model, tmp_path)
    damage(mmproj)
    with pytest.raises(CorruptModelError, match=message) as info:
        check_model_pair(text, mmproj)
    assert "mmproj.gguf" in str(info.value) and "\n" not in str(info.value)


def _set_u32(path: Path, key: str, value: int) -> None:
    reader = gguf.GGUFReader(path, "r+")
    reader.fields[key].parts[-1][0] = value
    reader.data.flush()


def _set_dim(path: Path, name: str, axis: int, value: int) -> None:
    reader = gguf.GGUFReader(path, "r+")
    field = next(t for t in reader.tensors if t.name == name).field
    field.parts[3][axis] = value  # parts: name length, name, n_dims, dims, type, offset
    reader.data.flush()


def _set_type(path: Path, name: str, ggml_type: int) -> None:
    reader = gguf.GGUFReader(path, "r+")
    next(t for t in reader.tensors if t.name == name).field.parts[4][0] = ggml_type
    reader.data.flush()


def _set_offset(path: Path, name: str, like: str) -> None:
    reader = gguf.GGUFReader(path, "r+")
    fields = {t.name: t.field for t in reader.tensors}
    fields[name].parts[5][0] = fields[like].parts[5][0]
    reader.data.flush()


def test_a_projector_of_another_family_is_named(tiny_model, tmp_path):
    text, mmproj = copy_pair(tiny_model, tmp_path)
    replace_bytes(mmproj, b"qwen2vl_merger", b"qwen2vl_merged")
    with pytest.raises(ModelError, match="qwen2vl_merged.*Qwen2-VL"):
        check_model_pair(text, mmproj)


def test_a_nan_mmproj_stops_with_an_engine_error_and_fails_verify(tiny_model, clip, tmp_path):
    """The drill's IndexError in the sampler, and `models verify --load` saying [ok]."""
    text, mmproj = copy_pair(tiny_model, tmp_path)
    fill_tensor(mmproj, "mm.2.weight", np.nan)
    check_model_pair(text, mmproj)  # the header is fine: only running it shows the damage
    line = error_line(commentate(clip, text, mmproj))
    assert "invalid numbers" in line and "models verify" in line
    report = verify_pair("tiny", text, mmproj, load=True)
    load = report.checks[-1]
    assert not report.ok and not load.ok and "invalid numbers" in load.detail


def test_infinite_text_weights_stop_with_an_engine_error(tiny_model, clip, tmp_path):
    text, mmproj = copy_pair(tiny_model, tmp_path)
    fill_tensor(text, "output_norm.weight", np.inf)
    line = error_line(commentate(clip, text, mmproj))
    assert "invalid numbers" in line and "logits" in line
    assert not verify_pair("tiny", text, mmproj, load=True).ok


def test_verify_load_passes_a_whole_pair(tiny_model):
    report = verify_pair("tiny", tiny_model.text_path, tiny_model.mmproj_path, load=True)
    assert report.ok and "finite" in report.checks[-1].detail


# ------------------------------------------------------------------ the text model
def test_truncated_text_tensor_data_is_reported(tiny_model, tmp_path):
    text, mmproj = copy_pair(tiny_model, tmp_path)
    with open(text, "r+b") as fh:
        fh.truncate(text.stat().st_size - 100)
    with pytest.raises(CorruptModelError, match="truncated"):
        check_model_pair(text, mmproj)


def test_a_duplicated_vocabulary_entry_is_refused(tiny_model, tmp_path):
    """The drill's abort in llama-vocab.cpp (id_to_token.size() == token_to_id.size())."""
    text, mmproj = copy_pair(tiny_model, tmp_path)
    reader = gguf.GGUFReader(text)
    tokens = reader.fields["tokenizer.ggml.tokens"]
    words = [bytes(tokens.parts[i]) for i in tokens.data]
    a, b = next((x, y) for x, y in zip(words, words[1:]) if len(x) == len(y) > 3 and x != y)
    data = bytearray(text.read_bytes())
    at = data.index(len(b).to_bytes(8, "little") + b, data.index(len(a).to_bytes(8, "little") + a) + 1)
    data[at + 8 : at + 8 + len(b)] = a
    text.write_bytes(bytes(data))
    with pytest.raises(CorruptModelError, match="vocabulary"):
        check_model_pair(text, mmproj)


def test_non_utf8_text_in_the_model_header_is_not_a_traceback(tiny_model, clip, tmp_path):
    """The drill's UnicodeDecodeError from the GPU memory estimate (a damaged chat template)."""
    text, mmproj = copy_pair(tiny_model, tmp_path)
    reader = gguf.GGUFReader(text, "r+")
    reader.fields["tokenizer.chat_template"].parts[-1][5] = 0xB5
    reader.data.flush()
    result = commentate(clip, text, mmproj)
    assert result.returncode in (0, 2) and "Traceback" not in result.stderr, result.stderr


def test_bad_m_rope_sections_are_refused(tiny_model, tmp_path):
    text, mmproj = copy_pair(tiny_model, tmp_path)
    reader = gguf.GGUFReader(text, "r+")
    field = reader.fields["qwen2vl.rope.dimension_sections"]
    field.parts[field.data[0]][0] = 200
    reader.data.flush()
    with pytest.raises(CorruptModelError, match="M-RoPE"):
        check_model_pair(text, mmproj)


# ------------------------------------------------------------------ the sampler
def test_the_sampler_never_indexes_an_empty_choice():
    logits = np.array([0.5, 3.0, 1.0, -2.0], dtype=np.float32)
    # a temperature so low that the scores overflow: the greedy token, not an exception
    assert TokenSampler(SamplingOptions(temperature=1e-42), None).pick(logits, Counter(), 0) == 1
    nan = np.array([np.nan, 3.0, 1.0, np.nan], dtype=np.float32)
    assert TokenSampler(SamplingOptions(), None).pick(nan, Counter(), 0) == 1


# ------------------------------------------------------------------ the converter
@pytest.mark.parametrize(
    "where, key, value",
    [
        ("", "num_hidden_layers", 10**12),  # the drill's 85 MB/s memory growth
        ("", "hidden_size", 10**9),
        ("", "vocab_size", 10**12),
        ("", "intermediate_size", -1),
        ("", "num_attention_heads", 2.5),
        ("", "num_key_value_heads", "2"),
        ("", "num_hidden_layers", True),
        ("vision_config", "depth", 10**12),
        ("vision_config", "embed_dim", 0),
        ("vision_config", "mlp_ratio", 1e30),
    ],
)
def test_absurd_config_shapes_are_refused_before_any_allocation(tmp_path, where, key, value):
    config = tiny_config_json()
    (config[where] if where else config)[key] = value
    folder = write_tiny_checkpoint(tmp_path / "ckpt", config=config)
    with pytest.raises(ConversionError, match=key):
        convert_checkpoint(folder, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_nested_text_config_is_checked_too(tmp_path):
    config = tiny_config_json()
    config["text_config"] = {"num_hidden_layers": 10**12}
    folder = write_tiny_checkpoint(tmp_path / "ckpt", config=config)
    with pytest.raises(ConversionError, match="num_hidden_layers"):
        convert_checkpoint(folder, tmp_path / "out")
    json.dumps(config)  # still a valid config file: only the value is absurd
