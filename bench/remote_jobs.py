"""Videos per hour with ``commentate FOLDER --server URL --jobs N`` on a loopback llama-server.

For each N (default 1, 2, 4) starts ``llama-server --parallel N`` with the tiny model
on 127.0.0.1 and commentates the same folder of generated clips through the CLI's
parallel batch runner (``app.cli.parallel_batch``), N videos at once; prints the wall
time and videos per hour. On a CPU-only machine the slots share the same cores, so
this shows the scheduling overhead more than a GPU server's gain.

    .venv/bin/python bench/remote_jobs.py [--videos 4] [--seconds 10] [--jobs 1,2,4] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import llama_server_binary  # noqa: E402

from app.cli.commentate import plan_jobs  # noqa: E402
from app.cli.parallel_batch import run_parallel_batch  # noqa: E402
from app.sources.synthetic import write_test_video  # noqa: E402
from models.engine import defaults  # noqa: E402
from models.engine.llama_server import LlamaServerProcess, ServerSettings, free_port  # noqa: E402
from models.engine.remote import RemoteEngine, RemoteOptions  # noqa: E402
from models.engine.token_sampler import SamplingOptions  # noqa: E402
from models.tiny_model import make_tiny_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--jobs", default="1,2,4")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-ctx", type=int, default=8192)
    args = ap.parse_args()
    binary = llama_server_binary()
    tmp = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    model = make_tiny_model(tmp / "model", seed=0)
    folder = tmp / "videos"
    folder.mkdir()
    videos = [write_test_video(folder / f"v{i}.mp4", seconds=args.seconds, size=(640, 480)) for i in range(args.videos)]
    print(f"{args.videos} clips of {args.seconds} s (640x480), tiny model, CPU, {args.threads} server threads")
    for n in (int(v) for v in args.jobs.split(",")):
        settings = ServerSettings(
            model=model.text_path,
            mmproj=model.mmproj_path,
            port=free_port(),
            n_ctx=args.n_ctx,
            parallel=n,
            n_gpu_layers=0,
            threads=args.threads,
        )
        with LlamaServerProcess(binary, settings, log_path=tmp / f"server-{n}.log").wait_ready(120) as server:
            out = tmp / f"out-{n}"
            out.mkdir()
            jobs = plan_jobs(videos, out, ("jsonl",), False)
            cli = SimpleNamespace(start=0.0, end=None, max_pixels=defaults.MAX_PIXELS, speak=False)

            def load(url: str) -> RemoteEngine:
                return RemoteEngine(RemoteOptions(url=url, sampling=SamplingOptions(greedy=True)))

            start = time.perf_counter()
            rc = run_parallel_batch(jobs, cli, n, load, [server.url])
            wall = time.perf_counter() - start
        print(
            f"--jobs {n} (--parallel {n}): {wall:6.1f} s for {len(jobs)} videos, "
            f"{len(jobs) * 3600 / wall:7.0f} videos/hour, {len(jobs) * args.seconds / wall:5.2f}x real time, rc {rc}"
        )


if __name__ == "__main__":
    main()
