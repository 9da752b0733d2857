"""Which device runs the model: the GPUs llama.cpp's backends see, and the user's choice.

Why this exists: the bundle carries llama.cpp's Vulkan backend (one build for
NVIDIA, AMD and Intel GPUs, nothing to install but the graphics driver) next to
the CPU backend. Which of them runs a model is decided here, once, from what
ggml's backend registry reports, so the engine, the self-test, the CLI and the
settings all agree, and the user always gets one line saying where the model
runs and, when it is the CPU, why.

The registry is read through ggml's C API (``ggml_backend_dev_*``) in the
``libggml`` that llama-cpp-python already loaded. Nothing here starts a model.
Vulkan initialisation failures (no loader, no driver, a broken driver) are
caught inside ggml and leave the backend without devices; the CPU remains.

ggml's Vulkan backend lists discrete and integrated GPUs only. Software
devices (Mesa's lavapipe, "llvmpipe") are slower than ggml's own CPU code and
are used only when ``GGML_VK_VISIBLE_DEVICES`` names them, which the tests do
to run the GPU path on machines without a GPU. That variable must be set before
the first call into the registry, because ggml reads it once per process.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence
from dataclasses import dataclass

ENV_VK_VISIBLE = "GGML_VK_VISIBLE_DEVICES"
ENV_VK_DISABLE_ASYNC = "GGML_VK_DISABLE_ASYNC"

# Set on import, before ggml's Vulkan backend starts (it reads this once, when it starts): run
# each graph to the end before returning. Mesa's lavapipe (22.3) crashes (SIGSEGV in its queue
# thread) when the text model's asynchronous graphs overlap the vision encoder's work on the same
# device, and the engine gains nothing from the overlap: it reads logits, a synchronisation, after
# every decode except the vision patches'. A user's own setting wins.
os.environ.setdefault(ENV_VK_DISABLE_ASYNC, "1")
AUTO = "auto"
CPU = "cpu"

# enum ggml_backend_dev_type (ggml-backend.h)
_TYPE_CPU, _TYPE_GPU, _TYPE_IGPU = 0, 1, 2
_KIND = {_TYPE_GPU: "GPU", _TYPE_IGPU: "integrated GPU"}


@dataclass(frozen=True)
class Device:
    """One GPU as ggml sees it.

    ``name`` is ggml's id ("Vulkan0", "CUDA0", "MTL0"): what settings store and the
    CLI takes. ``description`` is what the user knows it as ("NVIDIA GeForce RTX
    4070", "llvmpipe (LLVM 15.0.6, 256 bits)"). ``handle`` is the process-local
    ``ggml_backend_dev_t`` that llama.cpp and mtmd are given.
    """

    name: str
    description: str
    backend: str
    kind: str
    free_bytes: int
    total_bytes: int
    handle: int = 0

    @property
    def software(self) -> bool:
        """A CPU pretending to be a GPU (Mesa's lavapipe, SwiftShader): for tests, never chosen by default."""
        text = self.description.lower()
        return any(name in text for name in ("llvmpipe", "lavapipe", "swiftshader"))

    @property
    def label(self) -> str:
        """For menus and logs: "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan0, 8.0 GiB free)"."""
        free = f", {self.free_bytes / 2**30:.1f} GiB free" if self.total_bytes else ""
        return f"{self.description} ({self.name}{free})"


@dataclass(frozen=True)
class DeviceChoice:
    """The device a model will run on (``None``: the CPU) and, for the CPU, why."""

    device: Device | None
    reason: str = ""

    def describe(self) -> str:
        if self.device is None:
            return f"CPU — {self.reason}" if self.reason else "CPU"
        return f"GPU ({self.device.backend}): {self.device.description}"


class DeviceSettingError(ValueError):
    """A device setting that is neither auto, cpu, a device name nor a GPU number."""


def _ggml() -> ctypes.CDLL:
    """llama-cpp-python's libggml, with the registry functions given their C signatures."""
    from llama_cpp import _ggml as ggml_module

    lib = ggml_module.libggml
    if not getattr(lib, "_livecc_devices_bound", False):
        vp, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
        for name, args, res in (
            ("ggml_backend_reg_count", [], sz),
            ("ggml_backend_reg_get", [sz], vp),
            ("ggml_backend_reg_name", [vp], cp),
            ("ggml_backend_dev_count", [], sz),
            ("ggml_backend_dev_get", [sz], vp),
            ("ggml_backend_dev_name", [vp], cp),
            ("ggml_backend_dev_description", [vp], cp),
            ("ggml_backend_dev_type", [vp], ctypes.c_int),
            ("ggml_backend_dev_backend_reg", [vp], vp),
            ("ggml_backend_dev_memory", [vp, ctypes.POINTER(sz), ctypes.POINTER(sz)], None),
        ):
            fn = getattr(lib, name)
            fn.argtypes, fn.restype = args, res
        lib._livecc_devices_bound = True
    return lib


def _text(raw: bytes | None) -> str:
    return (raw or b"").decode("utf-8", "replace").strip()


def backends() -> list[str]:
    """Names of the backends built into this llama.cpp ("Vulkan", "CPU", ...), registry order."""
    lib = _ggml()
    return [_text(lib.ggml_backend_reg_name(lib.ggml_backend_reg_get(i))) for i in range(lib.ggml_backend_reg_count())]


def gpu_devices() -> list[Device]:
    """Every GPU (discrete or integrated) a backend of this build can use right now."""
    lib = _ggml()
    out = []
    for i in range(lib.ggml_backend_dev_count()):
        dev = lib.ggml_backend_dev_get(i)
        kind = _KIND.get(lib.ggml_backend_dev_type(dev))
        if kind is None:  # the CPU itself, or an accelerator that works beside it (BLAS, AMX)
            continue
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        lib.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
        backend = _text(lib.ggml_backend_reg_name(lib.ggml_backend_dev_backend_reg(dev)))
        name = _text(lib.ggml_backend_dev_name(dev))
        out.append(
            Device(
                name,
                _text(lib.ggml_backend_dev_description(dev)) or name,
                backend,
                kind,
                int(free.value),
                int(total.value),
                int(dev),
            )
        )
    return out


def normalize_setting(text: str | None) -> str:
    """``auto``, ``cpu``, a device name as ggml spells it ("Vulkan1") or a GPU number ("1").

    Raises ``DeviceSettingError`` (one line for the user) for anything else.
    """
    value = (text or AUTO).strip()
    low = value.lower()
    if low in (AUTO, CPU, ""):
        return low or AUTO
    if low.isdigit() or (value[:1].isalpha() and value[-1:].isdigit() and value.isalnum()):
        return value
    raise DeviceSettingError(
        f"unknown device {text!r}: use auto, cpu, a GPU number (0, 1, ...) or a name such as "
        "Vulkan0 (livecc-desk --self-test lists them)"
    )


def choose_device(
    setting: str | None = AUTO, devices: Sequence[Device] | None = None, backend_names: Sequence[str] | None = None
) -> DeviceChoice:
    """Where a model runs for ``setting`` (see ``normalize_setting``), with the reason for the CPU.

    ``auto`` takes the first GPU ggml lists (it lists discrete GPUs before
    integrated ones, as the vendors' drivers order them). A named GPU that is
    not present (unplugged, driver gone) falls back to ``auto`` and says so:
    the app must start whatever the hardware does.
    """
    setting = normalize_setting(setting)
    if setting == CPU:
        return DeviceChoice(None, "chosen in the settings (device: cpu)")
    names = list(backends()) if backend_names is None else list(backend_names)
    gpu_backends = [b for b in names if b.upper() not in ("CPU", "BLAS", "RPC")]
    if not gpu_backends:
        if backend_names is None and _vulkan_library_present():  # built in, but it did not start
            return DeviceChoice(
                None, "Vulkan did not start: no Vulkan driver found (install or update the graphics driver)"
            )
        return DeviceChoice(None, "this build of llama.cpp has no GPU backend")
    found = gpu_devices() if devices is None else list(devices)
    if not found:
        return DeviceChoice(None, _no_gpu_reason(gpu_backends))
    if setting == AUTO:
        return DeviceChoice(found[0])
    wanted = [d for i, d in enumerate(found) if setting == str(i) or setting.lower() == d.name.lower()]
    if wanted:
        return DeviceChoice(wanted[0])
    return DeviceChoice(found[0], f"the chosen device {setting!r} is not present; using {found[0].name}")


def _no_gpu_reason(gpu_backends: Sequence[str]) -> str:
    which = "/".join(gpu_backends)
    if "Vulkan" in gpu_backends and not _vulkan_loader_present():
        return f"no Vulkan driver is installed ({which}: install or update the graphics driver)"
    hint = (
        " (software devices such as llvmpipe are used only when GGML_VK_VISIBLE_DEVICES names them)"
        if "Vulkan" in gpu_backends and os.environ.get(ENV_VK_VISIBLE) is None
        else ""
    )
    return f"no GPU found by {which}: install or update the graphics driver{hint}"


def _vulkan_library_present() -> bool:
    """Whether llama-cpp-python ships ggml's Vulkan backend (it leaves the registry when Vulkan cannot start)."""
    from pathlib import Path

    import llama_cpp

    lib = Path(llama_cpp.__file__).parent / "lib"
    return any(lib.glob("libggml-vulkan*")) or any(lib.glob("ggml-vulkan*"))


def _vulkan_loader_present() -> bool:
    import ctypes.util

    names = ("vulkan-1",) if os.name == "nt" else ("vulkan", "MoltenVK")
    return any(ctypes.util.find_library(n) for n in names) or _loaded("libvulkan")


def _loaded(prefix: str) -> bool:
    """Whether a library starting with ``prefix`` is mapped into this process (Linux)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            return any(f"/{prefix}" in line for line in maps)
    except OSError:
        return False
