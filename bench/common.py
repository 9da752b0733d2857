"""Helpers shared by the benchmarks: generated streams, robust statistics, memory.

Benchmarks run on a shared 2-core machine where other jobs come and go, so
every figure that matters is a ratio of two things measured side by side in
one run (interleaved chunk by chunk), reported with its spread over repeats.
"""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.pipeline.chunking import LiveCCChunker  # noqa: E402
from app.pipeline.sampling import smart_resize  # noqa: E402
from app.sources.synthetic import draw_frame  # noqa: E402
from models.engine.records import Frame, VideoChunk  # noqa: E402
from models.tiny_model import TinyModel, make_tiny_model  # noqa: E402

CACHE = Path(os.environ.get("LIVECC_BENCH_CACHE", Path.home() / ".cache" / "livecc-desk-bench"))


def tiny_model() -> TinyModel:
    """The tiny test model, built once and reused across benchmark runs."""
    return make_tiny_model(CACHE / "tiny")


def model_size(source: str) -> tuple[int, int]:
    """``(height, width)`` a ``WxH`` source is resized to for the model (384·28·28 pixels at most)."""
    w, h = (int(v) for v in source.lower().split("x"))
    return smart_resize(h, w)


def generated_chunks(seconds: float, source: str = "1920x1080", first_frames: int = 6) -> Iterator[VideoChunk]:
    """LiveCC chunks of a generated stream (moving shapes), frames drawn at 2 fps.

    Frames are drawn directly at the size the sampler would resize a ``source``
    frame to, so the benchmark spends its time in the engine, not in resizing.
    ``first_frames``: frames of the opening chunk (LiveCC: 6).
    """
    h, w = model_size(source)
    chunker = LiveCCChunker(first_frames=first_frames)
    for k in range(int(round(seconds * 2))):
        t = k / 2
        chunk = chunker.push(Frame(t, cv2.cvtColor(draw_frame(t, (w, h)), cv2.COLOR_BGR2RGB)))
        if chunk is not None:
            yield chunk
    tail = chunker.flush()
    if tail is not None:
        yield tail


def llama_server_binary() -> Path:
    """The llama-server the remote benches start (``make server`` builds it), or exit saying so."""
    from models.engine.llama_server import find_llama_server

    binary = find_llama_server()
    if binary is None:
        sys.exit("llama-server is not built: run `make server` first")
    return binary


def rss_mib() -> float:
    """Resident memory of this process in MiB (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def spread(values: Sequence[float]) -> str:
    """``median [min–max]`` of repeated measurements."""
    return f"{median(values):.3f} [{min(values):.3f}–{max(values):.3f}]"


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"
