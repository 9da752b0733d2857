"""Run in a child process by test_vulkan.py: one model, the same chunks, on the CPU and on the GPU.

A child because ggml reads ``GGML_VK_VISIBLE_DEVICES`` once per process, when
its Vulkan backend first starts: the test process itself must keep seeing no
GPU (every other test runs on the CPU). Prints one JSON object on the last line:
the backends, the devices, and per device the device line, the greedy tokens of
every chunk and the logits before each chunk's first generated token.

    GGML_VK_VISIBLE_DEVICES=0 python -m tests.models.vulkan_parity_child MODEL MMPROJ SECONDS MAX_PIXELS
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from app.pipeline.chunking import LiveCCChunker
from app.pipeline.sampling import FrameSampler
from app.sources.file_source import FileSource
from app.sources.synthetic import write_test_video
from models.engine.devices import backends, gpu_devices
from models.engine.livecc_engine import EngineOptions, LiveCCEngine
from models.engine.llama_runtime import RuntimeOptions
from models.engine.token_sampler import SamplingOptions

N_NEW = 8


def run(model: str, mmproj: str, chunks, device: str) -> dict:
    opts = EngineOptions(
        runtime=RuntimeOptions(n_ctx=4096, n_threads=2, n_gpu_layers=-1, device=device),
        sampling=SamplingOptions(greedy=True),
        max_new_tokens=N_NEW,
    )
    out = {"tokens": [], "logits": []}
    with LiveCCEngine(model, mmproj, opts) as engine:
        out["device"] = engine.device.describe()
        pick = engine._sampler.pick
        picked: list[int] = []
        first_logits: list[np.ndarray] = []

        def recording_pick(logits, counts, n):
            if n == 0:
                first_logits.append(np.array(logits, dtype=np.float64))
            token = pick(logits, counts, n)
            picked.append(int(token))
            return token

        engine._sampler.pick = recording_pick
        for chunk in chunks:
            picked.clear()
            engine.process(chunk)
            out["tokens"].append(list(picked))
        out["logits"] = [lg.tolist() for lg in first_logits]
    return out


def main() -> None:
    model, mmproj, seconds, max_pixels = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_test_video(Path(tmp) / "clip.mp4", seconds=seconds, size=(320, 240))
        with FileSource(clip) as source:
            chunks = list(LiveCCChunker().chunks(FrameSampler(max_pixels=max_pixels).sample(source.frames())))
    result = {"backends": backends(), "devices": [d.name + " " + d.description for d in gpu_devices()]}
    if result["devices"]:
        result["cpu"] = run(model, mmproj, chunks, "cpu")
        result["gpu"] = run(model, mmproj, chunks, "auto")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
