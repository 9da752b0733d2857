"""Synthetic videos with known timestamps, for tests and the CLI's demo.

Every frame shows moving shapes (their positions are functions of time, so
motion stays true in variable-frame-rate files), its own time as text, and the
same time in milliseconds as a row of black/white cells along the bottom, which
:func:`read_stamp` decodes. The cells span fixed fractions of the frame, so the
stamp survives resizing and lossy codecs; tests use it to check which frame a
source or sampler returned.

Constant-frame-rate files use OpenCV's own encoders (``mp4v`` in ``.mp4``,
Motion-JPEG in ``.avi``/``.mkv``). OpenCV cannot give encoded frames arbitrary
times, so variable-frame-rate files are written as Motion-JPEG packets that this
module encodes itself and passes through OpenCV's FFmpeg writer in raw mode with
an explicit presentation time each (``VIDEOWRITER_PROP_PTS``, OpenCV >= 4.11;
FFmpeg backend). Only Matroska (``.mkv``) keeps those times exactly.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np

STAMP_BITS = 24  # milliseconds up to ~4.6 hours
_CELLS = STAMP_BITS + 2  # a white cell first and a black cell last frame the bits
_STRIP = (0.88, 1.0)  # the stamp occupies this band of the frame's height
_CFR_FOURCC = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


def frame_times(seconds: float, fps: float, variable_fps: bool, seed: int = 0) -> list[float]:
    """The presentation times of the frames :func:`write_test_video` writes.

    Constant rate: ``i / fps``. Variable rate: whole ticks of ``1 / fps`` with
    irregular steps of 1 to 3 ticks, and one pause of about 1.2 s in the middle
    (a stalled capture), all below ``seconds``.
    """
    n_ticks = int(math.floor(seconds * fps - 1e-9)) + 1
    if not variable_fps:
        return [i / fps for i in range(n_ticks)]
    rng = np.random.default_rng(seed)
    pause_at, pause = n_ticks // 2, max(2, round(1.2 * fps))
    ticks, tick = [], 0
    while tick < n_ticks:
        ticks.append(tick)
        step = int(rng.integers(1, 4))
        if tick < pause_at <= tick + step:
            step += pause
        tick += step
    return [k / fps for k in ticks]


def draw_frame(t: float, size: tuple[int, int]) -> np.ndarray:
    """The BGR picture for time ``t`` (seconds) at ``size`` = ``(width, height)``."""
    width, height = size
    img = np.empty((height, width, 3), np.uint8)
    img[:] = (40 + int(30 * math.sin(t)), 60, 90 + int(40 * math.cos(t / 3)))
    scene_h = int(height * _STRIP[0])
    cx = int((0.5 + 0.4 * math.sin(2 * math.pi * t / 4.0)) * width)
    cy = int((0.5 + 0.3 * math.cos(2 * math.pi * t / 3.0)) * scene_h)
    cv2.circle(img, (cx, cy), max(4, height // 8), (0, 200, 255), -1)
    rx = int((t * 0.15 % 1.0) * width)
    cv2.rectangle(img, (rx, scene_h // 3), (rx + width // 6, scene_h // 3 + height // 8), (60, 220, 60), -1)
    scale = max(0.4, height / 400)
    cv2.putText(
        img,
        f"t={t:.3f}s",
        (8, int(28 * scale)),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        max(1, int(2 * scale)),
        cv2.LINE_AA,
    )
    _draw_stamp(img, round(t * 1000))
    return img


def _draw_stamp(img: np.ndarray, ms: int) -> None:
    height, width = img.shape[:2]
    y0 = int(round(height * _STRIP[0]))
    bits = [1] + [(ms >> (STAMP_BITS - 1 - i)) & 1 for i in range(STAMP_BITS)] + [0]
    for i, bit in enumerate(bits):
        x0, x1 = round(i * width / _CELLS), round((i + 1) * width / _CELLS)
        img[y0:, x0:x1] = 255 if bit else 0


def read_stamp(image: np.ndarray) -> float | None:
    """The time (seconds) stamped into a frame by :func:`draw_frame`; ``None`` if unreadable.

    Works on RGB or BGR and on resized frames.
    """
    height, width = image.shape[:2]
    y0 = int(height * (_STRIP[0] + 0.25 * (_STRIP[1] - _STRIP[0])))
    y1 = max(y0 + 1, int(height * (_STRIP[0] + 0.75 * (_STRIP[1] - _STRIP[0]))))
    bits = []
    for i in range(_CELLS):
        x0 = int((i + 0.3) * width / _CELLS)
        x1 = max(x0 + 1, int((i + 0.7) * width / _CELLS))
        level = float(image[y0:y1, x0:x1].mean())
        if 64 < level < 192:
            return None
        bits.append(1 if level >= 128 else 0)
    if bits[0] != 1 or bits[-1] != 0:
        return None
    ms = 0
    for bit in bits[1:-1]:
        ms = (ms << 1) | bit
    return ms / 1000.0


def write_test_video(
    path: str | Path,
    seconds: float,
    fps: float = 10.0,
    size: tuple[int, int] = (320, 240),
    variable_fps: bool = False,
    seed: int = 0,
) -> Path:
    """Write a synthetic video of about ``seconds`` s and return its path.

    Args:
        path: ``.mp4``, ``.avi`` or ``.mkv``; variable frame rate needs ``.mkv``.
        seconds: frames are written at times below this.
        fps: frame rate; with ``variable_fps`` the tick of the irregular times.
        size: ``(width, height)``; at least 104 pixels wide so the stamp stays readable.
        variable_fps: irregular frame times, see :func:`frame_times`.
        seed: picks the irregular times.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _CFR_FOURCC:
        raise ValueError(f"unsupported video extension {path.suffix!r}; use .mp4, .avi or .mkv")
    if size[0] < 4 * _CELLS:
        raise ValueError(f"width {size[0]} is too small for the time stamp; use at least {4 * _CELLS}")
    times = frame_times(seconds, fps, variable_fps, seed)
    if variable_fps:
        if suffix != ".mkv":
            raise ValueError("variable frame rate videos must be .mkv (only Matroska keeps the times)")
        _write_vfr(path, times, fps, size)
    else:
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*_CFR_FOURCC[suffix]), fps, size)
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write {suffix} video here")
        for t in times:
            writer.write(draw_frame(t, size))
        writer.release()
    return path


