"""Real-size timing: a random-weight model with LiveCC-7B's exact shapes, quantized like the release.

LiveCC-7B is Qwen2-VL-7B: text hidden 3584, 28 layers, 28 heads / 4 KV heads,
FFN 18944, vocabulary 152,064; vision depth 32, width 1280, 16 heads, patch 14,
spatial merge 2. The weights here are random (the work per token does not
depend on their values) and go through the project's one GGUF writer
(``models/gguf_qwen2vl.py``) exactly as a converted checkpoint does: F16 text
GGUF, then ``llama_model_quantize`` to Q4_K_M; the mmproj stays F16. Then
``LiveCCEngine`` (``StreamingWindowPolicy``) runs a generated stream and the
script prints, per second of video (one 2-frame chunk, frames of 384·28·28
pixels by default):

* compute seconds, split into vision encode (timed alone on the same frames,
  with ``mtmd_encode_chunk``), the rest of the prompt (tokenizing, image
  preprocessing, decoding the vision embeddings and the text) and generation
  (16 tokens at most), and the share of it spent outside llama.cpp calls;
* the delay from a frame's arrival (grabbed at 1920x1080) to the first word:
  resizing it to the model size, then the engine up to its first decoded token.

Targets on an H100: <= 125 ms per second of video (>= 8x real time), first word <= 300 ms.

On a GPU machine (llama-cpp-python built with CUDA)::

    CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir llama-cpp-python==0.3.36
    python bench/real_size_gpu.py --out /tmp/livecc-7b-random        # ~15 GB F16 written, then Q4_K_M (~4.7 GB)

``--shape small`` builds a scaled-down model (same vocabulary, small widths)
to check the script end to end on a CPU in a few minutes.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import statistics
import time
from pathlib import Path

import cv2
import llama_cpp
import numpy as np
from common import CACHE, generated_chunks, load_average, model_size, percentile

from app.pipeline.sampling import resize_rgb
from app.sources.synthetic import draw_frame
from models.bpe_vocab import COMMENTARY_PIECES, build_word_vocab, to_byte_level
from models.engine.livecc_engine import EngineOptions, LiveCCEngine
from models.engine.llama_runtime import RuntimeOptions
from models.engine.records import ChunkDone, CommentaryDelta
from models.engine.token_sampler import SamplingOptions
from models.gguf_qwen2vl import Qwen2VLTextConfig, Qwen2VLVisionConfig, write_mmproj_gguf, write_text_gguf

SHAPES = {
    # Qwen2-VL-7B-Instruct's config.json (LiveCC-7B-Instruct keeps it).
    "full": (
        dict(
            vocab_size=152064,
            hidden_size=3584,
            n_layers=28,
            n_heads=28,
            n_kv_heads=4,
            ffn=18944,
            context_length=32768,
            mrope_sections=(16, 24, 24),
        ),
        dict(depth=32, embed_dim=1280, n_heads=16, ffn=5120, out_hidden=3584),
    ),
    # Everything cut down but the vocabulary; rows stay multiples of 256 so Q4_K_M applies.
    "small": (
        dict(
            vocab_size=152064,
            hidden_size=512,
            n_layers=4,
            n_heads=8,
            n_kv_heads=4,
            ffn=1536,
            context_length=32768,
            mrope_sections=(8, 12, 12),
        ),
        dict(depth=4, embed_dim=256, n_heads=4, ffn=1024, out_hidden=512),
    ),
}
# As in models/tiny_model.py: sharper attention and a louder merger, so outputs depend on the
# frames; rows of tokens that are not words scaled down, so greedy decoding says words.
GAINS = {".q_proj.": 2.0, ".k_proj.": 2.0, ".attn.qkv.": 2.0, "merger.mlp.2.": 3.0}
MINOR_ROW_SCALE = 0.25


def fast_random_tensors(shapes, seed: int, favoured=()):
    """Random float32 tensors by Hugging Face name, std gain/sqrt(fan_in) (float32 draws: fast)."""
    rng = np.random.default_rng(seed)
    for name, shape in shapes.items():
        if name.endswith(".bias"):
            array = rng.standard_normal(shape, dtype=np.float32) * 0.1
        elif len(shape) == 1:
            array = 1.0 + rng.standard_normal(shape, dtype=np.float32) * 0.1
        elif name.endswith("embed_tokens.weight"):
            array = rng.standard_normal(shape, dtype=np.float32)
        else:
            gain = next((g for frag, g in GAINS.items() if frag in name), 1.0)
            array = rng.standard_normal(shape, dtype=np.float32)
            array *= np.float32(gain / math.sqrt(math.prod(shape[1:])))
        if name == "lm_head.weight" and favoured:
            keep = array[list(favoured)].copy()
            array *= np.float32(MINOR_ROW_SCALE)
            array[list(favoured)] = keep
        yield name, array


def build(out: Path, shape: str, threads: int, keep_f16: bool) -> tuple[Path, Path]:
    """Write (or reuse) ``<shape>-Q4_K_M.gguf`` and ``<shape>-mmproj-f16.gguf`` in ``out``."""
    text_cfg = Qwen2VLTextConfig(**SHAPES[shape][0])
    vision_cfg = Qwen2VLVisionConfig(**SHAPES[shape][1])
    out.mkdir(parents=True, exist_ok=True)
    q4, mmproj, f16 = out / f"{shape}-Q4_K_M.gguf", out / f"{shape}-mmproj-f16.gguf", out / f"{shape}-f16.gguf"
    stamp = out / f"{shape}.json"
    want = {"text": SHAPES[shape][0], "vision": SHAPES[shape][1], "version": 1}
    fresh = stamp.exists() and json.loads(stamp.read_text()) == json.loads(json.dumps(want))
    if q4.exists() and mmproj.exists() and fresh:
        print(f"reusing {q4} and {mmproj}")
        return q4, mmproj
    vocab = build_word_vocab()
    words = [vocab.token_id(to_byte_level(p)) for p in COMMENTARY_PIECES]
    t = time.perf_counter()
    write_text_gguf(
        f16,
        text_cfg,
        vocab,
        fast_random_tensors(text_cfg.hf_shapes(), 0, words),
        out_type="f16",
        name=f"random LiveCC-7B shapes ({shape})",
    )
    write_mmproj_gguf(
        mmproj,
        vision_cfg,
        fast_random_tensors(vision_cfg.hf_shapes(), 1),
        out_type="f16",
        name=f"random LiveCC-7B vision ({shape})",
    )
    print(
        f"wrote F16 GGUFs in {time.perf_counter() - t:.0f} s ({f16.stat().st_size / 2**30:.2f} GiB text, "
        f"{mmproj.stat().st_size / 2**30:.2f} GiB mmproj)",
        flush=True,
    )
    t = time.perf_counter()
    params = llama_cpp.llama_model_quantize_default_params()
    params.nthread = threads
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    rc = llama_cpp.llama_model_quantize(str(f16).encode(), str(q4).encode(), ctypes.byref(params))
    if rc != 0:
        raise SystemExit(f"llama_model_quantize failed ({rc})")
    print(f"quantized to Q4_K_M in {time.perf_counter() - t:.0f} s ({q4.stat().st_size / 2**30:.2f} GiB)", flush=True)
    if not keep_f16:
        f16.unlink()
    stamp.write_text(json.dumps(want))
    return q4, mmproj


def encode_seconds(engine: LiveCCEngine, frames) -> float:
    """One 2-frame vision encode alone (``mtmd_encode_chunk``), on the engine's vision context."""
    from llama_cpp import mtmd_cpp

    rt = engine.runtime
    part = rt.tokenize_part(rt.marker * len(frames), frames)
    try:
        handle = part.handle
        for i in range(mtmd_cpp.mtmd_input_chunks_size(handle)):
            chunk = mtmd_cpp.mtmd_input_chunks_get(handle, i)
            if mtmd_cpp.mtmd_input_chunk_get_type(chunk) != mtmd_cpp.MTMD_INPUT_CHUNK_TYPE_TEXT:
                t = time.perf_counter()
                # The runtime's mtmd context is private; a benchmark may look inside.
                assert mtmd_cpp.mtmd_encode_chunk(rt._mtmd, chunk) == 0
                return time.perf_counter() - t
    finally:
        part.free()
    return 0.0


