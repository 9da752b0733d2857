"""The GPU path, proven without a GPU: the model fully offloaded to a Vulkan device, against the CPU.

On machines without a GPU, Mesa's lavapipe ("llvmpipe") is a software Vulkan
device; ggml uses it when ``GGML_VK_VISIBLE_DEVICES`` names it. The comparison
runs in a child process (``vulkan_parity_child``) so that this test process,
where every other test runs, keeps seeing no GPU.

Skips, saying why, when this llama-cpp-python has no Vulkan backend (``make
setup GPU=cpu``) or no Vulkan device exists (``mesa-vulkan-drivers`` missing);
under CI (``CI`` set) those are failures: CI installs both (``make setup``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
SECONDS = 6.0  # chunks of 6, 2, 2, 2 frames: the opening chunk and three 1-s chunks
MAX_PIXELS = 384 * 28 * 28  # LiveCC's default: ~1,150 vision tokens in the opening chunk


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI must have it: make setup builds llama.cpp with Vulkan and installs lavapipe)")
    pytest.skip(why)


def run_child(model) -> dict:
    env = dict(os.environ, GGML_VK_VISIBLE_DEVICES="0")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.models.engine.vulkan_parity_child",
            str(model.text_path),
            str(model.mmproj_path),
            str(SECONDS),
            str(MAX_PIXELS),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"the child failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if "Vulkan" not in result["backends"]:
        _unavailable(
            f"this llama-cpp-python has no Vulkan backend ({', '.join(result['backends'])}); "
            "make setup GPU=vulkan builds one"
        )
    if not result["devices"]:
        _unavailable("no Vulkan device (install mesa-vulkan-drivers for the software one, lavapipe)")
    return result


# Logit tolerance, absolute. Measured on lavapipe (tiny model, 384*28*28 frames, 4 chunks):
# logits up to ~4 in magnitude differ from the CPU's by at most 0.025 (the device computes the
# same products in another order, with f16 intermediates where the CPU keeps f32), while a
# wrong layer, position or vision embedding moves them by whole units. 0.1 leaves 4x room for
# other drivers' rounding and still catches those. Greedy tokens must match too: they did.
TOLERANCE = 0.1


def compare(result: dict) -> None:
    cpu, gpu = result["cpu"], result["gpu"]
    assert cpu["device"].startswith("CPU — ") and gpu["device"].startswith("GPU (Vulkan): "), (
        cpu["device"],
        gpu["device"],
    )
    assert len(cpu["tokens"]) == len(gpu["tokens"]) >= 4
    for i, (a, b) in enumerate(zip(cpu["logits"], gpu["logits"], strict=True)):
        a, b = np.asarray(a), np.asarray(b)
        diff = float(np.max(np.abs(a - b)))
        assert diff <= TOLERANCE, f"chunk {i}: next-token logits differ by up to {diff:.4f} (> {TOLERANCE})"
    assert gpu["tokens"] == cpu["tokens"], "greedy tokens differ between the CPU and the GPU"


def test_tiny_model_fully_offloaded_to_vulkan_matches_the_cpu(tiny_model):
    result = run_child(tiny_model)
    gpu = result["gpu"]["device"]
    assert "3/3 layers, vision on GPU" in gpu, gpu  # 2 layers + output: everything on the device
    compare(result)
