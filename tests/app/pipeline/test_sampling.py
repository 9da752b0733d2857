"""Smart resize, the antialiased bicubic filter, and frame choice by time."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from app.pipeline.sampling import MAX_PIXELS, MIN_PIXELS, FrameSampler, resize_frame, resize_rgb, smart_resize
from models.engine.records import Frame

# -- smart_resize ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1080, 1920), (392, 728)),  # 1092x1932 is too big: beta = sqrt(1080*1920/301056), floor
        ((720, 1280), (392, 728)),
        ((480, 640), (448, 616)),  # 476x644 = 306,544 is just over max_pixels
        ((240, 320), (252, 336)),  # rounding alone is enough
        ((32, 32), (280, 280)),  # tiny: scaled up by sqrt(78400/1024) and ceiled
        ((70, 1400), (56, 1400)),  # 70/28 = 2.5 rounds half to even (2), and 56*1400 == min_pixels
    ],
)
def test_smart_resize_known_values(size, expected):
    assert smart_resize(*size) == expected


def test_smart_resize_bounds_and_aspect():
    for h, w in itertools.product([28, 57, 100, 333, 480, 719, 1080, 2160], [40, 99, 640, 1279, 1920, 3840]):
        rh, rw = smart_resize(h, w)
        assert rh % 28 == 0 and rw % 28 == 0
        assert MIN_PIXELS <= rh * rw <= MAX_PIXELS
        # the aspect ratio is kept up to rounding each side to a multiple of 28
        assert abs(rh - rw * h / w) <= 28 * (1 + h / w)


def test_smart_resize_custom_limits():
    # beta = sqrt(2,073,600 / 784,000) = 1.6263: 664.1 -> 644, 1180.6 -> 1176
    assert smart_resize(1080, 1920, max_pixels=1000 * 28 * 28) == (644, 1176)
    # 100x100 rounds to 112x112 = 12,544 < 50,000: beta = 2.236, 223.6 -> 224
    assert smart_resize(100, 100, min_pixels=50_000) == (224, 224)


def test_smart_resize_rejects_absurd_sizes():
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(10, 2100)
    with pytest.raises(ValueError):
        smart_resize(0, 100)


# -- resize_rgb --------------------------------------------------------------------


def _reference_axis(img: np.ndarray, out_size: int, axis: int) -> np.ndarray:
    """A loop-by-loop port of Pillow's ImagingResample for one axis (8-bit rounding)."""
    src = np.moveaxis(img.astype(np.float64), axis, 0)
    in_size = src.shape[0]
    scale = in_size / out_size
    fscale = max(scale, 1.0)
    support = 2.0 * fscale
    out = np.zeros((out_size,) + src.shape[1:])

    def cubic(x):
        a, x = -0.5, abs(x)
        if x < 1:
            return ((a + 2) * x - (a + 3)) * x * x + 1
        if x < 2:
            return (((x - 5) * x + 8) * x - 4) * a
        return 0.0

    for i in range(out_size):
        center = (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), in_size)
        ws = [cubic((j - center + 0.5) / fscale) for j in range(lo, hi)]
        total = sum(ws)
        for j, wgt in zip(range(lo, hi), ws):
            out[i] += src[j] * wgt / total
    out = np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)
    return np.moveaxis(out, 0, axis)


@pytest.mark.parametrize(("src", "dst"), [((13, 17), (7, 9)), ((5, 6), (11, 13)), ((20, 9), (8, 15))])
def test_resize_matches_reference_filter(src, dst):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, src + (3,), dtype=np.uint8)
    expected = _reference_axis(_reference_axis(img, dst[1], 1), dst[0], 0)
    got = resize_rgb(img, *dst)
    assert got.shape == dst + (3,) and got.dtype == np.uint8 and got.flags.c_contiguous
    diff = np.abs(got.astype(int) - expected)
    assert diff.max() <= 1  # float32 vs float64 at exact .5 roundings
    assert (diff == 0).mean() > 0.99


