"""What llama-server spends on each picture of the context that a request sends again.

Every remote request sends the whole conversation, so the pictures still in the context
come again. This sends the same prompt of K pictures twice (the second time it is all
cached, so the server evaluates one token) and reports the server's CPU time for that
second request, less its own compute time, per picture: the cost of one picture sent
again. Linux only (the server's CPU comes from ``/proc/PID/task/*/schedstat``).
Encodings: ``png`` (the engine's: zlib level 1, "up" filter), ``png-adaptive`` (OpenCV's
default filter), ``png6`` (level 6, "up"), ``jpeg`` (q95, lossy), and ``png by name``
(each picture as ``sha256:<hex>``, what the engine sends for a picture the server holds).
It runs twice: with the server's picture memo off (``LLAMA_PICTURE_MEMO_MB=0``: every
picture is decoded again, as a stock llama-server does, though with our faster base64
decoder) and on (our patched default).

    .venv/bin/python bench/remote_pictures.py [--pictures 10] [--rounds 8] [--noise 0]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import statistics
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import llama_server_binary  # noqa: E402

from app.pipeline.sampling import FrameSampler  # noqa: E402
from app.sources.file_source import FileSource  # noqa: E402
from app.sources.synthetic import write_test_video  # noqa: E402
from models.engine.llama_server import LlamaServerProcess, ServerSettings, free_port  # noqa: E402
from models.engine.server_client import LlamaServerClient  # noqa: E402
from models.tiny_model import make_tiny_model  # noqa: E402

ENCODINGS = {
    "png": [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP],
    "png-adaptive": [cv2.IMWRITE_PNG_COMPRESSION, 1],
    "png6": [cv2.IMWRITE_PNG_COMPRESSION, 6, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP],
    "jpeg": [cv2.IMWRITE_JPEG_QUALITY, 95],
}


def cpu_s(pid: int) -> float:
    return sum(int(p.read_text().split()[0]) for p in Path(f"/proc/{pid}/task").glob("*/schedstat")) / 1e9


def encode(kind: str, rgb: np.ndarray) -> bytes:
    ext = ".jpg" if kind == "jpeg" else ".png"
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), ENCODINGS[kind])
    assert ok
    return buf.tobytes()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pictures", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--noise", type=float, default=0.0, help="camera-like noise on every frame (std. deviation)")
    args = ap.parse_args()
    binary = llama_server_binary()
    tmp = Path(tempfile.mkdtemp(prefix="bench-pictures-"))
    model = make_tiny_model(tmp / "model", seed=0)
    video = write_test_video(tmp / "clip.mp4", seconds=args.pictures, size=(640, 480))
    with FileSource(video) as source:
        frames = [f.rgb for f in FrameSampler().sample(source.frames())][: 2 * args.pictures : 2]
    if args.noise:
        rng = np.random.default_rng(0)
        frames = [np.clip(f + rng.normal(0, args.noise, f.shape), 0, 255).astype(np.uint8) for f in frames]
    k = len(frames)
    for memo_mb in ("0", "1024"):
        os.environ["LLAMA_PICTURE_MEMO_MB"] = memo_mb
        settings = ServerSettings(
            model=model.text_path, mmproj=model.mmproj_path, port=free_port(), n_ctx=8192, n_gpu_layers=0, threads=1
        )
        with LlamaServerProcess(binary, settings, log_path=tmp / "server.log").wait_ready(120) as server:
            client = LlamaServerClient(server.url)
            props = client.get("/props")
            prompt = "".join(f"Time={i}s<|vision_start|>{props['media_marker']}<|vision_end|>" for i in range(k))
            bodies, sizes = {}, {}
            for kind in ENCODINGS:
                pictures = [encode(kind, f) for f in frames]
                sizes[kind] = sum(map(len, pictures)) / k
                bodies[kind] = [base64.b64encode(p).decode() for p in pictures]
                if kind == "png" and props.get("multimodal_picture_refs"):
                    sizes["png by name"] = 71
                    bodies["png by name"] = ["sha256:" + hashlib.sha256(p).hexdigest() for p in pictures]
            spent: dict[str, list[float]] = {kind: [] for kind in bodies}
            for _ in range(args.rounds):  # the encodings take turns, so a passing load hits all alike
                for kind, data in bodies.items():
                    body = {
                        "prompt": {"prompt_string": prompt, "multimodal_data": data},
                        "n_predict": 1,
                        "cache_prompt": True,
                        "temperature": 0,
                    }
                    client.post("/completion", body)  # the server caches this prompt
                    before = cpu_s(server.process.pid)
                    timings = client.post("/completion", body)["timings"]
                    compute = (timings["prompt_ms"] + timings["predicted_ms"]) / 1000
                    spent[kind].append((cpu_s(server.process.pid) - before - compute) / k)
            client.close()
        print(
            f"{k} pictures of {frames[0].shape[1]}x{frames[0].shape[0]}, noise {args.noise:g}, picture memo "
            f"{'off' if memo_mb == '0' else 'on'}; server CPU per picture sent again:"
        )
        for kind, values in spent.items():
            print(
                f"  {kind:13s} {sizes[kind] / 1e3:7.1f} KB  median {statistics.median(values) * 1000:5.2f} ms  "
                f"min {min(values) * 1000:5.2f} ms"
            )


if __name__ == "__main__":
    main()
