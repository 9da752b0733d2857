"""Memory estimates from GGUF headers, VRAM detection, and the automatic n_gpu_layers choice."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import gguf
import pytest

from models.gguf_info import read_layout
from models.gpu_layers import (
    ENV_VRAM,
    MIB,
    GpuPlan,
    MemoryEstimate,
    VramInfo,
    auto_gpu_layers,
    detect_vram,
    estimate_memory,
    plan_gpu_layers,
)

GIB = 1 << 30
# Roughly Qwen2-VL-7B Q4_K_M at an 8k context: 28 layers of ~150 MB, KV 14 MB per layer.
SEVEN_B = MemoryEstimate(
    layer_bytes=(150 * MIB,) * 28,
    kv_bytes_per_layer=14 * MIB,
    output_bytes=430 * MIB,
    input_bytes=300 * MIB,
    compute_bytes=500 * MIB,
    vision_bytes=1400 * MIB,
)


def test_estimate_from_the_tiny_models_headers(tiny_model):
    est = estimate_memory(tiny_model.text_path, tiny_model.mmproj_path, n_ctx=4096)
    reader = gguf.GGUFReader(tiny_model.text_path)
    sizes = {t.name: int(t.n_bytes) for t in reader.tensors}
    assert est.layer_bytes == tuple(sum(n for k, n in sizes.items() if k.startswith(f"blk.{i}.")) for i in range(2))
    assert est.kv_bytes_per_layer == 2 * 4096 * 2 * 16 * 2  # K and V, 2 kv heads of 16, f16
    assert est.output_bytes == sizes["output.weight"] + sizes["output_norm.weight"]
    assert est.input_bytes == sizes["token_embd.weight"]
    assert est.vision_bytes > tiny_model.mmproj_path.stat().st_size // 2 and est.compute_bytes > 0
    assert est.total == est.gpu_total + est.input_bytes


def test_layout_reads_every_tensor_size(tiny_model):
    layout = read_layout(tiny_model.text_path)
    reader = gguf.GGUFReader(tiny_model.text_path)
    assert layout.tensor_bytes == {t.name: int(t.n_bytes) for t in reader.tensors}
    assert (layout.n_layers, layout.n_heads, layout.n_kv_heads, layout.n_embd) == (2, 4, 2, 64)
    assert layout.n_vocab == len(reader.fields["tokenizer.ggml.tokens"].data)


@pytest.mark.parametrize(
    "free_gib, expected_layers, fits", [(80, -1, True), (24, -1, True), (4, 10, False), (1, 0, False)]
)
def test_layers_are_chosen_for_the_free_memory(free_gib, expected_layers, fits):
    plan = plan_gpu_layers(SEVEN_B, VramInfo(free_gib * GIB, free_gib * GIB, "test"), gpu_supported=True)
    assert (plan.n_gpu_layers, plan.fits_fully, plan.n_layers) == (expected_layers, fits, 28)
    if expected_layers > 0:
        used = expected_layers * (150 + 14) * MIB + 500 * MIB + 1400 * MIB
        margin = 512 * MIB
        assert used + margin <= free_gib * GIB < used + margin + 164 * MIB  # one more layer would not fit
        assert f"{expected_layers} of 28 layers" in plan.reason


def test_vision_moves_to_the_cpu_when_it_does_not_fit():
    plan = plan_gpu_layers(SEVEN_B, VramInfo(2 * GIB, 2 * GIB, "test"), gpu_supported=True)
    assert not plan.vision_on_gpu and plan.n_gpu_layers > 0


def test_the_users_choice_and_the_build_come_first():
    vram = VramInfo(80 * GIB, 80 * GIB, "test")
    assert plan_gpu_layers(SEVEN_B, vram, True, requested=10) == GpuPlan(10, 28, "set by you", False, True)
    cpu = plan_gpu_layers(SEVEN_B, vram, gpu_supported=False)
    assert (cpu.n_gpu_layers, cpu.vision_on_gpu) == (0, False) and "no GPU backend" in cpu.reason
    unknown = plan_gpu_layers(SEVEN_B, None, gpu_supported=True)
    assert unknown.n_gpu_layers == -1 and ENV_VRAM in unknown.reason


def test_env_override(monkeypatch):
    assert detect_vram({ENV_VRAM: "6144", "PATH": ""}) == VramInfo(6 * GIB, 6 * GIB, ENV_VRAM)
    assert detect_vram({ENV_VRAM: "lots", "PATH": ""}) in (None, detect_vram({"PATH": ""}))


def fake_nvidia_smi(folder: Path, output: str, code: int = 0) -> dict[str, str]:
    """A stand-in ``nvidia-smi`` on PATH (the GPU is the one thing a test machine lacks)."""
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}EOF\nexit {code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return {"PATH": str(folder)}


def test_nvidia_smi_is_read_and_gpus_add_up(tmp_path):
    env = fake_nvidia_smi(tmp_path, "80000, 81559, NVIDIA H100 80GB HBM3\n23000, 24564, NVIDIA RTX 4090\n")
    info = detect_vram(env)
    assert info == VramInfo(103000 * MIB, 106123 * MIB, "nvidia-smi", ("NVIDIA H100 80GB HBM3", "NVIDIA RTX 4090"))


@pytest.mark.skipif(os.uname().sysname == "Darwin", reason="macOS falls back to unified memory")
def test_a_failing_nvidia_smi_means_unknown(tmp_path):
    assert detect_vram(fake_nvidia_smi(tmp_path, "NVIDIA-SMI has failed\n", code=9)) is None
    assert detect_vram(fake_nvidia_smi(tmp_path, "garbage\n")) is None

    def hangs(*_a, **_k):
        raise subprocess.TimeoutExpired("nvidia-smi", 10)

    assert detect_vram(fake_nvidia_smi(tmp_path, ""), run=hangs) is None


def test_auto_plan_for_a_real_pair(tiny_model):
    cpu = auto_gpu_layers(tiny_model.text_path, tiny_model.mmproj_path, 2048, gpu_supported=False)
    assert cpu.n_gpu_layers == 0
    gpu = auto_gpu_layers(
        tiny_model.text_path, tiny_model.mmproj_path, 2048, gpu_supported=True, vram=VramInfo(8 * GIB, 8 * GIB, "test")
    )
    assert (gpu.n_gpu_layers, gpu.fits_fully, gpu.vision_on_gpu) == (-1, True, True)
    assert auto_gpu_layers(tiny_model.text_path, None, 2048, requested=1).n_gpu_layers == 1
