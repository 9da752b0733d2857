"""Fuzz what users hand us: damaged model files and videos through ``livecc-desk commentate``.

Seeded byte flips and truncations of the tiny model pair (the GGUF header, its
metadata, its tensor index and its tensor data, in the text model and in the
mmproj) and of a small video. Every case runs the real CLI, isolated from pytest
(``fuzz_driver.py``: cases our validation rejects run the CLI entry point in a
driver child process; cases that reach llama.cpp or FFmpeg each run the CLI in
their own child with a timeout). Each must end in success (exit 0) or a clean
exit 2 with one ``error:`` line and no traceback; a crash, a traceback or a hang
fails the test with the case's seed, file and offset.

Reproduce a case: ``LIVECC_FUZZ_ONLY=<case id>`` runs only it; ``LIVECC_FUZZ_SEED``
changes the seed, ``LIVECC_FUZZ_CASES`` the number of cases per kind (default 60).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import gguf
import pytest

from app.sources.synthetic import write_test_video

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("fuzz_driver.py")
SEED = int(os.environ.get("LIVECC_FUZZ_SEED", "20240612"))
N_CASES = int(os.environ.get("LIVECC_FUZZ_CASES", "60"))
WORKERS = 2
BATCH = 15  # cases per driver process


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  # text-flip, mmproj-flip, truncate, video
    target: str  # text, mmproj, video
    op: str  # flip, truncate
    region: str
    offset: int
    xor: int = 0


def gguf_regions(path: Path) -> dict[str, tuple[int, int]]:
    """Byte ranges of a GGUF: fixed header, key/value metadata, tensor index, tensor data."""
    reader = gguf.GGUFReader(path)
    index = min(int(t.field.offset) for t in reader.tensors)
    return {
        "header": (0, 24),
        "metadata": (24, index),
        "tensor-index": (index, int(reader.data_offset)),
        "tensor-data": (int(reader.data_offset), path.stat().st_size),
    }


def video_regions(path: Path) -> dict[str, tuple[int, int]]:
    size = path.stat().st_size
    return {"start": (0, min(1024, size)), "middle": (1024, size - 1024), "end": (size - 1024, size)}


def make_cases(regions: dict[str, dict[str, tuple[int, int]]], seed: int, n: int) -> list[Case]:
    rng = random.Random(seed)
    cases: list[Case] = []

    def add(kind: str, target: str, op: str, i: int, slot: int | None = None) -> None:
        names = sorted(regions[target])
        region = names[(i if slot is None else slot) % len(names)]
        lo, hi = regions[target][region]
        offset = rng.randrange(lo, hi)
        xor = rng.randrange(1, 256) if op == "flip" else 0
        cases.append(Case(f"{kind}-{seed}-{i}", kind, target, op, region, offset, xor))

    for i in range(n):
        add("text-flip", "text", "flip", i)
        add("mmproj-flip", "mmproj", "flip", i)
        add("truncate", "text" if i % 2 else "mmproj", "truncate", i, i // 2)
        add("video", "video", "flip" if i % 3 else "truncate", i)
    return cases


def damage(src: Path, dst: Path, case: Case) -> None:
    data = bytearray(src.read_bytes())
    if case.op == "flip":
        data[case.offset] ^= case.xor
    else:
        del data[case.offset :]
    dst.write_bytes(bytes(data))


def outcome(result: dict) -> str:
    if result.get("timeout"):
        return "hang"
    rc, stderr = result["rc"], result["stderr"]
    if rc is not None and rc < 0:
        return "crash"
    if "Traceback" in stderr:
        return "traceback"
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    if rc == 0:
        return "success"
    if rc == 2 and len(errors) == 1:
        return "clean error"
    return "traceback"  # any other exit: an unhandled failure


@pytest.fixture(scope="module")
def fuzz_inputs(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    clip = write_test_video(folder / "clip.mp4", seconds=3.5, fps=4.0, size=(112, 84))
    return {"text": tiny_model.text_path, "mmproj": tiny_model.mmproj_path, "video": clip}


def run_batches(batches: list[list[dict]], folder: Path) -> dict[str, dict]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def run(i_batch: tuple[int, list[dict]]) -> list[dict]:
        i, batch = i_batch
        cases_path, results_path = folder / f"batch{i}.json", folder / f"batch{i}.jsonl"
        cases_path.write_text(json.dumps(batch))
        timeout = 120 + 60 * len(batch)
        try:
            done = subprocess.run(
                [sys.executable, str(DRIVER), str(cases_path), str(results_path)],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                cwd=ROOT,
            )
            driver_rc, driver_err = done.returncode, done.stderr
        except subprocess.TimeoutExpired:
            driver_rc, driver_err = None, "driver timed out"
        lines = [json.loads(line) for line in results_path.read_text().splitlines()] if results_path.exists() else []
        results = [r for r in lines if "id" in r]
        finished = {r["id"] for r in results}
        for case in batch:  # the driver died in this case (or before it)
            if case["id"] not in finished:
                results.append(
                    {
                        "id": case["id"],
                        "rc": driver_rc if driver_rc is not None and driver_rc < 0 else 1,
                        "stderr": f"Traceback? fuzz driver ended (exit {driver_rc}): {driver_err[-2000:]}",
                        "timeout": driver_rc is None,
                        "where": "driver",
                    }
                )
                break
        return results

    out: dict[str, dict] = {}
    with ThreadPoolExecutor(WORKERS) as pool:
        for results in pool.map(run, enumerate(batches)):
            out.update({r["id"]: r for r in results})
    return out


def test_damaged_model_files_and_videos_fail_cleanly(fuzz_inputs, tmp_path):
    regions = {
        "text": gguf_regions(fuzz_inputs["text"]),
        "mmproj": gguf_regions(fuzz_inputs["mmproj"]),
        "video": video_regions(fuzz_inputs["video"]),
    }
    cases = make_cases(regions, SEED, N_CASES)
    only = os.environ.get("LIVECC_FUZZ_ONLY")
    if only:
        cases = [c for c in cases if c.id in only.split(",")]
    jobs = []
    for case in cases:
        folder = tmp_path / case.id
        folder.mkdir()
        paths = {k: fuzz_inputs[k] for k in ("text", "mmproj", "video")}
        damaged = folder / Path(paths[case.target]).name
        damage(Path(paths[case.target]), damaged, case)
        paths[case.target] = damaged
        jobs.append(
            {
                "id": case.id,
                "model": str(paths["text"]),
                "mmproj": str(paths["mmproj"]),
                "video": str(paths["video"]),
                "damaged": case.target,
            }
        )
    # Interleave kinds so both workers get a mix of slow (llama.cpp, video) and fast cases.
    batches = [jobs[i : i + BATCH] for i in range(0, len(jobs), BATCH)]
    results = run_batches(batches, tmp_path)

    by_case = {c.id: c for c in cases}
    counts: dict[str, Counter] = {}
    failures = []
    for case_id, result in results.items():
        case = by_case[case_id]
        kind = outcome(result)
        counts.setdefault(case.kind, Counter())[kind] += 1
        if kind not in ("success", "clean error"):
            tail = " | ".join(result["stderr"].strip().splitlines()[-3:])[-400:]
            failures.append(
                f"{kind}: {case.id} ({case.op} {case.target} {case.region} at offset {case.offset}"
                f"{f' xor 0x{case.xor:02x}' if case.op == 'flip' else ''}, rc {result['rc']}): {tail}"
            )
    summary = "; ".join(
        f"{kind}: {sum(c.values())} cases, " + ", ".join(f"{k} {v}" for k, v in sorted(c.items()))
        for kind, c in sorted(counts.items())
    )
    print(f"\nfuzz (seed {SEED}): {summary}")
    report = tmp_path / "fuzz-report.json"
    report.write_text(
        json.dumps(
            {
                "seed": SEED,
                "counts": {k: dict(v) for k, v in counts.items()},
                "failures": failures,
                "cases": [asdict(c) for c in cases],
            },
            indent=1,
        )
    )
    assert len(results) == len(cases), f"{len(cases) - len(results)} cases never ran"
    assert not failures, f"{len(failures)} of {len(cases)} cases failed ({summary}):\n" + "\n".join(failures)
    if not only:
        assert all(sum(counts[k].values()) >= N_CASES for k in ("text-flip", "mmproj-flip", "truncate", "video"))
