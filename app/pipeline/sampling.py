"""Frame choice and resizing, the way LiveCC feeds Qwen2-VL.

Two decisions live here:

* **Which frames.** Frames are chosen on a fixed 2 fps grid of target times
  ``t_k = t_first + k / fps``; for each target the first decoded frame whose
  timestamp is at or after it is taken. This is what the LiveCC release does
  (``demo/infer.py`` keeps the last *target* time, and training's
  ``_read_video_decord_plus(strict_fps=True)`` uses the same grid). Anchoring on
  the targets, not on the time of the frame last taken, keeps exactly two frames
  per second of stream: anchoring on the frame's own time would add up to one
  frame interval per step (29.97 fps video would be sampled at ~1.94 fps).
  When the stream has a gap (variable frame rate, dropped webcam frames) the
  next frame after the gap stands for every target inside it, as in LiveCC, so
  one chunk always covers one second of stream.
* **Which size.** Qwen2-VL's "smart resize" (both sides multiples of 28, area
  within ``[min_pixels, max_pixels]``), with the antialiased bicubic filter that
  ``torchvision.transforms.functional.resize(..., BICUBIC, antialias=True)``
  and Pillow use. OpenCV's ``INTER_CUBIC`` does not widen its kernel when it
  shrinks, so it aliases; ``INTER_AREA`` antialiases but is a box filter.
  Pillow computes it (:func:`resize_rgb`), one axis at a time in torchvision's
  order: ~19 ms per 1080p frame on a slow 2-core machine (a numpy version of
  the same filter took ~66 ms), on two frames a second, only on those chosen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np
from PIL import Image

from models.engine.defaults import MAX_PIXELS, MIN_PIXELS, PIXEL_FACTOR
from models.engine.records import Frame

FACTOR = PIXEL_FACTOR
MAX_RATIO = 200
_EPS = 1e-6  # seconds; absorbs float noise in container timestamps


def smart_resize(
    height: int,
    width: int,
    factor: int = FACTOR,
    min_pixels: int = MIN_PIXELS,
    max_pixels: int = MAX_PIXELS,
) -> tuple[int, int]:
    """The ``(height, width)`` Qwen2-VL resizes a ``height x width`` picture to.

    Same rule and rounding as ``qwen_vl_utils.smart_resize`` (Python's
    ``round``, i.e. half to even): each side rounded to a multiple of
    ``factor``; if the area is over ``max_pixels`` both sides are scaled down by
    ``sqrt(area / max_pixels)`` and floored, if under ``min_pixels`` scaled up
    and ceiled.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"picture size must be positive, got {height}x{width}")
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_RATIO:
        raise ValueError(f"absolute aspect ratio must be smaller than {MAX_RATIO}, got {ratio:.1f}")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def resize_rgb(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """``rgb`` (H x W x 3 uint8) resized to ``height x width``, antialiased bicubic.

    Keys cubic (a = -0.5) with the kernel stretched by the scale when
    shrinking, rounded to uint8 after each pass: horizontal first, then
    vertical, as torchvision's uint8 path. Each pass is one Pillow resize
    along one axis (Pillow alone may take the vertical pass first).
    """
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    if image.width != width:
        image = image.resize((width, image.height), Image.Resampling.BICUBIC)
    if image.height != height:
        image = image.resize((width, height), Image.Resampling.BICUBIC)
    return np.array(image)  # a writable copy, as the callers got before


def resize_frame(frame: Frame, height: int, width: int) -> Frame:
    """``frame`` at ``height x width`` (the same object if it is that size already)."""
    if frame.height == height and frame.width == width and frame.rgb.flags.c_contiguous:
        return frame
    return Frame(frame.t, resize_rgb(frame.rgb, height, width))


class FrameSampler:
    """Picks frames at ``fps`` on a fixed time grid and resizes them for the model.

    The grid starts at the first frame's time. Each emitted frame carries its
    target time: the instant it stands for, which is what LiveCC writes in the
    ``Time=a-bs`` labels. All frames of a stream get one size, computed from the
    first frame; a later frame of another size (a resized window) is resized to
    it too.

    Args:
        fps: frames per second of stream time to keep (LiveCC: 2).
        max_pixels: upper bound of height x width after resizing.
        min_pixels: lower bound of height x width after resizing.
    """

    def __init__(self, fps: float = 2.0, max_pixels: int = MAX_PIXELS, min_pixels: int = MIN_PIXELS) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if min_pixels > max_pixels:
            raise ValueError(f"min_pixels {min_pixels} is above max_pixels {max_pixels}")
        self.fps = fps
        self.max_pixels = max_pixels
        self.min_pixels = min_pixels
        self.size: tuple[int, int] | None = None  # (height, width), set by the first frame

    def sample(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """Yield the chosen frames, resized, each with its target time."""
        origin: float | None = None
        k = 0
        for frame in frames:
            if origin is None or self.size is None:
                origin = frame.t
                self.size = smart_resize(frame.height, frame.width, FACTOR, self.min_pixels, self.max_pixels)
            size = self.size
            resized: Frame | None = None
            while origin + k / self.fps <= frame.t + _EPS:
                if resized is None:
                    resized = resize_frame(frame, *size)
                yield Frame(origin + k / self.fps, resized.rgb)
                k += 1
