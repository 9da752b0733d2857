"""How much memory a model pair + context needs, and how many layers to put on the GPU.

The estimate is built from the GGUF headers (every tensor's size per layer), the
attention shape (KV cache = 2 x n_ctx x kv_heads x head_dim x 2 bytes per layer,
f16), and allowances for llama.cpp's compute buffers and the vision tower (its
weights, and attention over the patches of one frame pair at ``max_pixels``).
The buffers are approximations, so the plan keeps a margin (512 MiB or 5 % of
the card, whichever is larger).

``plan_gpu_layers`` then offloads as llama.cpp does, from the last layer down:
everything (``-1``) when it all fits, else as many layers as fit, else none.
A user's ``--n-gpu-layers`` always wins. Free VRAM comes from
``LIVECC_DESK_VRAM_MB`` (an override, in MiB), else from the chosen GPU itself
as its llama.cpp backend reports it (Vulkan reads the driver's memory budget,
CUDA ``cudaMemGetInfo``: one device, whatever the vendor), else ``nvidia-smi``,
else, on Apple silicon, three quarters of unified memory (Metal's usual
working-set limit). When none of them knows, the plan offloads everything,
saying so: the GUI runs the engine in a child process, so an
out-of-memory abort cannot take the app down, and the user can lower the value.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from models.engine.defaults import MAX_PIXELS
from models.gguf_info import read_layout

if TYPE_CHECKING:
    from models.engine.devices import Device

ENV_VRAM = "LIVECC_DESK_VRAM_MB"
MIB = 1 << 20
_N_UBATCH = 512


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a model pair needs, split the way llama.cpp places them."""

    layer_bytes: tuple[int, ...]  # weights of each repeating layer
    kv_bytes_per_layer: int
    output_bytes: int  # output head + final norm (offloaded with "all layers")
    input_bytes: int  # token embeddings (llama.cpp keeps them in system RAM)
    compute_bytes: int  # llama.cpp's scratch buffers for a batch
    vision_bytes: int  # mmproj weights + its scratch for one frame pair

    @property
    def n_layers(self) -> int:
        return len(self.layer_bytes)

    @property
    def gpu_total(self) -> int:
        """Everything on the GPU: all layers, their KV cache, output, buffers, vision."""
        return (
            sum(self.layer_bytes)
            + self.kv_bytes_per_layer * self.n_layers
            + self.output_bytes
            + self.compute_bytes
            + self.vision_bytes
        )

    @property
    def total(self) -> int:
        """What the model needs in all (GPU + system RAM) when run on one device."""
        return self.gpu_total + self.input_bytes


@dataclass(frozen=True)
class VramInfo:
    free_bytes: int
    total_bytes: int
    source: str  # where the numbers came from, for the user
    devices: tuple[str, ...] = ()


@dataclass(frozen=True)
class GpuPlan:
    """How to run: ``n_gpu_layers`` for ``RuntimeOptions`` (-1 all, 0 none) and why."""

    n_gpu_layers: int
    n_layers: int
    reason: str
    fits_fully: bool
    vision_on_gpu: bool


def estimate_memory(
    text_path: str | os.PathLike, mmproj_path: str | os.PathLike | None, n_ctx: int, max_pixels: int = MAX_PIXELS
) -> MemoryEstimate:
    """Estimate a pair's memory from its GGUF headers (raises ``ValueError`` for a damaged file)."""
    text = read_layout(text_path)
    layers = tuple(text.layer_bytes(i) for i in range(text.n_layers))
    head_dim = text.n_embd // max(1, text.n_heads)
    kv = 2 * n_ctx * text.n_kv_heads * head_dim * 2
    output = text.tensor_bytes.get("output.weight", text.tensor_bytes.get("token_embd.weight", 0))
    output += text.tensor_bytes.get("output_norm.weight", 0)
    compute = _N_UBATCH * 4 * (text.n_vocab + 16 * text.n_embd + text.n_heads * min(n_ctx, 4096))
    vision = 0
    if mmproj_path is not None:
        proj = read_layout(mmproj_path)
        patches = 2 * 4 * max_pixels // (28 * 28)  # 14x14 patches of a frame pair
        vision = proj.total_bytes + 4 * patches * (patches * max(1, proj.n_heads) + 32 * proj.n_embd)
    return MemoryEstimate(layers, kv, output, text.tensor_bytes.get("token_embd.weight", 0), compute, vision)


