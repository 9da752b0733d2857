"""Our engine's overhead against the same llama.cpp calls made directly, on the same chunks.

Three copies of the tiny model run side by side on one generated stream:

* a *recorder* engine runs each chunk first and logs every llama.cpp-level
  operation it makes (tokenize with frames, evaluate at a position, read
  logits, decode a token, detokenize, remove a range): the exact work;
* *ours*, an identical ``LiveCCEngine`` (same policy, greedy), runs the chunk
  and is timed;
* *direct*, a bare loop of ctypes calls into llama.cpp and mtmd (bitmap,
  ``mtmd_tokenize``, ``mtmd_helper_eval_chunks``, ``llama_process``,
  ``llama_get_logits_ith`` + argmax, ``llama_token_to_piece``,
  ``llama_memory_seq_rm``), replays that log on its own context and is timed.

Ours and direct alternate which goes first, chunk by chunk, so both see the
same machine load. Overhead = ours / direct - 1, per chunk; the median and
the ratio of the total times are printed for each of ``--repeats`` passes, in
wall time and in CPU time (with one thread llama.cpp computes on the calling
thread, so CPU time counts the work and not the waits for a busy machine's
cores).

The tiny model's vocabulary has 960 tokens; LiveCC's has 152,064, and choosing
a token (repetition penalty, then argmax or top-k/top-p) is our Python work
per generated token. So the script also times ``TokenSampler.pick`` on
152,064 logits with a context of 3,000 distinct tokens, to compare with a
GPU's time per token.
The stream opens with a 2-frame chunk here, not LiveCC's 6: the engine
decodes a 6-frame chunk as one video segment with exact M-RoPE positions,
which the plain mtmd helper cannot replay; the opening chunk is left out of
the figures anyway.

    .venv/bin/python bench/overhead.py [--seconds 120] [--repeats 3] [--n-ctx 8192] [--threads 1]
"""

from __future__ import annotations

import argparse
import ctypes
import time

import llama_cpp
import numpy as np
from common import generated_chunks, load_average, median, spread, tiny_model
from llama_cpp import mtmd_cpp

from models.engine.livecc_engine import EngineOptions, LiveCCEngine
from models.engine.llama_runtime import RuntimeOptions
from models.engine.token_sampler import SamplingOptions, TokenSampler


def record(engine: LiveCCEngine) -> list[tuple]:
    """Log the runtime calls ``engine`` makes, as replayable operations."""
    log: list[tuple] = []
    rt = engine.runtime
    ids: dict[int, int] = {}
    real = {
        name: getattr(rt, name)
        for name in (
            "tokenize_part",
            "tokenize_text",
            "eval_part",
            "eval_tokens",
            "decode_token",
            "logits",
            "piece",
            "remove",
            "is_end_of_generation",
        )
    }

    def tokenize_part(text, frames=()):
        part = real["tokenize_part"](text, frames)
        ids[id(part)] = len(log)
        log.append(("tokenize", text, tuple(frames)))
        free = part.free

        def free_logged():
            if part.handle is not None:
                log.append(("free", ids[id(part)]))
            free()

        part.free = free_logged
        return part

    def eval_part(part, n_past, *, logits):
        log.append(("eval", ids[id(part)], n_past, logits))
        return real["eval_part"](part, n_past, logits=logits)

    def eval_tokens(tokens, pos, *, logits=False):
        log.append(("eval_tokens", list(tokens), pos, logits))
        return real["eval_tokens"](tokens, pos, logits=logits)

    def simple(name, tag):
        def call(*args):
            log.append((tag, *args))
            return real[name](*args)

        return call

    rt.tokenize_part = tokenize_part
    rt.eval_part = eval_part
    rt.eval_tokens = eval_tokens
    rt.tokenize_text = simple("tokenize_text", "tokenize_text")
    rt.decode_token = simple("decode_token", "decode")
    rt.logits = simple("logits", "logits")
    rt.piece = simple("piece", "piece")
    rt.remove = simple("remove", "remove")
    rt.is_end_of_generation = simple("is_end_of_generation", "eog")
    return log


