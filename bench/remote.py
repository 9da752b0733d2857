"""Remote (llama-server on loopback) versus local per-chunk cost, one stream, tiny model.

Runs the same chunks of a generated clip through ``LiveCCEngine`` in this
process and through ``RemoteEngine`` against a ``llama-server`` started here on
127.0.0.1 (``make server`` builds it), both on the CPU with the same thread
count, and prints the median and 90th-percentile wall time per 1-s chunk (the
opening chunk and re-prime chunks apart), their ratio (the issue's target is
<= 1.15), and the server's own ``prompt_n`` per chunk against the new turn's
tokens (O(new tokens) per chunk).

The two engines take turns chunk by chunk (``--order interleaved``, the default;
who goes first alternates), so a load that comes and goes on a shared machine
slows both alike; ``--order sequential`` runs all local chunks, then all remote
ones. The remote time is split into the server's own prompt+predict time and the
rest, and the rest into what this process spends before the request is sent
(picture encoding, tokenizing, the request body) and what is left (transfer, and
the server reading the request: the new pictures, and the names of the ones it holds;
on a stock llama-server, every picture of the prompt decoded again).

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

import numpy as np  # noqa: E402
from common import llama_server_binary, percentile  # noqa: E402

from app.pipeline.chunking import LiveCCChunker  # noqa: E402
from app.pipeline.sampling import FrameSampler  # noqa: E402
from app.sources.file_source import FileSource  # noqa: E402
from app.sources.synthetic import write_test_video  # noqa: E402
from models.engine.livecc_engine import EngineOptions, LiveCCEngine  # noqa: E402
from models.engine.llama_runtime import RuntimeOptions  # noqa: E402
from models.engine.llama_server import LlamaServerProcess, ServerSettings, free_port  # noqa: E402
from models.engine.prompt_cache_policy import PromptCachePolicy  # noqa: E402
from models.engine.records import Frame, VideoChunk  # noqa: E402
from models.engine.remote import RemoteEngine, RemoteOptions  # noqa: E402
from models.engine.streaming_policy import StreamingWindowSettings  # noqa: E402
from models.engine.token_sampler import SamplingOptions  # noqa: E402
from models.tiny_model import make_tiny_model  # noqa: E402


def with_noise(chunks: list[VideoChunk], sigma: float) -> list[VideoChunk]:
    """The chunks with seeded Gaussian noise on every frame (the same for both engines)."""
    rng = np.random.default_rng(0)

    def noisy(rgb: np.ndarray) -> np.ndarray:
        return np.clip(rgb + rng.normal(0.0, sigma, rgb.shape), 0, 255).astype(np.uint8)

    return [VideoChunk(c.index, tuple(Frame(f.t, noisy(f.rgb)) for f in c.frames), c.t0, c.t1) for c in chunks]


def server_cpu_s(pid: int | None) -> float:
    """CPU seconds every thread of process ``pid`` has run so far (Linux ``schedstat``, ns); 0 elsewhere."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat") if pid else []:
        try:
            total += int(stat.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


Timing = tuple[float, float, float]  # wall, this process's CPU, the server's CPU (seconds)


def timed(engine, chunk, server_pid: int | None) -> Timing:
    """Wall and CPU seconds of one chunk: this process's, and for a remote engine the server's."""
    wall, cpu, server = time.perf_counter(), time.process_time(), server_cpu_s(server_pid)
    engine.process(chunk)
    return time.perf_counter() - wall, time.process_time() - cpu, server_cpu_s(server_pid) - server


def run(engines: list, chunks, interleaved: bool, pids: list[int | None]) -> list[list[Timing]]:
    """Per-chunk timings of each engine: in turns chunk by chunk, or one engine after the other."""
    times: list[list[Timing]] = [[] for _ in engines]
    if not interleaved:
        for k, engine in enumerate(engines):
            times[k] = [timed(engine, chunk, pids[k]) for chunk in chunks]
        return times
    for i, chunk in enumerate(chunks):
        order = range(len(engines)) if i % 2 == 0 else reversed(range(len(engines)))
        for k in order:
            times[k].append(timed(engines[k], chunk, pids[k]))
    return times


def client_side(engine: RemoteEngine) -> list[float]:
    """Seconds per request this process spends before sending it: encode, tokenize, build the body."""
    spent: list[float] = []
    feed = engine.feed
    stream = engine.client.stream

    def timed_feed(chunk):
        nonlocal began
        began = time.perf_counter()
        yield from feed(chunk)

    def timed_stream(path, body):
        spent.append(time.perf_counter() - began)
        return stream(path, body)

    began = 0.0
    engine.feed = timed_feed  # type: ignore[method-assign]
    engine.client.stream = timed_stream  # type: ignore[method-assign]
    return spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=40)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--n-ctx", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--image-format", choices=("png", "jpeg"), default="png")
    ap.add_argument("--order", choices=("interleaved", "sequential"), default="interleaved")
    ap.add_argument(
        "--noise",
        type=float,
        default=0.0,
        help="add camera-like noise (this standard deviation) to every frame: PNGs of real footage, not flat shapes",
    )
    args = ap.parse_args()
    binary = llama_server_binary()
    w, h = (int(v) for v in args.size.split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    model = make_tiny_model(tmp / "model", seed=0)
    video = write_test_video(tmp / "clip.mp4", seconds=args.seconds, size=(w, h))
    with FileSource(video) as source:
        chunks = list(LiveCCChunker().chunks(FrameSampler().sample(source.frames())))
    if args.noise > 0:
        chunks = with_noise(chunks, args.noise)
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
        before_send = client_side(remote)
        local_runs, remote_runs = run([local, remote], chunks, args.order == "interleaved", [None, server.process.pid])
        figures = list(remote.server_figures)
        pictures = remote.options.image_format
        remote.close()
    local_reprimes = local.reprime_count
    local.close()

    local_times, remote_times = [t[0] for t in local_runs], [t[0] for t in remote_runs]
    steady = [i for i, f in enumerate(figures) if i > 0 and not f.reprimed]
    loc = [local_times[i] for i in steady]
    rem = [remote_times[i] for i in steady]
    print(
        f"{len(chunks)} chunks of {w}x{h} video, n_ctx {args.n_ctx}, {args.threads} thread(s), tiny model, CPU, "
        f"{args.order}, pictures as {pictures}" + (f", noise sigma {args.noise:g}" if args.noise else "")
    )
    print(
        f"local : median {statistics.median(loc) * 1000:6.1f} ms  p90 {percentile(loc, 0.9) * 1000:6.1f} ms"
        f"  (re-primes {local_reprimes})"
    )
    print(
        f"remote: median {statistics.median(rem) * 1000:6.1f} ms  p90 {percentile(rem, 0.9) * 1000:6.1f} ms"
        f"  (re-primes {sum(f.reprimed for f in figures)})"
    )
    print(
        f"ratio remote/local (median per 1-s chunk): {statistics.median(rem) / statistics.median(loc):.2f}; "
        f"median of the per-chunk ratios {statistics.median(r / q for r, q in zip(rem, loc)):.2f}"
    )
    server_s = [(figures[i].prompt_ms + figures[i].predicted_ms) / 1000 for i in steady]
    rest = [remote_times[i] - (figures[i].prompt_ms + figures[i].predicted_ms) / 1000 for i in steady]
    ours = [before_send[i] for i in steady]
    print(
        f"remote: server's own prompt+predict median {statistics.median(server_s) * 1000:6.1f} ms; the rest "
        f"{statistics.median(rest) * 1000:.1f} ms: before sending (encode, tokenize, body) "
        f"{statistics.median(ours) * 1000:.1f} ms, then transfer and the server reading the request "
        f"{statistics.median(r - o for r, o in zip(rest, ours)) * 1000:.1f} ms"
    )
    gap = statistics.median(q - s for q, s in zip(loc, server_s))
    print(f"local wall minus the server's own compute, median per chunk: {gap * 1000:.1f} ms")
    local_cpu = sum(local_runs[i][1] for i in steady) / len(steady)
    client_cpu = sum(remote_runs[i][1] for i in steady) / len(steady)
    server_cpu = sum(remote_runs[i][2] for i in steady) / len(steady)
    remote_cpu = client_cpu + server_cpu
    print(
        f"CPU per steady chunk (not slowed by other load): local {local_cpu * 1000:.1f} ms, remote "
        f"{remote_cpu * 1000:.1f} ms (this process {client_cpu * 1000:.1f} + the server {server_cpu * 1000:.1f}); "
        f"ratio {remote_cpu / local_cpu:.2f}"
        + ("" if Path("/proc/self/schedstat").exists() else " [no /proc schedstat: server CPU not counted]")
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