def test_resize_keeps_flat_colour_and_antialiases_fine_stripes():
    flat = np.full((90, 160, 3), (10, 128, 250), np.uint8)
    assert (resize_rgb(flat, 56, 84) == flat[:56, :84]).all()
    stripes = np.zeros((224, 224, 3), np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes: pure aliasing for a filter that does not widen
    small = resize_rgb(stripes, 56, 56).astype(float)
    assert abs(small.mean() - 127.5) < 2 and small.std() < 2


def test_a_1080p_frame_shrinks_to_the_model_size_as_the_reference_filter_does():
    y, x = np.mgrid[0:1080, 0:1920]
    img = np.stack([np.sin(x / 7) * 120 + 128, np.cos(y / 5) * 120 + 128, (x + 2 * y) % 256], -1).astype(np.uint8)
    ours = resize_rgb(img, 392, 728)
    expected = _reference_axis(_reference_axis(img, 728, 1), 392, 0)
    diff = np.abs(ours.astype(int) - expected)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.005  # fixed-point vs float64 at exact .5 roundings
    assert ours.flags.writeable and ours.flags.c_contiguous


def test_resize_frame_keeps_time_and_skips_same_size():
    frame = Frame(1.5, np.zeros((56, 84, 3), np.uint8))
    assert resize_frame(frame, 56, 84) is frame
    smaller = resize_frame(frame, 28, 56)
    assert smaller.t == 1.5 and (smaller.height, smaller.width) == (28, 56)


# -- FrameSampler ------------------------------------------------------------------


def _coded(times, size=(16, 16)):
    """Flat frames whose colour encodes their index, which resizing keeps exactly."""
    for i, t in enumerate(times):
        rgb = np.empty(size + (3,), np.uint8)
        rgb[:] = (i // 256, i % 256, 7)
        yield Frame(t, rgb)


def _index(frame):
    r, g, _ = frame.rgb[0, 0]
    return int(r) * 256 + int(g)


def _first_at_or_after(times, target):
    return next(i for i, t in enumerate(times) if t >= target - 1e-6)


def test_sampler_takes_first_frame_at_or_after_each_target_in_vfr_stream():
    rng = np.random.default_rng(3)
    steps = rng.choice([0.01, 0.04, 0.1, 0.3], size=200)
    steps[50] = 2.3  # a stall: several targets fall inside it
    times = list(np.cumsum(np.concatenate([[0.0], steps])))
    out = list(FrameSampler().sample(_coded(times)))
    n_targets = int(math.floor(times[-1] / 0.5 + 1e-9)) + 1
    assert len(out) == n_targets
    for k, frame in enumerate(out):
        assert frame.t == pytest.approx(k * 0.5)
        assert _index(frame) == _first_at_or_after(times, k * 0.5)
    # the frame after the stall stands for every target inside it
    assert len({_index(f) for f in out}) < len(out)


def test_sampler_keeps_exactly_two_per_second_at_ntsc_rate():
    times = [i * 1001 / 30000 for i in range(int(60 * 30000 / 1001))]
    out = list(FrameSampler().sample(_coded(times)))
    assert len(out) == 120  # targets 0.0 .. 59.5; anchoring on frame times would drift to ~116
    assert [_index(f) for f in out[:4]] == [0, 15, 30, 45]


def test_sampler_grid_starts_at_first_frame_and_ignores_dropped_frames():
    times = [12.34 + i / 25 for i in range(100) if i % 7 not in (3, 4)]  # every 7th pair dropped
    out = list(FrameSampler().sample(_coded(times)))
    assert out[0].t == pytest.approx(12.34)
    for k, frame in enumerate(out):
        assert frame.t == pytest.approx(12.34 + k * 0.5)
        assert _index(frame) == _first_at_or_after(times, 12.34 + k * 0.5)


def test_sampler_gives_every_frame_the_first_frames_size():
    frames = [Frame(0.0, np.zeros((1080, 1920, 3), np.uint8)), Frame(0.5, np.zeros((700, 1000, 3), np.uint8))]
    sampler = FrameSampler()
    out = list(sampler.sample(frames))
    assert sampler.size == (392, 728)
    assert [(f.height, f.width) for f in out] == [(392, 728), (392, 728)]


def test_sampler_is_lazy():
    endless = (Frame(i / 30, np.zeros((28, 28, 3), np.uint8)) for i in itertools.count())
    out = list(itertools.islice(FrameSampler().sample(endless), 5))
    assert [f.t for f in out] == [0.0, 0.5, 1.0, 1.5, 2.0]