def _write_vfr(path: Path, times: list[float], fps: float, size: tuple[int, int]) -> None:
    if not hasattr(cv2, "VIDEOWRITER_PROP_PTS"):
        raise RuntimeError("variable frame rate needs OpenCV 4.11 or later (VIDEOWRITER_PROP_PTS)")
    writer = cv2.VideoWriter(
        str(path),
        cv2.CAP_FFMPEG,
        cv2.VideoWriter.fourcc(*"MJPG"),
        fps,
        size,
        [cv2.VIDEOWRITER_PROP_RAW_VIDEO, 1],
    )
    if not writer.isOpened():
        raise RuntimeError("OpenCV's FFmpeg writer cannot write raw Motion-JPEG here")
    try:
        for t in times:
            ok, jpeg = cv2.imencode(".jpg", draw_frame(t, size), [cv2.IMWRITE_JPEG_QUALITY, 90])
            if not ok or not writer.set(cv2.VIDEOWRITER_PROP_PTS, round(t * fps)):
                raise RuntimeError("OpenCV could not encode a frame or set its time")
            writer.write(jpeg.reshape(1, -1))
    finally:
        writer.release()


def truncate_video(path: str | Path, fraction: float) -> Path:
    """Cut ``path`` in place to ``fraction`` of its bytes, as a crash or a failed copy would."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within [0, 1], got {fraction}")
    path = Path(path)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(int(size * fraction))
        f.flush()
        os.fsync(f.fileno())
    return path
