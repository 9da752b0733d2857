"""Frames of a video file, with each frame's own presentation time.

Timing comes from ``CAP_PROP_POS_MSEC`` read right after each ``read()``. With
the FFmpeg backend (seen on OpenCV 4.10, 4.11 and 5.0; ``tests/app/sources/test_file_source.py``
checks it by reading back the time drawn into every frame) that is the presentation time
of the frame just returned, also in variable-frame-rate files. The container's
frame count and frame rate are not trusted: they are derived from the duration
for some formats and wrong for others. The frame rate is used only to estimate
times when a file has none (or they stop increasing), and the count only for
``duration_hint``.

Seeking by time lands on a nearby frame, sometimes before the target and, in
variable-frame-rate files, sometimes after it. So a start time is reached by
seeking a little before it and decoding forward; if the seek still lands after
it, the file is decoded from its beginning, which is slow but always right.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from app.errors import SourceError, VideoOpenError
from app.sources.base import SourceMixin
from models.engine.records import Frame

SEEK_MARGIN_S = 1.0  # seek this far before the start, then decode forward
TRUNCATION_SLACK_S = 1.0  # a stream ending this much before the container's duration is damaged
FALLBACK_FPS = 30.0  # only for files whose frames carry no usable time
_EPS = 1e-6


def _to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class FileSource(SourceMixin):
    """Frames of the video file ``path`` from ``start`` up to (not including) ``end``.

    Frame times are the file's own times in seconds, whatever ``start`` is.
    ``duration_hint`` (seconds, or ``None``) is the container's claim of the
    whole file's length, known after :meth:`open`; it is for progress bars only.

    Args:
        path: the video file.
        start: seconds into the file of the first frame to yield.
        end: stop before the first frame at or after this time; ``None`` for the end.
    """

    is_live = False

    def __init__(self, path: str | Path, start: float = 0.0, end: float | None = None) -> None:
        super().__init__()
        if not math.isfinite(start) or start < 0:
            raise SourceError(f"The start time must be 0 s or later, got {start} s.")
        if end is not None and not end > start:
            raise SourceError(f"The end time ({end} s) must be after the start time ({start} s).")
        self.path = Path(path)
        self.start = float(start)
        self.end = None if end is None else float(end)
        self.duration_hint: float | None = None
        self._cap: cv2.VideoCapture | None = None
        self._first: Frame | None = None
        self._last_t: float | None = None
        self._fps = FALLBACK_FPS
        self._estimating = False

    # -- opening -----------------------------------------------------------------

    def open(self) -> None:
        """Open the file and decode the first frame to yield; raise :class:`VideoOpenError` if none."""
        if self._cap is not None:
            return
        if not self.path.exists():
            raise VideoOpenError(f"Video file not found: {self.path}")
        if self.path.is_dir():
            raise VideoOpenError(f"{self.path} is a folder, not a video file: choose a video file.")
        if not self.path.is_file():  # a FIFO or a device would block the decoder forever
            raise VideoOpenError(
                f"{self.path} is not a regular file (a pipe, socket or device): save the video to a file and open that."
            )
        if not os.access(self.path, os.R_OK):
            raise VideoOpenError(f"Cannot read {self.path}: permission denied. Check the file's permissions.")
        try:
            self._capture()
            self._read_metadata()
            self._first = self._seek_first()
        except BaseException:
            self.close()
            raise

    def _capture(self) -> None:
        # FFmpeg first: other backends (the image-sequence reader) give no frame times.
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise VideoOpenError(
                f"Cannot open {self.path} as a video: it is not a video file, or it is damaged "
                "or in a format this build cannot read. Try an MP4, MKV, AVI, MOV or WebM file."
            )
        self._cap = cap
        self._last_t = None

    @property
    def _video(self) -> cv2.VideoCapture:
        """The open capture; used only between :meth:`open` and :meth:`close`."""
        assert self._cap is not None, "the file source is not open"
        return self._cap

    def _read_metadata(self) -> None:
        fps = self._video.get(cv2.CAP_PROP_FPS)
        count = self._video.get(cv2.CAP_PROP_FRAME_COUNT)
        sane_fps = math.isfinite(fps) and 1.0 <= fps <= 1000.0
        self._fps = fps if sane_fps else FALLBACK_FPS
        if sane_fps and math.isfinite(count) and 0 < count < 1e9:
            self.duration_hint = count / fps

    def _seek_first(self) -> Frame:
        """The first frame at or after ``start``."""
        seek_to = self.start - SEEK_MARGIN_S
        frame = None
        if seek_to > 0:
            self._video.set(cv2.CAP_PROP_POS_MSEC, seek_to * 1000.0)
            frame = self._read()
            if frame is None or frame.t <= 0 or frame.t > self.start + _EPS:
                # Landed after the start, past the end, or lost the times: start over.
                self._video.release()
                self._capture()
                frame = None
        if frame is None:
            frame = self._read()
            if frame is None:
                raise VideoOpenError(
                    f"{self.path} has no video frame that can be decoded: the file is damaged "
                    "or its codec is not supported."
                )
        last_t = frame.t
        while frame is not None and frame.t < self.start - _EPS:
            last_t = frame.t
            frame = self._read()
        if frame is None:
            raise VideoOpenError(
                f"The start time {self.start:.1f} s is past the end of {self.path} "
                f"(its last frame is at {last_t:.1f} s): choose an earlier start."
            )
        if self.end is not None and frame.t >= self.end - _EPS:
            raise VideoOpenError(
                f"{self.path} has no frame between {self.start:.1f} s and {self.end:.1f} s: choose a longer span."
            )
        return frame

    # -- reading -----------------------------------------------------------------

    def _read(self) -> Frame | None:
        ok, image = self._video.read()
        if not ok or image is None:
            return None
        return Frame(self._timestamp(), _to_rgb(image))

    def _timestamp(self) -> float:
        """The time of the frame just read, estimated from the frame rate if the file lacks it."""
        ms = self._video.get(cv2.CAP_PROP_POS_MSEC)
        t = ms / 1000.0 if math.isfinite(ms) else -1.0
        last = self._last_t
        if t < 0 or (last is not None and t <= last):
            t = 0.0 if last is None else last + 1.0 / self._fps
            if not self._estimating:
                self._estimating = True
                self.warn(
                    f"{self.path.name} has frames without usable timestamps (from {t:.1f} s on); "
                    f"their times were estimated from its frame rate ({self._fps:g} fps)."
                )
        self._last_t = t
        return t

    def frames(self) -> Iterator[Frame]:
        """Yield the frames from ``start`` to ``end``; opens the file if needed.

        A second call reads the span again from the start.
        """
        if self._cap is not None and self._first is None:
            self.close()
        self.open()
        frame, self._first = self._first, None
        assert frame is not None, "open() decodes the first frame or raises"
        last_t = frame.t
        while frame is not None:
            if self.end is not None and frame.t >= self.end - _EPS:
                return
            yield frame
            last_t = frame.t
            frame = self._read()
        self._check_complete(last_t)

    def _check_complete(self, last_t: float) -> None:
        """Warn when decoding stopped well before where the container says the video ends."""
        if self.duration_hint is None:
            return
        expected = self.duration_hint if self.end is None else min(self.end, self.duration_hint)
        if last_t + TRUNCATION_SLACK_S < expected:
            self.warn(
                f"{self.path.name} could only be read up to {last_t:.1f} s of {self.duration_hint:.1f} s: "
                f"the video is damaged or truncated after {last_t:.1f} s; commentary stops there."
            )

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
        self._cap = None
        self._first = None