class DirectLlama:
    """The same llama.cpp setup as the runtime, driven by bare ctypes calls."""

    def __init__(self, text_path, mmproj_path, n_ctx: int, threads: int) -> None:
        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = 999
        self.model = llama_cpp.llama_model_load_from_file(str(text_path).encode(), mparams)
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx, cparams.n_batch, cparams.n_ubatch, cparams.n_seq_max = n_ctx, 2048, 512, 1
        cparams.n_threads = cparams.n_threads_batch = threads
        self.ctx = llama_cpp.llama_init_from_model(self.model, cparams)
        self.mem = llama_cpp.llama_get_memory(self.ctx)
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        p = mtmd_cpp.mtmd_context_params_default()
        p.use_gpu = bool(llama_cpp.llama_supports_gpu_offload())
        p.n_threads, p.print_timings, p.warmup = threads, False, False
        self.mtmd = mtmd_cpp.mtmd_init_from_file(str(mmproj_path).encode(), self.model, p)
        self.batch = llama_cpp.llama_batch_ext_init(self.ctx)
        self.parts: dict[int, object] = {}
        self.piece_buf = ctypes.create_string_buffer(64)

    def replay(self, log: list[tuple], start: int) -> None:
        """Make the calls logged from ``log[start]`` on ("eval" and "free" name a "tokenize" by its index)."""
        for i in range(start, len(log)):
            op = log[i]
            kind = op[0]
            if kind == "tokenize":
                self.parts[i] = self._tokenize(op[1], op[2])
            elif kind == "eval":
                handle = self.parts[op[1]]
                out = llama_cpp.llama_pos(op[2])
                rc = mtmd_cpp.mtmd_helper_eval_chunks(
                    self.mtmd, self.ctx, handle, op[2], 0, 2048, op[3], ctypes.byref(out)
                )
                assert rc == 0, "direct eval failed"
            elif kind == "free":
                mtmd_cpp.mtmd_input_chunks_free(self.parts.pop(op[1]))
            elif kind == "decode":
                self._decode([op[1]], op[2], logits=True)
            elif kind == "eval_tokens":
                for at in range(0, len(op[1]), 2048):
                    piece = op[1][at : at + 2048]
                    self._decode(piece, op[2] + at, logits=op[3] and at + len(piece) == len(op[1]))
            elif kind == "logits":
                ptr = llama_cpp.llama_get_logits_ith(self.ctx, -1)
                int(np.argmax(np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))))
            elif kind == "piece":
                llama_cpp.llama_token_to_piece(self.vocab, op[1], self.piece_buf, 64, 0, False)
            elif kind == "eog":
                llama_cpp.llama_vocab_is_eog(self.vocab, op[1])
            elif kind == "remove":
                llama_cpp.llama_memory_seq_rm(self.mem, 0, op[1], op[2])
            elif kind == "tokenize_text":
                data = op[1].encode()
                buf = (llama_cpp.llama_token * (len(data) + 8))()
                llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, len(buf), False, True)

    def _decode(self, tokens: list[int], pos: int, *, logits: bool) -> None:
        llama_cpp.llama_batch_ext_clear(self.batch)
        p = llama_cpp.llama_pos()
        for j, token in enumerate(tokens):
            idx = llama_cpp.llama_batch_ext_add_token(self.batch, 0, token)
            p.value = pos + j
            llama_cpp.llama_batch_ext_set_pos(self.batch, idx, ctypes.byref(p))
        if logits:
            llama_cpp.llama_batch_ext_set_output_logits(self.batch, idx, True)
        assert llama_cpp.llama_process(self.ctx, llama_cpp.LLAMA_PROCESS_TYPE_DECODE, self.batch) == 0

    def _tokenize(self, text: str, frames) -> object:
        bitmaps = []
        for rgb in frames:
            h, w = rgb.shape[:2]
            bmp = mtmd_cpp.mtmd_bitmap_init(w, h, rgb.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)))
            mtmd_cpp.mtmd_bitmap_set_mergeable(bmp, True)
            bitmaps.append(bmp)
        data = text.encode()
        inp = mtmd_cpp.mtmd_input_text(text=data, text_len=len(data), add_special=False, parse_special=True)
        chunks = mtmd_cpp.mtmd_input_chunks_init()
        arr = (mtmd_cpp.mtmd_bitmap_p_ctypes * max(1, len(bitmaps)))(*bitmaps)
        assert mtmd_cpp.mtmd_tokenize(self.mtmd, chunks, ctypes.byref(inp), arr, len(bitmaps)) == 0
        for bmp in bitmaps:
            mtmd_cpp.mtmd_bitmap_free(bmp)
        return chunks

    def close(self) -> None:
        llama_cpp.llama_batch_ext_free(self.batch)
        mtmd_cpp.mtmd_free(self.mtmd)
        llama_cpp.llama_free(self.ctx)
        llama_cpp.llama_model_free(self.model)


