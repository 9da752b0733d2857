"""Constant cost over a long generated stream: per-chunk time, memory, positions.

Streams ``--minutes`` of generated video (2 fps, frames at the model size of a
``--source`` frame) through ``LiveCCEngine`` with ``StreamingWindowPolicy`` on
the tiny model, and prints:

* median per-chunk time of the last 10 minutes / the first 10 minutes (wall
  and process CPU time), target <= 1.1;
* resident memory at the end / at 10 minutes, target <= 1.1;
* chunks lost (target 0), the worst single chunk against the median (target
  < 3x), split into re-priming chunks and the others (the others show the
  machine's own noise), and what a re-prime costs;
* the largest position reached against the limit.

``--compare`` feeds every chunk also to an engine with the baseline policy
(``EvictOldestTurns``), interleaved chunk by chunk (alternating which goes
first), so both see the same machine load; it reports the ratio of the two
medians per window and how far the baseline's positions run.

    .venv/bin/python bench/long_stream.py [--minutes 60] [--n-ctx 8192] [--compare] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import csv
import time
from array import array
from dataclasses import dataclass, field

from common import generated_chunks, load_average, median, model_size, rss_mib, tiny_model

from models.engine.context import EvictOldestTurns
from models.engine.livecc_engine import EngineOptions, LiveCCEngine
from models.engine.llama_runtime import RuntimeOptions
from models.engine.records import VideoChunk
from models.engine.streaming_policy import StreamingWindowPolicy, StreamingWindowSettings
from models.engine.token_sampler import SamplingOptions

COLUMNS = (
    "index",
    "t0",
    "wall_ms",
    "cpu_ms",
    "llama_ms",
    "prompt",
    "generated",
    "n_past",
    "cells",
    "reprime_ms",
    "reprime_tokens",
)


@dataclass
class Run:
    """One engine's per-chunk measurements, kept as compact columns so that
    the benchmark's own records do not show up in the memory figure."""

    name: str
    engine: LiveCCEngine
    columns: dict[str, array] = field(default_factory=lambda: {c: array("d") for c in COLUMNS})

    @property
    def rows(self) -> list[dict]:
        return [dict(zip(COLUMNS, values)) for values in zip(*self.columns.values())]

    def last(self, column: str) -> float:
        return self.columns[column][-1]

    def feed(self, chunk: VideoChunk) -> None:
        reprimes = self.engine.reprime_count
        cpu, wall = time.process_time(), time.perf_counter()
        done = self.engine.process(chunk)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        reprimed = self.engine.reprime_count > reprimes
        report = self.engine.reprimes[-1] if reprimed else None
        values = (
            chunk.index,
            chunk.t0,
            wall * 1e3,
            cpu * 1e3,
            done.stats.llama_s * 1e3,
            done.stats.prompt_tokens,
            done.stats.generated_tokens,
            self.engine.n_past,
            self.engine.ledger.used,
            report.seconds * 1e3 if report else 0.0,
            report.tokens_evaluated if report else 0,
        )
        for column, value in zip(COLUMNS, values):
            self.columns[column].append(value)


def window(rows: list[dict], lo: float, hi: float, key: str) -> list[float]:
    return [r[key] for r in rows if lo <= r["t0"] < hi and r["index"] > 0]


