"""Webcams: naming from sysfs, and a camera unplugged mid-stream (faked at cv2.VideoCapture)."""

from __future__ import annotations

import numpy as np
import pytest

from app.errors import SourceError
from app.sources import camera_source
from app.sources.camera_source import CameraSource, list_cameras


class FakeCapture:
    """A camera that delivers ``frames`` pictures, then fails as an unplugged one does."""

    opened = True
    frames = 12

    def __init__(self, index, backend=None):
        self.index, self.reads, self.released = index, 0, False

    def isOpened(self):
        return self.opened and not self.released

    def set(self, prop, value):
        return True

    def read(self):
        self.reads += 1
        if self.reads > self.frames:
            return False, None
        image = np.full((48, 64, 3), self.reads % 256, np.uint8)
        image[..., 0] = 255  # BGR blue: RGB must end with it
        return True, image

    def release(self):
        self.released = True


@pytest.fixture
def fake_camera(monkeypatch):
    monkeypatch.setattr(camera_source.cv2, "VideoCapture", FakeCapture)
    monkeypatch.setattr(camera_source.time, "sleep", lambda s: None)
    FakeCapture.opened, FakeCapture.frames = True, 12
    return FakeCapture


def test_unplugged_camera_stops_with_a_message(fake_camera):
    source = CameraSource(0, "USB Cam", capture_fps=1000)
    frames = []
    with pytest.raises(SourceError, match="USB Cam.*stopped sending pictures"):
        for frame in source.frames():
            frames.append(frame)
    source.close()
    assert 1 <= len(frames) <= 12 and source.is_live  # the rest may be skipped by the frame rate cap
    assert frames[0].rgb[0, 0, 2] == 255 and frames[0].rgb.shape == (48, 64, 3)
    assert all(b.t >= a.t for a, b in zip(frames, frames[1:]))


def test_a_camera_that_cannot_open(fake_camera):
    fake_camera.opened = False
    with pytest.raises(SourceError, match="unplugged, or used by another"):
        CameraSource(3).open()


def test_names_come_from_sysfs_and_metadata_nodes_are_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(camera_source.platform, "system", lambda: "Linux")
    for n, name, index in ((0, "Integrated Camera", 0), (1, "Integrated Camera", 1), (2, "Logitech BRIO", 0)):
        node = tmp_path / f"video{n}"
        node.mkdir()
        (node / "name").write_text(name + "\n")
        (node / "index").write_text(f"{index}\n")
    assert [(c.index, c.name) for c in list_cameras(sysfs=tmp_path)] == [(0, "Integrated Camera"), (2, "Logitech BRIO")]


def test_probing_when_the_os_gives_no_names(fake_camera, monkeypatch, tmp_path):
    monkeypatch.setattr(camera_source.platform, "system", lambda: "Windows")
    found = list_cameras(probe=3, sysfs=tmp_path / "none")
    assert [c.label for c in found] == ["Camera 0 (#0)", "Camera 1 (#1)", "Camera 2 (#2)"]
