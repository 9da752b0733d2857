"""Per-chunk cost of the streaming engine on the tiny model, and our overhead.

Prints, for every chunk after the first (the 6-frame opening chunk is reported
apart): median and 90th-percentile wall time of ``LiveCCEngine.feed``, the time
spent inside llama.cpp calls, and the fraction spent outside them (our Python:
prompt building, bookkeeping, sampling, detokenizing). Also the time to decode,
sample and resize the frames, which happens before the engine.

    .venv/bin/python bench/engine.py [--seconds 60] [--size 640x480] [--n-ctx 8192] [--policy streaming]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.pipeline.chunking import LiveCCChunker  # noqa: E402
from app.pipeline.sampling import FrameSampler  # noqa: E402
from app.sources.file_source import FileSource  # noqa: E402
from app.sources.synthetic import write_test_video  # noqa: E402
from models.engine.livecc_engine import EngineOptions, LiveCCEngine  # noqa: E402
from models.engine.llama_runtime import RuntimeOptions  # noqa: E402
from models.engine.records import ChunkDone  # noqa: E402
from models.engine.streaming_policy import POLICIES, ContextOptions  # noqa: E402
from models.engine.token_sampler import SamplingOptions  # noqa: E402
from models.tiny_model import make_tiny_model  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--n-ctx", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--policy",
        choices=POLICIES,
        default="streaming",
        help="context policy: the streaming window (the engine's default) or plain eviction",
    )
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))

    with tempfile.TemporaryDirectory() as tmp:
        tiny = make_tiny_model(Path(tmp) / "tiny")
        clip = write_test_video(Path(tmp) / "clip.mp4", seconds=args.seconds, size=(w, h))
        opts = EngineOptions(
            runtime=RuntimeOptions(n_ctx=args.n_ctx, n_threads=args.threads),
            sampling=SamplingOptions(greedy=True),
            context=ContextOptions(policy=args.policy),
        )
        engine = LiveCCEngine(tiny.text_path, tiny.mmproj_path, opts)

        t = time.perf_counter()
        with FileSource(clip) as source:
            chunks = list(LiveCCChunker().chunks(FrameSampler().sample(source.frames())))
        frames_s = time.perf_counter() - t

        done: list[ChunkDone] = []
        for chunk in chunks:
            for event in engine.feed(chunk):
                if isinstance(event, ChunkDone):
                    done.append(event)
        engine.close()

    first, rest = done[0], done[1:]
    wall = [d.stats.wall_s * 1000 for d in rest]
    llama = [d.stats.llama_s * 1000 for d in rest]
    outside = 1.0 - sum(llama) / sum(wall)
    frame = chunks[1].frames[0]
    print(
        f"tiny model, {args.seconds:.0f} s clip {w}x{h} -> frames {frame.width}x{frame.height}, "
        f"n_ctx {args.n_ctx}, policy {engine.policy.name}, {engine.device.describe()}"
    )
    print(f"chunks: {len(done)} (1 opening chunk of 6 frames + {len(rest)} of 2 frames)")
    print(f"opening chunk:           {first.stats.wall_s * 1000:7.1f} ms")
    print(f"per chunk, median:       {statistics.median(wall):7.1f} ms  (p90 {percentile(wall, 0.9):.1f} ms)")
    print(f"inside llama.cpp, median:{statistics.median(llama):7.1f} ms")
    print(f"outside llama.cpp:       {outside * 100:7.1f} % of engine time")
    print(f"prompt tokens per chunk: {statistics.median(d.stats.prompt_tokens for d in rest):7.0f}")
    print(f"frame decode+sample+resize: {frames_s / len(done) * 1000:.1f} ms per chunk")
    print(f"evicted tokens in total: {sum(d.stats.evicted_tokens for d in done)}")


if __name__ == "__main__":
    main()
