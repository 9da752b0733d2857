"""How long a decoded word takes to show on the browser-source page (target: under 100 ms).

A real overlay server feeds a real headless Chromium (Debian's ``chromium``, driven over
the DevTools protocol) one word at a time, as the engine decodes them. The page, opened
with ``?trace=1``, records when it put each word in the DOM and when the frame after it
was painted (two animation frames later), on the same wall clock as this script. The
delay is page time minus the moment ``OverlayServer.handle`` was called.

Usage: python bench/overlay_latency.py [--words 200] [--interval-ms 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.sinks.overlay_server import OverlayServer  # noqa: E402
from models.engine.records import ChunkStarted, CommentaryDelta  # noqa: E402
from tests.real_programs import Chromium, missing  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=200)
    parser.add_argument("--interval-ms", type=float, default=60.0, help="time between words (a token every ~60 ms)")
    args = parser.parse_args()
    reason = missing("chromium")
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    browser = Chromium()
    try:
        with OverlayServer(port=0) as server:
            browser.open(server.url + "?trace=1&fade=0")
            browser.wait_for("window.liveccTrace && window.liveccTrace.length >= 1")  # the snapshot arrived
            sent: list[float] = []
            for i in range(args.words):
                if i % 16 == 0:
                    server.handle(ChunkStarted(i // 16, float(i // 16), i // 16 + 1.0))
                sent.append(time.time() * 1000)
                server.handle(CommentaryDelta(0.0, 1.0, f" w{i}"))
                time.sleep(args.interval_ms / 1000)
            browser.wait_for(
                f"window.liveccTrace.filter(e => e.type === 'delta').length >= {args.words}"
                " && window.liveccTrace[window.liveccTrace.length - 1].painted"
            )
            trace = [e for e in browser.evaluate("window.liveccTrace") if e["type"] == "delta"]
    finally:
        browser.close()
    by_word = {e["text"]: e for e in trace}
    shown = [by_word[f" w{i}"]["shown"] - t for i, t in enumerate(sent)]
    painted = [by_word[f" w{i}"]["painted"] - t for i, t in enumerate(sent)]

    def line(name: str, values: list[float]) -> str:
        q = statistics.quantiles(values, n=20)
        return (
            f"{name:<28} median {statistics.median(values):6.1f} ms   p95 {q[18]:6.1f} ms   max {max(values):6.1f} ms"
        )

    print(f"overlay page latency over {args.words} words ({args.interval_ms:.0f} ms apart), headless Chromium")
    print(line("decoded word -> in the DOM", shown))
    print(line("decoded word -> painted", painted))
    return 0


if __name__ == "__main__":
    sys.exit(main())
