"""Run fuzz cases through ``livecc-desk commentate``; one JSON line of outcome per case.

Usage: ``python tests/models/fuzz_driver.py CASES.json RESULTS.jsonl`` (run as a child
process by ``test_fuzz_model_files.py``; never imported by pytest).

Each case names a model, an mmproj and a video, some of them damaged. A case whose
model pair our own validation (``check_model_pair``, pure Python) already rejects
runs the real CLI entry point ``app.cli.main.main`` in this process: llama.cpp
never sees the files, so nothing can crash, and one process start serves many
cases. Every other case (the pair passed validation, so llama.cpp loads it; or the
video is damaged, which OpenCV/FFmpeg decode) runs the CLI in its own child process
with a timeout, so a crash or a hang there is recorded, not suffered. Before each
case a ``start`` line is written, so if this driver itself dies the last case it
began is known.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli_args(case: dict) -> list[str]:
    return [
        "commentate",
        case["video"],
        "--model",
        case["model"],
        "--mmproj",
        case["mmproj"],
        "--greedy",
        "--max-new-tokens",
        "2",
    ]


def run_in_process(case: dict) -> dict:
    from app.cli.main import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(cli_args(case))
        except SystemExit as exc:  # argparse and friends
            rc = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001 - an escaped exception is what the fuzz looks for
            import traceback

            traceback.print_exc(file=err)
            rc = 1
    return {"rc": rc, "stderr": err.getvalue(), "where": "in-process"}


def run_child(case: dict, timeout_s: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "app.cli", *cli_args(case)],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s,
            env=env,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return {"rc": None, "stderr": stderr, "where": "child", "timeout": True}
    return {"rc": result.returncode, "stderr": result.stderr, "where": "child"}


def rejected_by_validation(case: dict) -> bool:
    from models.engine.gguf_check import check_model_pair
    from models.errors import ModelError

    if case.get("damaged") == "video":
        return False
    try:
        check_model_pair(case["model"], case["mmproj"])
    except ModelError:
        return True
    return False


def main(cases_path: str, results_path: str) -> int:
    cases = json.loads(Path(cases_path).read_text())
    timeout_s = float(os.environ.get("LIVECC_FUZZ_TIMEOUT", "90"))
    with open(results_path, "a", encoding="utf-8") as out:
        for case in cases:
            out.write(json.dumps({"start": case["id"]}) + "\n")
            out.flush()
            outcome = run_in_process(case) if rejected_by_validation(case) else run_child(case, timeout_s)
            out.write(json.dumps({"id": case["id"], **outcome}) + "\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
