"""Reading back the videos the tests wrote: every frame, decoded as a player would."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def decoded_frames(path: str | Path) -> list[np.ndarray]:
    """Every frame of ``path`` as RGB, in order (FFmpeg through OpenCV)."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames = []
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                return frames
            frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
