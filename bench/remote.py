"""Remote (llama-server on loopback) versus local per-chunk cost, one stream, tiny model.

Runs the same chunks of a generated clip through ``LiveCCEngine`` in this
process and through ``RemoteEngine`` against a ``llama-server`` started here on
127.0.0.1 (``make server`` builds it), both on the CPU with the same thread
count, and prints the median and 90th-percentile wall time per 1-s chunk (the
opening chunk and re-prime chunks apart), their ratio (the issue's target is
<= 1.15), and the server's own ``prompt_n`` per chunk against the new turn's
tokens (O(new tokens) per chunk).

    .venv/bin/python bench/remote.py [--seconds 40] [--size 640x480] [--n-ctx 8192] [--threads 1]
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
from models.engine.llama_server import LlamaServerProcess, ServerSettings, find_llama_server, free_port  # noqa: E402
from models.engine.prompt_cache_policy import PromptCachePolicy  # noqa: E402
from models.engine.remote import RemoteEngine, RemoteOptions  # noqa: E402
from models.engine.streaming_policy import StreamingWindowSettings  # noqa: E402
from models.engine.token_sampler import SamplingOptions  # noqa: E402
from models.tiny_model import make_tiny_model  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(engine, chunks) -> list[float]:
    times = []
    for chunk in chunks:
        start = time.perf_counter()
        engine.process(chunk)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=40)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--n-ctx", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--image-format", choices=("png", "jpeg"), default="png")
    args = ap.parse_args()
    binary = find_llama_server()
    if binary is None:
        sys.exit("llama-server is not built: run `make server` first")
    w, h = (int(v) for v in args.size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    model = make_tiny_model(tmp / "model", seed=0)
    video = write_test_video(tmp / "clip.mp4", seconds=args.seconds, size=(w, h))
    with FileSource(video) as source:
        chunks = list(LiveCCChunker().chunks(FrameSampler().sample(source.frames())))
    window = StreamingWindowSettings.for_context(args.n_ctx)
    sampling = SamplingOptions(greedy=True)

    local = LiveCCEngine(
        model.text_path,
        model.mmproj_path,
        EngineOptions(
            runtime=RuntimeOptions(n_ctx=args.n_ctx, n_threads=args.threads, n_gpu_layers=0), sampling=sampling
        ),
        policy=PromptCachePolicy(window),
    )
    local_times = run(local, chunks)
    local_reprimes = local.reprime_count
    local.close()

    settings = ServerSettings(
        model=model.text_path,
        mmproj=model.mmproj_path,
        port=free_port(),
        n_ctx=args.n_ctx,
        n_gpu_layers=0,
        threads=args.threads,
    )
    with LlamaServerProcess(binary, settings, log_path=tmp / "server.log").wait_ready(120) as server:
        remote = RemoteEngine(
            RemoteOptions(url=server.url, sampling=sampling, window=window, image_format=args.image_format)
        )
        remote_times = run(remote, chunks)
        figures = list(remote.server_figures)
        remote.close()

    steady = [i for i, f in enumerate(figures) if i > 0 and not f.reprimed]
    loc = [local_times[i] for i in steady]
    rem = [remote_times[i] for i in steady]
    print(f"{len(chunks)} chunks of {w}x{h} video, n_ctx {args.n_ctx}, {args.threads} thread(s), tiny model, CPU")
    print(
        f"local : median {statistics.median(loc) * 1000:6.1f} ms  p90 {percentile(loc, 0.9) * 1000:6.1f} ms"
        f"  (re-primes {local_reprimes})"
    )
    print(
        f"remote: median {statistics.median(rem) * 1000:6.1f} ms  p90 {percentile(rem, 0.9) * 1000:6.1f} ms"
        f"  (re-primes {sum(f.reprimed for f in figures)})"
    )
    print(f"ratio remote/local (median per 1-s chunk): {statistics.median(rem) / statistics.median(loc):.2f}")
    server_s = [(figures[i].prompt_ms + figures[i].predicted_ms) / 1000 for i in steady]
    print(
        f"remote: server's own prompt+predict time median {statistics.median(server_s) * 1000:6.1f} ms; "
        f"the rest (encode, transfer, the server decoding every picture in the prompt) "
        f"{(statistics.median(rem) - statistics.median(server_s)) * 1000:.1f} ms"
    )
    exact = sum(figures[i].prompt_n == figures[i].new_tokens for i in steady)
    print(
        f"server prompt_n == the new turn's tokens on {exact}/{len(steady)} steady chunks; "
        f"new tokens per chunk: median {statistics.median(figures[i].new_tokens for i in steady):.0f}; "
        f"prompt length up to {max(f.prompt_tokens for f in figures)} tokens"
    )
    for i in [j for j, f in enumerate(figures) if f.reprimed][:3]:
        f = figures[i]
        print(
            f"re-prime at chunk {i}: prompt_n {f.prompt_n} (new turn {f.new_tokens}, cached {f.cache_n}), "
            f"local {local_times[i] * 1000:.0f} ms, remote {remote_times[i] * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
