"""A webcam through OpenCV, found by probing, named where the OS tells.

OpenCV cannot list cameras; it can only try to open index 0, 1, 2, ... On
Linux the V4L2 devices are listed in ``/sys/class/video4linux`` with their
names, and only capture nodes (``index`` 0 of each device: the others are
metadata nodes) are offered, so nothing is probed blindly. Elsewhere indexes
are probed (opening a camera takes up to a second on some backends, so the GUI
probes off the UI thread) and named "Camera N".

A camera that stops delivering frames (unplugged, taken by another program)
ends the stream with a :class:`SourceError` that says so, after a short grace
period, because a single failed read happens on healthy cameras too.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2

from app.errors import SourceError
from app.sources.file_source import _to_rgb  # same pixel formats as video files
from app.sources.live import LiveSource
from models.engine.records import Frame

SYSFS_V4L = Path("/sys/class/video4linux")
PROBE_INDEXES = 6
FAILED_READS_BEFORE_STOP = 15  # consecutive failed reads (about half a second at 30 fps)
DEFAULT_CAMERA_FPS = 15.0


@dataclass(frozen=True)
class CameraInfo:
    index: int
    name: str

    @property
    def label(self) -> str:
        return f"{self.name} (#{self.index})"


def _backend() -> int:
    system = platform.system()
    if system == "Linux":
        return cv2.CAP_V4L2
    if system == "Windows":
        return cv2.CAP_DSHOW  # opens faster than MSMF, and its indexes match DirectShow's names
    if system == "Darwin":
        return cv2.CAP_AVFOUNDATION
    return cv2.CAP_ANY


def _linux_cameras(root: Path) -> list[CameraInfo]:
    found = []
    for node in sorted(root.glob("video*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else 1 << 30):
        if not node.name[5:].isdigit():
            continue
        index_file = node / "index"
        try:
            if index_file.exists() and int(index_file.read_text().strip() or 0) != 0:
                continue  # a metadata node of a device listed already
            name = (node / "name").read_text(encoding="utf-8", errors="replace").strip()
        except (OSError, ValueError):
            name = ""
        index = int(node.name[5:])
        found.append(CameraInfo(index, name or f"Camera {index}"))
    return found


def list_cameras(probe: int = PROBE_INDEXES, sysfs: Path = SYSFS_V4L) -> list[CameraInfo]:
    """Cameras that can be opened. On Linux from sysfs; elsewhere by probing ``probe`` indexes."""
    if platform.system() == "Linux" and sysfs.is_dir():
        return _linux_cameras(sysfs)
    found = []
    for index in range(probe):
        cap = cv2.VideoCapture(index, _backend())
        try:
            if cap.isOpened():
                found.append(CameraInfo(index, f"Camera {index}"))
        finally:
            cap.release()
    return found


class CameraSource(LiveSource):
    """Live frames of camera ``index``.

    Args:
        index: the OpenCV camera index (from :func:`list_cameras`).
        name: shown in messages.
        capture_fps: most frames per second kept (the camera may deliver more;
            extra frames are read and discarded so none goes stale in the driver's buffer).
    """

    def __init__(self, index: int, name: str = "", capture_fps: float = DEFAULT_CAMERA_FPS) -> None:
        super().__init__(capture_fps)
        self.index = index
        self.name = name or f"Camera {index}"
        self._cap: cv2.VideoCapture | None = None

    def describe(self) -> str:
        return f"camera \u201c{self.name}\u201d"

    def open(self) -> None:
        if self._cap is not None:
            return
        cap = cv2.VideoCapture(self.index, _backend())
        if not cap.isOpened():
            cap.release()
            raise SourceError(
                f"Cannot open the {self.describe()}: it is unplugged, or used by another "
                "program. Close that program or choose another camera."
            )
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # ignored by some backends; asks for the newest frame
        self._cap = cap

    def frames(self) -> Iterator[Frame]:
        self.open()
        self.start_clock()
        failures = 0
        next_keep = 0.0
        while self._cap is not None:
            ok, image = self._cap.read()
            if not ok or image is None:
                failures += 1
                if failures >= FAILED_READS_BEFORE_STOP or not self._cap.isOpened():
                    raise SourceError(
                        f"The {self.describe()} stopped sending pictures "
                        "(unplugged, or taken by another program); capture stopped."
                    )
                time.sleep(0.03)
                continue
            failures = 0
            t = self.stream_time()
            if t + 1e-6 < next_keep:
                continue
            next_keep = max(next_keep + 1.0 / self.capture_fps, t)
            yield Frame(t, _to_rgb(image))

    def close(self) -> None:
        if self._cap is not None:
            cap, self._cap = self._cap, None
            cap.release()