@llama_cpp.llama_log_callback
def _quiet(level: int, text: bytes, user: ctypes.c_void_p) -> None:
    pass


def measure(args, q4: Path, mmproj: Path) -> None:
    opts = EngineOptions(
        runtime=RuntimeOptions(n_ctx=args.n_ctx, n_gpu_layers=args.n_gpu_layers, n_threads=args.threads),
        sampling=SamplingOptions(greedy=True),
    )
    t = time.perf_counter()
    engine = LiveCCEngine(q4, mmproj, opts)  # the default streaming-window policy
    print(f"loaded in {time.perf_counter() - t:.1f} s: {engine.device.describe()}; n_ctx {args.n_ctx}")
    h, w = model_size(args.source)
    big = cv2.cvtColor(draw_frame(1.0, (1920, 1080)), cv2.COLOR_BGR2RGB)  # a grabbed screen
    resize_s = statistics.median(_timed(lambda: resize_rgb(big, h, w)) for _ in range(5))

    rows = []
    for chunk in generated_chunks(3 + args.chunks, args.source):
        frames = [f.rgb for f in chunk.frames]
        enc = encode_seconds(engine, frames[:2]) * (len(frames) // 2)
        start = time.perf_counter()
        first = None
        done = None
        for event in engine.feed(chunk):
            if isinstance(event, CommentaryDelta) and first is None:
                first = time.perf_counter() - start
            elif isinstance(event, ChunkDone):
                done = event
        wall = time.perf_counter() - start
        s = done.stats
        rows.append(
            dict(
                index=chunk.index,
                wall=wall,
                encode=enc,
                prefill=s.prefill_s - enc,
                generate=s.generate_s,
                outside=1 - s.llama_s / s.wall_s,
                first=first if first is not None else wall,
                tokens=s.generated_tokens,
                prompt=s.prompt_tokens,
            )
        )
        if chunk.index % 10 == 0:
            r = rows[-1]
            print(
                f"  chunk {chunk.index:3d}: {r['wall'] * 1e3:7.1f} ms (encode {r['encode'] * 1e3:.1f}, prefill "
                f"{r['prefill'] * 1e3:.1f}, generate {r['generate'] * 1e3:.1f} for {r['tokens']} tokens), "
                f"first word {r['first'] * 1e3:.1f} ms",
                flush=True,
            )
    engine.close()
    report(rows, resize_s, h, w, args)


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def report(rows, resize_s, h, w, args) -> None:
    first, steady = rows[0], [r for r in rows[1:]]
    med = lambda key: statistics.median(r[key] for r in steady)  # noqa: E731
    wall, enc, pre, gen = med("wall"), med("encode"), med("prefill"), med("generate")
    delays = [resize_s + r["first"] for r in steady]
    print(
        f"\nframes {w}x{h} ({(h // 28) * (w // 28)} vision tokens per chunk), {len(steady)} chunks of 1 s after "
        f"the 3-s opening chunk ({first['wall'] * 1e3:.0f} ms); median generated tokens {med('tokens'):.0f}"
    )
    print(
        f"compute per second of video: {wall * 1e3:.1f} ms = {1 / wall:.1f}x real time (p90 "
        f"{percentile([r['wall'] for r in steady], 0.9) * 1e3:.1f} ms)   target <= 125 ms"
    )
    print(
        f"  vision encode {enc * 1e3:.1f} ms, rest of the prompt {pre * 1e3:.1f} ms (median {med('prompt'):.0f} "
        f"prompt tokens), generation {gen * 1e3:.1f} ms ({gen / max(1, med('tokens')) * 1e3:.2f} ms/token); "
        f"outside llama.cpp calls {med('outside') * 100:.1f} %"
    )
    print(
        f"frame arrival -> first word: median {statistics.median(delays) * 1e3:.1f} ms, p90 "
        f"{percentile(delays, 0.9) * 1e3:.1f} ms (resize of the 1080p frame {resize_s * 1e3:.1f} ms on the CPU)   "
        f"target <= 300 ms"
    )
    print(f"load average {load_average()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="full")
    ap.add_argument("--out", type=Path, default=CACHE / "real-size")
    ap.add_argument("--chunks", type=int, default=40, help="1-s chunks after the opening one")
    ap.add_argument("--n-ctx", type=int, default=8192)
    ap.add_argument("--n-gpu-layers", type=int, default=-1)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--source", default="672x448", help="frame size; 672x448 gives exactly 384·28·28 pixels")
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--keep-f16", action="store_true")
    args = ap.parse_args()
    llama_cpp.llama_log_set(_quiet, None)  # quantization logs every tensor; the engine sets its own logger
    q4, mmproj = build(args.out, args.shape, args.threads or os.cpu_count() or 1, args.keep_f16)
    if not args.build_only:
        measure(args, q4, mmproj)


if __name__ == "__main__":
    main()