def summarize(run: Run, seconds: float, limit: int | None) -> dict:
    rows = run.rows
    steady = [r for r in rows if r["index"] > 0]
    med = median([r["wall_ms"] for r in steady])
    first = median(window(rows, 0, 600, "wall_ms"))
    last = median(window(rows, seconds - 600, seconds + 1, "wall_ms"))
    first_cpu = median(window(rows, 0, 600, "cpu_ms"))
    last_cpu = median(window(rows, seconds - 600, seconds + 1, "cpu_ms"))
    re = [r for r in steady if r["reprime_ms"]]
    plain = [r for r in steady if not r["reprime_ms"]]
    worst = max(steady, key=lambda r: r["wall_ms"])
    out = dict(
        median=med,
        first=first,
        last=last,
        ratio=last / first,
        cpu_ratio=last_cpu / first_cpu,
        worst=worst,
        n_reprimes=len(re),
        max_n_past=max(r["n_past"] for r in rows),
        max_cells=max(r["cells"] for r in rows),
    )
    print(
        f"\n[{run.name}] chunks {len(rows)}; median per chunk {med:.1f} ms "
        f"(inside llama.cpp {median([r['llama_ms'] for r in steady]):.1f} ms)"
    )
    print(
        f"  first 10 min median {first:.1f} ms, last 10 min {last:.1f} ms -> ratio {last / first:.3f} "
        f"(CPU time: {first_cpu:.1f} -> {last_cpu:.1f} ms, ratio {last_cpu / first_cpu:.3f})"
    )
    print(
        f"  worst chunk {worst['wall_ms']:.1f} ms = {worst['wall_ms'] / med:.2f}x median "
        f"(chunk {worst['index']:.0f}, {'re-prime' if worst['reprime_ms'] else 'no re-prime'})"
    )
    if plain:
        w = max(plain, key=lambda r: r["wall_ms"])
        print(
            f"  worst chunk without re-prime {w['wall_ms'] / med:.2f}x median; CPU-time worst "
            f"{max(r['cpu_ms'] for r in plain) / median([r['cpu_ms'] for r in steady]):.2f}x"
        )
    if re:
        re_wall = [r["wall_ms"] for r in re]
        print(
            f"  re-primes: {len(re)}, one per {seconds / len(re) / 60:.1f} min; re-priming chunk median "
            f"{median(re_wall):.1f} ms = {median(re_wall) / med:.2f}x median, worst {max(re_wall) / med:.2f}x "
            f"(CPU {max(r['cpu_ms'] for r in re) / median([r['cpu_ms'] for r in steady]):.2f}x); "
            f"the rebuild itself {median([r['reprime_ms'] for r in re]):.1f} ms for "
            f"{median([r['reprime_tokens'] for r in re]):.0f} tokens"
        )
    lim = f" (limit {limit})" if limit else ""
    print(f"  largest position {out['max_n_past']:.0f}{lim}; most cells used {out['max_cells']:.0f}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--n-ctx", type=int, default=8192)
    ap.add_argument("--source", default="1920x1080", help="source frame size; frames are drawn at its model size")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--reprime-vision-chunks", type=int, default=None)
    ap.add_argument("--compare", action="store_true", help="also run the baseline policy, interleaved")
    ap.add_argument("--csv", help="write per-chunk rows here")
    args = ap.parse_args()

    tiny = tiny_model()
    opts = EngineOptions(
        runtime=RuntimeOptions(n_ctx=args.n_ctx, n_threads=args.threads), sampling=SamplingOptions(greedy=True)
    )
    settings = StreamingWindowSettings.for_context(args.n_ctx)
    if args.reprime_vision_chunks is not None:
        settings = StreamingWindowSettings(settings.vision_chunks, settings.text_tokens, args.reprime_vision_chunks)
    policy = StreamingWindowPolicy(settings)
    runs = [Run("streaming-window", LiveCCEngine(tiny.text_path, tiny.mmproj_path, opts, policy=policy))]
    if args.compare:
        runs.append(
            Run(
                "evict-oldest (baseline)",
                LiveCCEngine(tiny.text_path, tiny.mmproj_path, opts, policy=EvictOldestTurns()),
            )
        )
    limit = policy.position_limit(runs[0].engine.runtime.n_ctx, runs[0].engine.n_ctx_train)
    seconds = args.minutes * 60
    h, w = model_size(args.source)
    print(
        f"tiny model, {args.minutes:.0f} min generated stream, frames {w}x{h}, n_ctx {args.n_ctx}, "
        f"{runs[0].engine.device.describe()}; policy {settings}; load average {load_average()}"
    )

    rss: dict[int, float] = {}
    started = time.perf_counter()
    expected = 1 + (int(round(seconds * 2)) - 6 + 1) // 2
    for chunk in generated_chunks(seconds, args.source):
        order = runs if chunk.index % 2 == 0 else runs[::-1]
        for run in order:
            run.feed(chunk)
        minute = int(chunk.t1 // 60)
        if minute not in rss:
            rss[minute] = rss_mib()
            if minute % 5 == 0:
                r = runs[0]
                print(
                    f"  {minute:3d} min: {time.perf_counter() - started:6.0f} s elapsed, RSS {rss[minute]:.1f} MiB, "
                    f"last chunk {r.last('wall_ms'):.0f} ms, position {r.last('n_past'):.0f}, "
                    f"cells {r.last('cells'):.0f}, load {load_average()}",
                    flush=True,
                )
    end_rss = rss_mib()

    results = [summarize(run, seconds, limit if run is runs[0] else None) for run in runs]
    lost = expected - len(runs[0].columns["index"])
    at10 = rss.get(10, float("nan"))
    print(f"\nchunks lost: {lost} (expected {expected}, processed {len(runs[0].columns['index'])})")
    print(f"RSS at 10 min {at10:.1f} MiB, at the end {end_rss:.1f} MiB -> ratio {end_rss / at10:.3f}")
    if args.compare:
        ours, base = results
        print(
            f"ours / baseline median per chunk: first 10 min {ours['first'] / base['first']:.3f}, "
            f"last 10 min {ours['last'] / base['last']:.3f}; baseline's largest position "
            f"{base['max_n_past']:.0f} vs trained context {runs[0].engine.n_ctx_train}"
        )
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["policy", *runs[0].rows[0]])
            writer.writeheader()
            for run in runs:
                for row in run.rows:
                    writer.writerow({"policy": run.name, **row})
    for run in runs:
        run.engine.close()


if __name__ == "__main__":
    main()