def one_pass(args, tiny, chunks) -> tuple[float, float, float, int]:
    opts = EngineOptions(
        runtime=RuntimeOptions(n_ctx=args.n_ctx, n_threads=args.threads), sampling=SamplingOptions(greedy=True)
    )
    make = lambda: LiveCCEngine(tiny.text_path, tiny.mmproj_path, opts)  # noqa: E731
    recorder, ours = make(), make()
    direct = DirectLlama(tiny.text_path, tiny.mmproj_path, args.n_ctx, ours.runtime.options.n_threads or 2)
    log = record(recorder)
    ratios, t_ours, t_direct, t_llama, c_ours, c_direct = [], 0.0, 0.0, 0.0, 0.0, 0.0
    for chunk in chunks:
        start = len(log)
        recorder.process(chunk)
        timings, cpu = {}, {}
        for who in ("ours", "direct") if chunk.index % 2 else ("direct", "ours"):
            c = time.process_time()
            t = time.perf_counter()
            if who == "ours":
                llama_before = ours.runtime.llama_seconds
                ours.process(chunk)
                llama = ours.runtime.llama_seconds - llama_before
            else:
                direct.replay(log, start)
            timings[who] = time.perf_counter() - t
            cpu[who] = time.process_time() - c
        if chunk.index == 0:
            continue
        ratios.append(timings["ours"] / timings["direct"])
        t_ours += timings["ours"]
        t_direct += timings["direct"]
        t_llama += llama
        c_ours += cpu["ours"]
        c_direct += cpu["direct"]
    assert ours.n_past == recorder.n_past, "ours and the recorder diverged"
    n = len(ratios)
    for e in (recorder, ours):
        e.close()
    direct.close()
    return median(ratios) - 1, t_ours / t_direct - 1, c_ours / c_direct - 1, 1 - t_llama / t_ours, n


def sampler_cost(vocab: int = 152064, context: int = 3000, repeats: int = 200) -> dict[str, float]:
    """Milliseconds per ``TokenSampler.pick`` at LiveCC's vocabulary size."""
    from collections import Counter

    rng = np.random.default_rng(0)
    logits = rng.standard_normal(vocab).astype(np.float32)
    counts = Counter(int(i) for i in rng.choice(vocab, context, replace=False))
    out = {}
    for name, opts in (("greedy", SamplingOptions(greedy=True)), ("sampled", SamplingOptions(seed=1))):
        sampler = TokenSampler(opts, silence_token=None)
        t = time.perf_counter()
        for n in range(repeats):
            sampler.pick(logits, counts, n % 16)
        out[name] = (time.perf_counter() - t) / repeats * 1e3
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-ctx", type=int, default=8192)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--source", default="1920x1080")
    args = ap.parse_args()
    tiny = tiny_model()
    chunks = list(generated_chunks(args.seconds, args.source, first_frames=2))
    print(
        f"tiny model, {len(chunks)} chunks of a {args.seconds:.0f} s generated stream, n_ctx {args.n_ctx}, "
        f"{args.threads} thread(s), load average {load_average()}"
    )
    medians, totals, cpus, outside = [], [], [], []
    for i in range(args.repeats):
        m, tot, cpu, out, n = one_pass(args, tiny, chunks)
        medians.append(m * 100)
        totals.append(tot * 100)
        cpus.append(cpu * 100)
        outside.append(out * 100)
        print(
            f"  pass {i + 1}: {n} chunks; overhead median per chunk {m * 100:+.2f} %, total wall time "
            f"{tot * 100:+.2f} %, total CPU time {cpu * 100:+.2f} %; engine time outside llama.cpp calls "
            f"{out * 100:.2f} %",
            flush=True,
        )
    print(f"overhead of LiveCCEngine vs direct llama.cpp calls, median per chunk: {spread(medians)} %")
    print(f"overhead on total wall time: {spread(totals)} %, on total CPU time: {spread(cpus)} %   (target <= 5 %)")
    print(f"engine time outside llama.cpp calls: {spread(outside)} %   (load average now {load_average()})")
    cost = sampler_cost()
    print(
        f"choosing one token at LiveCC's 152,064-token vocabulary: greedy {cost['greedy']:.2f} ms, "
        f"sampled (top-k 40, top-p 0.9) {cost['sampled']:.2f} ms per token on this CPU"
    )


if __name__ == "__main__":
    main()
