"""Soak the desktop app: the real window commentating a moving screen pattern for half an hour.

Starts its own Xvfb, opens the real main window (real engine child, the tiny
model unless ``--model``/``--mmproj`` are given) on a region of the screen where
a window paints a moving, time-stamped pattern, presses Start as a user would,
and samples every ``--every`` seconds:

- resident memory (RSS) of the GUI process and of the engine child,
- open file descriptors and threads of both,
- chunks commentated: as events in the window, as lines in the transcript
  panel, and as lines of the JSONL transcript on disk (none may be lost).

It prints one line per sample and, at the end, the last/first ratios (first =
the first sample after ``--warmup`` seconds), which must stay within 1.1.

    .venv/bin/python bench/gui_soak.py                  # 30 minutes, tiny model
    .venv/bin/python bench/gui_soak.py --minutes 5      # a quick look
    .venv/bin/python bench/gui_soak.py --json soak.json # also keep the samples
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# -- /proc readings ---------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """RSS (MB), threads and open file descriptors of ``pid`` (Linux)."""
    fields = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Threads"):
                fields[key] = int(value.split()[0])
    return {
        "rss_mb": round(fields["VmRSS"] / 1024),
        "threads": fields["Threads"],
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def jsonl_lines(folder: Path) -> int:
    return sum(sum(1 for line in p.open("rb") if line.strip()) for p in folder.glob("*.jsonl"))


# -- the scenario (runs on the Xvfb display) --------------------------------------------------


def scenario(args: argparse.Namespace) -> None:
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    from PySide6.QtWidgets import QApplication

    from app.settings import Settings, SettingsStore
    from models.engine.records import ChunkDone
    from tests.ui.xvfb_scenarios import PatternWindow, _pump, _pump_until
    from ui.engine_bridge import EngineBridge
    from ui.main_window import MainWindow

    work = Path(tempfile.mkdtemp(prefix="livecc-soak-"))
    app = QApplication([])
    pattern = PatternWindow("LiveCC soak pattern")
    pattern.setGeometry(700, 60, 480, 360)
    pattern.show()
    _pump(app, 1.0)
    g = pattern.geometry()
    s = Settings().replace("model", model_path=args.model, mmproj_path=args.mmproj, n_ctx=args.n_ctx)
    s = s.replace("commentary", greedy=True)
    s = s.replace(
        "capture", kind="region", region=(g.x(), g.y(), g.width(), g.height()), transcript_dir=str(work / "transcripts")
    )
    store = SettingsStore(work / "config")
    store.save(s)
    window = MainWindow(store, store.load(), EngineBridge(work / "logs"))
    window.setGeometry(0, 0, 680, 700)
    window.show()
    chunks: list[ChunkDone] = []
    window.bridge.engineEvent.connect(lambda e: isinstance(e, ChunkDone) and chunks.append(e))
    window.load_model(window.model_panel.current())
    _pump_until(app, lambda: window.bridge.state.value == "ready", 300)
    window.start()
    _pump_until(app, lambda: window.running, 30)

    samples = []
    started = time.monotonic()
    end = started + args.minutes * 60
    while time.monotonic() < end and window.running:
        _pump(app, args.every)
        gui, engine = proc_status(os.getpid()), proc_status(window.bridge.host.pid)
        sample = {
            "t_s": round(time.monotonic() - started),
            "chunks": len(chunks),
            "panel_chunks": len(window.transcript.chunks),
            "jsonl_lines": jsonl_lines(work / "transcripts"),
            **{f"gui_{k}": v for k, v in gui.items()},
            **{f"engine_{k}": v for k, v in engine.items()},
        }
        samples.append(sample)
        print(json.dumps(sample), flush=True)
    running = window.running
    window.stop()
    _pump_until(app, lambda: not window.running, 60)
    lines_after_stop = jsonl_lines(work / "transcripts")
    result = {
        "samples": samples,
        "still_running_at_end": running,
        "chunks": len(chunks),
        "jsonl_lines": lines_after_stop,
        "panel_chunks": len(window.transcript.chunks),
    }
    window.close()
    _pump(app, 0.5)
    shutil.rmtree(work, ignore_errors=True)
    Path(args.result).write_text(json.dumps(result))


# -- the driver -------------------------------------------------------------------------------


def report(result: dict, warmup_s: float) -> bool:
    samples = result["samples"]
    settled = [s for s in samples if s["t_s"] >= warmup_s] or samples
    if len(settled) < 2:
        print("error: too few samples; run longer", file=sys.stderr)
        return False
    first, last = settled[0], settled[-1]
    ok = True
    print(
        f"\n{last['t_s'] / 60:.1f} min, {result['chunks']} chunks "
        f"({result['chunks'] / max(1, last['t_s']):.2f} per s), first = sample at {first['t_s']} s"
    )
    for key in ("gui_rss_mb", "engine_rss_mb", "gui_fds", "engine_fds", "gui_threads", "engine_threads"):
        ratio = last[key] / max(1, first[key])
        peak = max(s[key] for s in settled)
        flat = ratio <= 1.1
        ok &= flat
        print(
            f"  {key:15s} first {first[key]:6d}  last {last[key]:6d}  peak {peak:6d}  last/first {ratio:.3f}"
            f"{'' if flat else '  <-- grew'}"
        )
    lost = result["chunks"] - result["jsonl_lines"]
    print(
        f"  transcript: {result['chunks']} chunks heard, {result['jsonl_lines']} JSONL lines on disk, "
        f"{result['panel_chunks']} in the panel; lost: {lost}"
    )
    ok &= lost == 0 and result["panel_chunks"] == result["chunks"] and result["still_running_at_end"]
    print("PASS" if ok else "FAIL")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples (default 30)")
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds before the first compared sample")
    parser.add_argument("--model", default=None, help="text GGUF (default: the tiny test model)")
    parser.add_argument("--mmproj", default=None)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--json", default=None, help="also write the samples here")
    parser.add_argument("--scenario", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scenario:
        scenario(args)
        return 0
    if shutil.which("Xvfb") is None:
        sys.exit("error: Xvfb is not installed (apt-get install xvfb)")
    work = Path(tempfile.mkdtemp(prefix="livecc-soak-driver-"))
    if args.model is None:
        from models.tiny_model import make_tiny_model

        tiny = make_tiny_model(work / "tiny")
        args.model, args.mmproj = str(tiny.text_path), str(tiny.mmproj_path)
    from tests.real_programs import Xvfb

    try:
        server = Xvfb("1280x800x24")
    except RuntimeError as exc:
        sys.exit(f"error: {exc}")
    display = server.display
    result_path = work / "result.json"
    try:
        env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb")
        cmd = [
            sys.executable,
            __file__,
            "--scenario",
            "--result",
            str(result_path),
            "--minutes",
            str(args.minutes),
            "--every",
            str(args.every),
            "--model",
            args.model,
            "--mmproj",
            args.mmproj,
            "--n-ctx",
            str(args.n_ctx),
        ]
        subprocess.run(cmd, env=env, check=True, timeout=args.minutes * 60 + 900)
    finally:
        server.stop()
    result = json.loads(result_path.read_text())
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    ok = report(result, args.warmup)
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
