"""Can capture and decoding feed the model's 2 frames per second, and at what CPU cost?

* Screen: mss grabs of a 1920x1080 X display (``app.sources.screen_source.grab_rgb``:
  grab + BGRA->RGB), then the sampler's antialiased bicubic resize
  (``app.pipeline.sampling.resize_rgb``) to the model size, 728x392. With no display,
  the script starts ``Xvfb`` on a free display number for the run.
* File: ``FileSource`` -> ``FrameSampler`` (2 fps, resize) on generated 1080p
  30 fps files: MPEG-4 part 2 (``mp4v``, OpenCV's own encoder) and H.264
  (what cameras and streaming sites produce; transcoded with the ffmpeg that
  ``imageio-ffmpeg`` ships, since OpenCV's wheel has no H.264 encoder).

Printed: frames per second each stage sustains on one core, and that rate
against the 2 fps the model needs (live screen capture grabs at 8 fps and
resizes 2 of them a second; a file decodes every frame and resizes 2 per
second of video).

    .venv/bin/python bench/capture_decode.py [--seconds 10] [--grabs 60]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import load_average, model_size

from app.pipeline.sampling import FrameSampler, resize_rgb
from app.sources.file_source import FileSource
from app.sources.synthetic import write_test_video

NEEDED_FPS = 2.0
CAPTURE_FPS = 8.0  # app.sources.live.DEFAULT_CAPTURE_FPS


def start_xvfb() -> subprocess.Popen | None:
    """A 1920x1080 virtual display when none is set; ``None`` when one exists."""
    if os.environ.get("DISPLAY"):
        return None
    xvfb = shutil.which("Xvfb")
    if not xvfb:
        raise SystemExit("No DISPLAY and no Xvfb: install it (apt-get install xvfb) or run under a display.")
    for n in range(90, 110):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            break
    proc = subprocess.Popen(
        [xvfb, f":{n}", "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.environ["DISPLAY"] = f":{n}"
    for _ in range(50):
        if Path(f"/tmp/.X11-unix/X{n}").exists():
            break
        time.sleep(0.1)
    return proc


def rate(n: int, seconds: float) -> str:
    fps = n / seconds
    return f"{fps:7.1f} fps = {fps / NEEDED_FPS:6.1f}x the 2 fps needed"


def bench_screen(grabs: int) -> None:
    from app.sources.screen_source import Rect, grab_rgb, open_mss

    h, w = model_size("1920x1080")
    with open_mss() as sct:
        mon = sct.monitors[1]
        rect = Rect(mon["left"], mon["top"], mon["width"], mon["height"])
        grab_rgb(sct, rect)
        t = time.perf_counter()
        for _ in range(grabs):
            rgb = grab_rgb(sct, rect)
        grab_s = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(grabs):
            resize_rgb(rgb, h, w)
        resize_s = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(grabs):
            resize_rgb(grab_rgb(sct, rect), h, w)
        both_s = time.perf_counter() - t
    per_grab, per_resize = grab_s / grabs, resize_s / grabs
    busy = CAPTURE_FPS * per_grab + NEEDED_FPS * per_resize
    print(f"screen {rect.width}x{rect.height} (Xvfb) -> {w}x{h}:")
    print(f"  mss grab + BGRA->RGB      {per_grab * 1e3:6.1f} ms  {rate(grabs, grab_s)}")
    print(f"  resize (antialiased)      {per_resize * 1e3:6.1f} ms  {rate(grabs, resize_s)}")
    print(f"  grab + resize             {both_s / grabs * 1e3:6.1f} ms  {rate(grabs, both_s)}")
    print(f"  live use (grab at {CAPTURE_FPS:.0f} fps, resize 2 a second): {busy * 100:.0f} % of one core")


def to_h264(src: Path, dst: Path) -> Path:
    """``src`` transcoded to H.264 (libx264, yuv420p) with imageio-ffmpeg's static ffmpeg."""
    import imageio_ffmpeg

    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-v",
        "error",
        "-y",
        "-i",
        str(src),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "20",
        "-pix_fmt",
        "yuv420p",
        str(dst),
    ]
    subprocess.run(cmd, check=True)
    return dst


def bench_file(path: Path, label: str, seconds: float) -> None:
    t = time.perf_counter()
    decoded = 0
    with FileSource(path) as source:

        def counted():
            nonlocal decoded
            for frame in source.frames():
                decoded += 1
                yield frame

        sampled = sum(1 for _ in FrameSampler().sample(counted()))
    wall = time.perf_counter() - t
    print(f"file {label}: {decoded} frames decoded, {sampled} sampled and resized in {wall:.2f} s")
    print(
        f"  decode + sample + resize  {rate(sampled, wall)}  (stream time {seconds / wall:.1f}x real time, "
        f"decoding {decoded / wall:.0f} fps)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the generated 1080p files")
    ap.add_argument("--grabs", type=int, default=60)
    ap.add_argument("--skip-screen", action="store_true")
    args = ap.parse_args()
    print(f"load average {load_average()}; {os.cpu_count()} cores")
    if not args.skip_screen:
        xvfb = start_xvfb()
        try:
            bench_screen(args.grabs)
        finally:
            if xvfb is not None:
                xvfb.terminate()
                xvfb.wait()
    with tempfile.TemporaryDirectory() as tmp:
        mp4 = write_test_video(Path(tmp) / "clip.mp4", seconds=args.seconds, fps=30, size=(1920, 1080))
        bench_file(mp4, "1920x1080 30 fps mp4v", args.seconds)
        try:
            h264 = to_h264(mp4, Path(tmp) / "clip-h264.mp4")
        except (ImportError, OSError, subprocess.CalledProcessError) as exc:
            print(f"file H.264: skipped ({exc})")
        else:
            bench_file(h264, "1920x1080 30 fps H.264", args.seconds)
    print(f"load average now {load_average()}")


if __name__ == "__main__":
    main()
