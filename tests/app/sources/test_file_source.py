"""Video files: true frame times (checked against the time drawn in each frame), seeking, damage."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.errors import SourceError, VideoOpenError
from app.pipeline.chunking import LiveCCChunker
from app.pipeline.sampling import FrameSampler
from app.sources import FileSource
from app.sources.synthetic import draw_frame, frame_times, read_stamp, truncate_video, write_test_video


class _Videos(dict):
    """Test videos, written once per module on first use."""

    def __init__(self, root):
        super().__init__()
        self.root = root

    def __missing__(self, kind):
        if kind == "vfr":
            if not hasattr(cv2, "VIDEOWRITER_PROP_PTS"):
                pytest.skip("writing variable-frame-rate video needs OpenCV >= 4.11")
            path = write_test_video(self.root / "vfr.mkv", 10.0, fps=30, variable_fps=True)
        else:
            path = write_test_video(self.root / f"cfr.{kind}", 10.0, fps=10)
        self[kind] = path
        return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return _Videos(tmp_path_factory.mktemp("videos"))


def _assert_true_times(frames):
    times = [f.t for f in frames]
    assert all(b > a for a, b in zip(times, times[1:]))
    for f in frames:
        assert read_stamp(f.rgb) == pytest.approx(f.t, abs=0.0011)


@pytest.mark.parametrize("kind", ["mp4", "avi"])
def test_constant_rate_file_gives_every_frame_with_its_time(videos, kind):
    with FileSource(videos[kind]) as source:
        frames = list(source.frames())
        assert source.duration_hint == pytest.approx(10.0)
    assert len(frames) == 100
    assert frames[0].t == 0.0 and frames[-1].t == pytest.approx(9.9)
    _assert_true_times(frames)
    assert frames[0].rgb.dtype == np.uint8 and frames[0].rgb.shape == (240, 320, 3)
    assert source.warnings == [] and source.is_live is False


def test_variable_rate_file_gives_the_written_times(videos):
    frames = list(FileSource(videos["vfr"]).frames())
    expected = frame_times(10.0, 30, variable_fps=True)
    assert [f.t for f in frames] == pytest.approx(expected, abs=0.0011)
    assert max(b - a for a, b in zip(expected, expected[1:])) > 1.0  # the file really has a pause
    _assert_true_times(frames)


def test_frames_are_rgb(videos):
    frame = next(FileSource(videos["avi"]).frames())
    drawn_bgr = draw_frame(0.0, (320, 240)).astype(int)
    as_rgb = np.abs(frame.rgb.astype(int) - drawn_bgr[..., ::-1]).mean()
    as_bgr = np.abs(frame.rgb.astype(int) - drawn_bgr).mean()
    assert as_rgb < 5 < as_bgr


@pytest.mark.parametrize("kind", ["mp4", "avi", "vfr"])
@pytest.mark.parametrize(("start", "end"), [(3.25, 6.0), (0.0, 2.0), (7.0, None), (0.5, 0.55)])
def test_start_and_end_select_the_span(videos, kind, start, end):
    everything = [f.t for f in FileSource(videos[kind]).frames()]
    expected = [t for t in everything if t >= start - 1e-6 and (end is None or t < end - 1e-6)]
    if not expected:
        with pytest.raises(VideoOpenError, match="no frame between"):
            FileSource(videos[kind], start, end).open()
        return
    frames = list(FileSource(videos[kind], start, end).frames())
    assert [f.t for f in frames] == pytest.approx(expected)
    _assert_true_times(frames)


def test_start_inside_a_pause_gives_the_first_frame_after_it(videos):
    times = frame_times(10.0, 30, variable_fps=True)
    gap_at = max(range(len(times) - 1), key=lambda i: times[i + 1] - times[i])
    start = times[gap_at] + 0.1
    first = next(FileSource(videos["vfr"], start=start).frames())
    assert first.t == pytest.approx(times[gap_at + 1], abs=0.0011)
    assert read_stamp(first.rgb) == pytest.approx(first.t, abs=0.0011)


def test_frames_can_be_read_twice(videos):
    with FileSource(videos["mp4"], start=8.0) as source:
        first = [f.t for f in source.frames()]
        second = [f.t for f in source.frames()]
    assert first == second and len(first) == 20


def test_start_past_the_end(videos):
    with pytest.raises(VideoOpenError, match="past the end"):
        FileSource(videos["mp4"], start=30.0).open()


def test_bad_span_is_refused():
    with pytest.raises(SourceError, match="after the start"):
        FileSource("x.mp4", start=5.0, end=5.0)
    with pytest.raises(SourceError):
        FileSource("x.mp4", start=-1.0)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.mp4"
    with pytest.raises(VideoOpenError) as err:
        FileSource(path).open()
    assert str(err.value) == f"Video file not found: {path}"


def test_not_a_video(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("these are not moving pictures\n" * 50)
    with pytest.raises(VideoOpenError, match="Cannot open"):
        FileSource(text).open()
    with pytest.raises(VideoOpenError, match="folder"):
        FileSource(tmp_path).open()


def test_truncated_file_yields_what_it_can_and_warns(tmp_path):
    path = truncate_video(write_test_video(tmp_path / "cut.avi", 10.0, fps=10), 0.5)
    source = FileSource(path)
    frames = list(source.frames())
    assert 20 < len(frames) < 80
    _assert_true_times(frames[:-1])  # the last frame may be cut mid-picture: its stamp may be gone
    assert len(source.warnings) == 1
    assert "damaged or truncated" in source.warnings[0]
    assert f"{frames[-1].t:.1f} s" in source.warnings[0]


def test_truncated_mp4_without_index_cannot_be_opened(tmp_path):
    path = truncate_video(write_test_video(tmp_path / "cut.mp4", 4.0), 0.6)
    with pytest.raises(VideoOpenError):
        FileSource(path).open()


def test_close_releases_the_file(videos):
    source = FileSource(videos["mp4"])
    with source:
        next(source.frames())
    assert source._cap is None
    source.close()  # twice is fine


def test_file_through_sampler_and_chunker(videos):
    """The whole front of the pipeline on a variable-rate file stays on the 2 fps grid."""
    times = frame_times(10.0, 30, variable_fps=True)
    sampled = list(FrameSampler().sample(FileSource(videos["vfr"]).frames()))
    chunks = list(LiveCCChunker().chunks(sampled))
    assert [(c.t0, c.t1) for c in chunks] == [(0.0, 3.0)] + [(float(s), float(s + 1)) for s in range(3, 10)]
    for k, frame in enumerate(sampled):
        real = next(t for t in times if t >= k * 0.5 - 1e-6)
        assert frame.t == pytest.approx(k * 0.5)
        assert read_stamp(frame.rgb) == pytest.approx(real, abs=0.0011)
        assert (frame.height, frame.width) == (252, 336)


def test_opencv_reports_time_of_frame_just_read(videos):
    """The fact this module relies on, checked directly on the installed OpenCV."""
    cap = cv2.VideoCapture(str(videos["vfr"]), cv2.CAP_FFMPEG)
    try:
        for _ in range(40):
            ok, image = cap.read()
            assert ok
            assert cap.get(cv2.CAP_PROP_POS_MSEC) / 1000 == pytest.approx(read_stamp(image), abs=0.0011)
    finally:
        cap.release()


_RealCapture = cv2.VideoCapture


class _TimelessCapture:
    """A real capture whose backend reports no frame times, as some containers and backends do."""

    def __init__(self, *args):
        self._cap = _RealCapture(*args)

    def get(self, prop):
        return 0.0 if prop == cv2.CAP_PROP_POS_MSEC else self._cap.get(prop)

    def __getattr__(self, name):
        return getattr(self._cap, name)


def test_missing_times_are_counted_from_the_frame_rate(videos, monkeypatch):
    monkeypatch.setattr(cv2, "VideoCapture", _TimelessCapture)
    source = FileSource(videos["avi"])
    frames = list(source.frames())
    assert [f.t for f in frames] == pytest.approx([i / 10 for i in range(100)])
    _assert_true_times(frames)  # constant rate: counting is right
    assert len(source.warnings) == 1 and "estimated from its frame rate (10 fps)" in source.warnings[0]
    # a seek cannot be trusted without times: the file is decoded from its start instead
    late = list(FileSource(videos["avi"], start=4.0).frames())
    assert late[0].t == pytest.approx(4.0) and read_stamp(late[0].rgb) == pytest.approx(4.0)


@pytest.mark.parametrize("fps", [1000.0, 1200.0])
def test_a_very_high_frame_rate_file_is_as_long_as_its_frames_say(tmp_path, fps):
    """The fault drill's "MP4 tagged 1000 fps, 0.25 s long" (once read as 8.5 s): times come from the frames."""
    path = tmp_path / f"fast-{fps:g}.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (64, 48))
    for i in range(round(fps / 4)):
        writer.write(np.full((48, 64, 3), i % 255, np.uint8))
    writer.release()
    source = FileSource(path)
    frames = list(source.frames())
    assert len(frames) == round(fps / 4) and frames[-1].t < 0.25 and not source.warnings
    chunks = list(LiveCCChunker().chunks(FrameSampler().sample(FileSource(path).frames())))
    assert [(c.t0, c.t1) for c in chunks] == [(0.0, 0.5)]