def detect_vram(
    env: Mapping[str, str] | None = None,
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
    device: Device | None = None,
) -> VramInfo | None:
    """Free and total GPU memory, best effort; ``None`` when it cannot be known.

    ``device``: the GPU the model will run on (``models.engine.devices.Device``:
    ``free_bytes``, ``total_bytes``, ``description``, ``backend``); its own
    report beats ``nvidia-smi``, which adds up every NVIDIA card.
    """
    env = os.environ if env is None else env
    override = env.get(ENV_VRAM, "").strip()
    if override:
        try:
            mib = int(float(override))
        except ValueError:
            mib = -1
        if mib >= 0:
            return VramInfo(mib * MIB, mib * MIB, ENV_VRAM)
    if device is not None and device.total_bytes > 0:
        return VramInfo(
            int(device.free_bytes), int(device.total_bytes), f"{device.backend} device", (str(device.description),)
        )
    smi = shutil.which("nvidia-smi", path=env.get("PATH"))
    if smi:
        info = _nvidia_smi(smi, run)
        if info is not None:
            return info
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        try:
            out = run(["sysctl", "-n", "hw.memsize"], capture_output=True, text=True, timeout=5)
            total = int(out.stdout.strip())
            return VramInfo(total * 3 // 4, total, "unified memory (Metal working set, ~3/4 of RAM)")
        except (OSError, ValueError, subprocess.SubprocessError):
            return None
    return None


def _nvidia_smi(smi: str, run: Callable[..., subprocess.CompletedProcess]) -> VramInfo | None:
    try:
        out = run(
            [smi, "--query-gpu=memory.free,memory.total,name", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    free = total = 0
    names = []
    for line in out.stdout.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        try:
            free += int(float(parts[0])) * MIB
            total += int(float(parts[1])) * MIB
        except (ValueError, IndexError):
            continue
        names.append(parts[2] if len(parts) > 2 else "NVIDIA GPU")
    # llama.cpp splits layers over every visible GPU, so their memory adds up.
    return VramInfo(free, total, "nvidia-smi", tuple(names)) if names else None


def plan_gpu_layers(
    estimate: MemoryEstimate, vram: VramInfo | None, gpu_supported: bool, requested: int | None = None
) -> GpuPlan:
    """Choose ``n_gpu_layers``; see the module docstring for the rule."""
    n = estimate.n_layers
    if requested is not None:
        full = requested < 0 or requested > n
        return GpuPlan(requested, n, "set by you", full and gpu_supported, gpu_supported and requested != 0)
    if not gpu_supported:
        return GpuPlan(0, n, "CPU only: this llama-cpp-python build has no GPU backend", False, False)
    if vram is None:
        return GpuPlan(
            -1,
            n,
            f"GPU memory unknown: offloading all layers (lower --n-gpu-layers if it runs out; or set {ENV_VRAM})",
            True,
            True,
        )
    margin = max(512 * MIB, vram.total_bytes // 20)
    budget = vram.free_bytes - margin
    vision_on_gpu = budget >= estimate.vision_bytes + estimate.compute_bytes
    if vision_on_gpu:
        budget -= estimate.vision_bytes
    budget -= estimate.compute_bytes
    layers_needed = sum(estimate.layer_bytes) + estimate.kv_bytes_per_layer * n + estimate.output_bytes
    free_text = f"{vram.free_bytes / 2**30:.1f} GiB free ({vram.source})"
    if budget >= layers_needed:
        return GpuPlan(-1, n, f"all {n} layers fit in {free_text}", True, vision_on_gpu)
    fit = 0
    for size in reversed(estimate.layer_bytes):  # llama.cpp offloads the last layers first
        cost = size + estimate.kv_bytes_per_layer
        if budget < cost:
            break
        budget -= cost
        fit += 1
    if fit == 0:
        return GpuPlan(0, n, f"not even one layer fits in {free_text}: running on the CPU", False, False)
    return GpuPlan(fit, n, f"{fit} of {n} layers fit in {free_text}; the rest run on the CPU", False, vision_on_gpu)


def backend_supports_gpu() -> bool:
    """Whether this llama-cpp-python build can offload (CUDA, Metal, Vulkan...); no model needed."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def auto_gpu_layers(
    text_path: str | Path,
    mmproj_path: str | Path | None,
    n_ctx: int,
    requested: int | None = None,
    *,
    max_pixels: int = MAX_PIXELS,
    gpu_supported: bool | None = None,
    vram: VramInfo | None = None,
) -> GpuPlan:
    """The plan for a pair on this machine: estimate, detect VRAM, choose."""
    estimate = estimate_memory(text_path, mmproj_path, n_ctx, max_pixels)
    supported = backend_supports_gpu() if gpu_supported is None else gpu_supported
    if vram is None and supported and requested is None:
        vram = detect_vram()
    return plan_gpu_layers(estimate, vram, supported, requested)
