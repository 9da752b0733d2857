"""The GPUs llama.cpp can use, asked in a child process, for the settings' device list.

Why a child: listing GPUs initialises llama.cpp's GPU backends (a Vulkan
instance, the driver's shader compiler...). The GUI never loads llama.cpp
itself (the engine runs in its own process, see ``app.engine_process``), so a
faulty driver that aborts during that initialisation must not take the window
with it. The child uses multiprocessing's ``spawn``, which works in the frozen
bundle too (``multiprocessing.freeze_support`` in ``app.cli.main``).
"""

from __future__ import annotations

import multiprocessing
import queue

_cache: list[tuple[str, str]] | None = None


def _probe(out) -> None:
    try:
        from models.engine.devices import gpu_devices

        out.put([(d.name, f"{d.description} ({d.backend})") for d in gpu_devices()])
    except Exception:  # no llama.cpp, no backend: no GPU to offer
        out.put([])


def probe_gpus(timeout_s: float = 30.0) -> list[tuple[str, str]]:
    """(ggml name, label) of each GPU; ``[]`` when none, or when the probe failed or hung.

    The answer is kept for the rest of the session (GPUs do not come and go).
    """
    global _cache
    if _cache is not None:
        return list(_cache)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_probe, args=(out,), daemon=True, name="livecc-gpu-probe")
    child.start()
    try:
        found = out.get(timeout=timeout_s)
    except queue.Empty:  # the child died (a driver abort) or hangs: treat as no GPU
        found = []
    child.join(1.0)
    if child.is_alive():
        child.kill()
    _cache = list(found)
    return list(_cache)
