"""Drawings on the frame: the shapes, their pixels, the journal that keeps them, and the exports that burn them in.

Pixels are checked where a player would see them: rendered into frames of
several sizes, and decoded back from the exported MP4 (H.264, the real bundled
ffmpeg), in the frames where a drawing is held and not in the others. Frames
are identified by the time stamp :mod:`app.sources.synthetic` draws into them.
"""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from app.export.captioned_video import export_captioned_video
from app.export.captions import CaptionRenderer, CaptionStyle
from app.review import export
from app.review.drawings import (
    COLOURS,
    DEFAULT_HOLD_S,
    SHAPES,
    Drawing,
    DrawingTrack,
    Shape,
    drawing_from_dict,
    drawing_to_dict,
    render_shapes,
)
from app.review.session import Drawing as SessionDrawing
from app.review.session import ReviewSession
from app.sinks.subtitles import Cue
from app.sources.synthetic import read_stamp, write_test_video
from models.engine.records import ChunkDone
from tests.video_files import decoded_frames

BLUE = COLOURS["blue"]
STYLE = CaptionStyle(margin=0.15)  # captions above the time stamp strip
# A thick blue bar across the upper third: away from the notes banner and the captions.
BAR = Shape("line", ((0.1, 0.3), (0.9, 0.3)), "blue", 0.05)


def is_blue(rgb: np.ndarray) -> bool:
    """The mean colour of ``rgb`` is the drawing's blue (the synthetic footage has no blue)."""
    r, g, b = rgb.reshape(-1, 3).mean(axis=0)
    return b > 170 and r < 110 and b - g > 60


def at(frame: np.ndarray, x: float, y: float, r: int = 2) -> np.ndarray:
    """The pixels around the fraction point ``(x, y)`` of ``frame``."""
    h, w = frame.shape[:2]
    cx, cy = round(x * (w - 1)), round(y * (h - 1))
    return frame[cy - r : cy + r + 1, cx - r : cx + r + 1]


def near(frame: np.ndarray, x: float, y: float, rgb, tolerance: int = 30) -> bool:
    """Some pixel next to ``(x, y)`` has the colour ``rgb`` (anti-aliasing blends thin strokes)."""
    pixels = at(frame, x, y, 1).reshape(-1, 3).astype(int)
    return bool((np.abs(pixels - np.array(rgb)).max(axis=1) <= tolerance).any())


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    return write_test_video(tmp_path_factory.mktemp("drawings") / "match.mp4", seconds=4, fps=10, size=(320, 240))


@pytest.fixture
def clip(tmp_path):
    return write_test_video(tmp_path / "game.mp4", seconds=2, fps=10, size=(160, 120))


# -- shapes and their pixels ------------------------------------------------------------


@pytest.mark.parametrize("size", [(64, 48), (320, 240), (1280, 720), (241, 321)])
def test_every_shape_lands_where_its_fractions_say_on_any_frame_size(size):
    w, h = size
    shapes = [
        Shape("arrow", ((0.1, 0.1), (0.9, 0.1)), "blue", 0.03),
        Shape("line", ((0.1, 0.5), (0.9, 0.5)), "#ff00ff", 0.03),
        Shape("ellipse", ((0.3, 0.6), (0.7, 0.9)), "yellow", 0.03),
        Shape("freehand", ((0.05, 0.2), (0.05, 0.4), (0.2, 0.4)), "white", 0.03),
        Shape("text", ((0.6, 0.25),), "red", 0.01, "Mbappé"),
    ]
    frame = np.zeros((h, w, 3), np.uint8)
    render_shapes(frame, shapes)
    assert near(frame, 0.5, 0.1, BLUE)
    assert near(frame, 0.5, 0.5, (255, 0, 255))
    assert near(frame, 0.5, 0.6, COLOURS["yellow"])  # the ellipse's top
    assert at(frame, 0.5, 0.75, 0).max() == 0  # and not its inside
    assert near(frame, 0.05, 0.3, (255, 255, 255))
    text = frame[round(0.25 * h) :, round(0.6 * w) :]
    reds = (text[..., 0] > 150) & (text[..., 1] < 80)
    assert reds.sum() > 3
    across = frame[round(0.4 * h) : round(0.58 * h), w // 2, 0]  # across the magenta line
    assert set(across.tolist()) - {0, 255}  # anti-aliased: blended edge pixels


def test_the_arrow_has_a_head_at_its_end_only():
    frame = np.zeros((240, 320, 3), np.uint8)
    render_shapes(frame, [Shape("arrow", ((0.1, 0.5), (0.9, 0.5)), "white", 0.01)])
    column = lambda x: int((frame[:, round(x * 319), 0] > 128).sum())  # noqa: E731
    assert column(0.88) >= 3 * column(0.5) and column(0.12) <= column(0.5)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"kind": "circle", "points": ((0, 0), (1, 1))}, "unknown shape"),
        ({"kind": "line", "points": ((0, 0),)}, "needs 2 point"),
        ({"kind": "freehand", "points": ((0, 0),)}, "needs 2 to"),
        ({"kind": "text", "points": ((0, 0),)}, "needs some text"),
        ({"kind": "line", "points": ((0, math.nan), (1, 1))}, "between"),
        ({"kind": "line", "points": ((0, 0), (1e9, 1))}, "between"),
        ({"kind": "line", "points": ((0, 0), ("1", 1))}, "number"),
        ({"kind": "line", "points": ((0, 0), (1, 1, 1))}, "pair"),
        ({"kind": "line", "points": ((0, 0), (1, 1)), "colour": "pink"}, "unknown colour"),
        ({"kind": "line", "points": ((0, 0), (1, 1)), "colour": "#12345"}, "unknown colour"),
        ({"kind": "line", "points": ((0, 0), (1, 1)), "width": 0}, "stroke width"),
        ({"kind": "line", "points": ((0, 0), (1, 1)), "width": True}, "number"),
    ],
)
def test_a_wrong_shape_is_refused_with_the_reason(fields, reason):
    with pytest.raises(ValueError, match=reason):
        Shape(**fields)


def test_drawings_show_for_their_hold_time_and_shift_like_captions():
    a, b = Shape("line", ((0, 0), (1, 1))), Shape("ellipse", ((0, 0), (1, 1)), "white")
    track = DrawingTrack([Drawing("d2", 2.0, (b,), 0.5), Drawing("d1", 1.0, (a,))])
    assert Drawing("x", 1, [a]).hold_s == DEFAULT_HOLD_S
    assert [track.at(t) for t in (0.99, 1.0, 2.2, 2.5, 3.99, 4.0)] == [(), (a,), (a, b), (a,), (a,), ()]
    shifted = track.shifted(1.5)
    assert [shifted.at(t) for t in (0.0, 0.5, 0.99, 1.0, 2.49, 2.5)] == [(a,), (a, b), (a, b), (a,), (a,), ()]
    assert len(track.shifted(10)) == 0
    assert drawing_from_dict(json.loads(json.dumps(drawing_to_dict(track.drawings[0])))) == track.drawings[0]


# -- the journal ------------------------------------------------------------------------


def test_a_drawing_is_kept_edited_and_removed_across_reopening(clip):
    with ReviewSession(clip) as review:
        note = review.add_note(0.5, "Shape")
        drawing = review.add_drawing(1.0, [BAR], hold_s=2.0)
        other = review.add_drawing(0.2, (Shape("text", ((0.1, 0.1),), text="Here"),))
        assert isinstance(drawing, SessionDrawing) and drawing.shapes == (BAR,)
        assert [type(i).__name__ for i in review.items()] == ["Drawing", "Note", "Drawing"]
        edited = review.edit(drawing.id, shapes=[BAR, Shape("arrow", ((0, 0), (0.5, 0.5)))], hold_s=1.5, t=1.2)
        assert (edited.t, edited.hold_s, len(edited.shapes)) == (1.2, 1.5, 2)
        with pytest.raises(ValueError, match="hold time"):
            review.edit(drawing.id, hold_s=-1)
        with pytest.raises(ValueError, match="cannot edit"):
            review.edit(drawing.id, text="no")
        review.remove(other.id)
    with ReviewSession(clip) as again:
        assert again.warnings == []
        assert again.drawings() == [edited] and again.get(note.id).text == "Shape"


def test_a_long_edited_journal_is_compacted_with_its_drawings(clip):
    with ReviewSession(clip) as review:
        drawing = review.add_drawing(1.0, [BAR])
        for n in range(60):
            drawing = review.edit(drawing.id, hold_s=1.0 + n / 10)
        store = review.store
    with ReviewSession(clip) as again:
        assert again.drawings() == [drawing]
    assert len(store.read_text().splitlines()) == 2  # the header and the drawing
    with ReviewSession(clip) as third:
        assert third.drawings() == [drawing] and third.warnings == []


def test_a_torn_last_line_loses_only_that_change(clip):
    with ReviewSession(clip) as review:
        kept = review.add_drawing(1.0, [BAR])
        store = review.store
    line = json.dumps({"op": "add", "item": drawing_to_dict(Drawing("n9", 1.5, (BAR,)))})
    with open(store, "ab") as f:
        f.write(line[: len(line) // 2].encode())  # a crash in the middle of a write
    with ReviewSession(clip) as again:
        assert again.drawings() == [kept]
        added = again.add_drawing(0.5, [BAR])
    with ReviewSession(clip) as third:
        assert third.drawings() == [added, kept] and third.warnings == []


BAD_DRAWINGS = [
    {"kind": "drawing", "id": "n2", "t": 1.0, "shapes": [{"kind": "hexagon", "points": [[0, 0], [1, 1]]}]},
    {"kind": "drawing", "id": "n3", "t": 1.0, "shapes": [{"kind": "line", "points": [[0, 0]]}]},
    {"kind": "drawing", "id": "n4", "t": 1.0, "shapes": [{"kind": "line", "points": [[0, 0], [1e300, 1]]}]},
    {"kind": "drawing", "id": "n5", "t": 1.0, "shapes": [{"kind": "line", "points": [[0, 0], [1, 1]], "colour": 3}]},
    {"kind": "drawing", "id": "n6", "t": -4, "shapes": [{"kind": "line", "points": [[0, 0], [1, 1]]}]},
    {"kind": "drawing", "id": "n7", "t": 1.0, "shapes": [], "hold_s": 2},
    {"kind": "drawing", "id": "n8", "t": 1.0, "shapes": "arrow"},
    {"kind": "drawing", "t": 1.0, "shapes": [{"kind": "line", "points": [[0, 0], [1, 1]]}]},
    {"kind": "drawing", "id": "n9", "t": 1.0, "shapes": [{"kind": "text", "points": [[0, 0]]}]},
    {
        "kind": "drawing",
        "id": "n10",
        "t": 1.0,
        "hold_s": "long",
        "shapes": [{"kind": "line", "points": [[0, 0], [1, 1]]}],
    },
    {"kind": "drawing", "id": "n11", "t": 1.0, "shapes": [{"kind": "line", "points": [[0, 0], [1, 1]], "fill": 1}]},
]


def test_malformed_drawing_records_are_skipped_with_a_warning_and_the_rest_loads(clip):
    good = {"kind": "drawing", "id": "n1", "t": 0.5, "shapes": [{"kind": "line", "points": [[0, 0], [1, 1]]}]}
    lines = [{"op": "open", "version": 1, "video": clip.name, "size": clip.stat().st_size}]
    lines += [{"op": "add", "item": item} for item in [good, *BAD_DRAWINGS]]
    lines += [
        {"op": "edit", "id": "n1", "fields": {"hold_s": float("nan")}},
        {"op": "edit", "id": "n1", "fields": {"shapes": [{"kind": "line"}]}},
    ]
    store = clip.with_name(clip.name + ".review.jsonl")
    store.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with ReviewSession(clip) as review:
        assert [d.id for d in review.drawings()] == ["n1"] and review.drawings()[0].hold_s == DEFAULT_HOLD_S
        assert len(review.warnings) == len(BAD_DRAWINGS) + 2
        assert all("skipped an unreadable change" in w for w in review.warnings)
        assert review.add_mark(1.0).id == "n12"  # ids go on after the highest, even a skipped one's


def _garbage(rng: random.Random, depth: int = 0):
    choices = [
        lambda: rng.choice([None, True, 0, -1, 1e308, float("inf"), float("nan"), "", "red", "#zzzzzz"]),
        lambda: rng.uniform(-3, 3),
        lambda: "".join(rng.choice('ab[]{}"\\é\x00') for _ in range(rng.randrange(8))),
    ]
    if depth < 3:
        choices += [
            lambda: [_garbage(rng, depth + 1) for _ in range(rng.randrange(4))],
            lambda: {rng.choice(["kind", "points", "colour", "width", "text", "x"]): _garbage(rng, depth + 1)},
        ]
    return rng.choice(choices)()


def _mutated(rng: random.Random, record: dict) -> dict:
    record = json.loads(json.dumps(record))
    for _ in range(rng.randrange(1, 4)):
        shapes = record.get("shapes")
        target = rng.choice(shapes) if isinstance(shapes, list) and shapes and rng.random() < 0.6 else record
        if isinstance(target, dict) and target:
            key = rng.choice(sorted(target))
            if rng.random() < 0.2:
                del target[key]
            else:
                target[key] = _garbage(rng)
    return record


def test_random_and_corrupt_drawing_records_never_break_loading(clip):
    rng = random.Random(16)
    shapes = [Shape(kind, ((0.1, 0.2),) if kind == "text" else ((0.1, 0.2), (0.5, 0.6)), text="T") for kind in SHAPES]
    valid = drawing_to_dict(Drawing("n1", 1.0, tuple(shapes)))
    lines = [json.dumps({"op": "open", "version": 1, "video": clip.name, "size": clip.stat().st_size})]
    lines.append(json.dumps({"op": "add", "item": valid}))
    for n in range(400):
        if n % 3 == 0:
            record = _mutated(rng, valid)
        elif n % 3 == 1:
            fields = {k: _garbage(rng, 1) for k in ("id", "t", "shapes", "hold_s") if rng.random() < 0.8}
            record = {"kind": "drawing", **fields}
        else:
            record = _garbage(rng)
        op = rng.choice([{"op": "add", "item": record}, {"op": "edit", "id": "n1", "fields": _garbage(rng, 1)}])
        lines.append(json.dumps(op))
    lines.append('{"op": "add", "item": {"kind": "drawing", "id"')  # torn
    store = clip.with_name(clip.name + ".review.jsonl")
    store.write_text("\n".join(lines) + "\n")
    with ReviewSession(clip) as review:
        assert review.warnings
        frame = np.zeros((48, 64, 3), np.uint8)
        for drawing in review.drawings():  # whatever loaded is a drawing that renders
            render_shapes(frame, drawing.shapes)
        review.items()
        export.timeline_records(review)


# -- exports ----------------------------------------------------------------------------


def test_subtitles_have_no_cue_for_a_drawing_and_the_jsonl_has_its_record(clip, tmp_path):
    with ReviewSession(clip) as review:
        review.add_note(0.5, "Shape")
        before = export.export_srt(review, tmp_path / "before.srt").read_text()
        review.add_drawing(1.0, [BAR], hold_s=0.5)
        assert export.export_srt(review, tmp_path / "after.srt").read_text() == before
        assert "-->" in export.export_vtt(review, tmp_path / "after.vtt").read_text()
        records = [
            json.loads(line) for line in export.export_jsonl(review, tmp_path / "t.jsonl").read_text().splitlines()
        ]
    assert records[-1] == {
        "type": "drawing",
        "time": 1.0,
        "end": 1.5,
        "shapes": [{"kind": "line", "points": [[0.1, 0.3], [0.9, 0.3]], "colour": "blue", "width": 0.05}],
    }


def test_a_drawing_is_burned_in_exactly_while_it_is_held_and_under_the_captions(footage, tmp_path):
    cue = Cue(0.0, 4.0, "Press now")
    x0, y0, x1, y1 = CaptionRenderer(320, 240, STYLE).box(cue.text)
    # a second bar as high as the caption box, across it: the caption must stay readable on top
    mid = (y0 + y1) // 2
    under = Shape("line", ((0.0, mid / 239), (1.0, mid / 239)), "blue", 0.1)  # 24 px high
    track = DrawingTrack([Drawing("d1", 1.0, (BAR, under), 1.0)])
    out = tmp_path / "drawn.mp4"
    export_captioned_video(footage, out, [cue], drawings=track, start=0.5, style=STYLE)
    frames = decoded_frames(out)
    assert len(frames) == 35
    for frame in frames:
        t = read_stamp(frame)
        assert is_blue(at(frame, 0.5, 0.3)) == (1.0 <= t < 2.0), t
        if 1.0 <= t < 2.0:
            assert is_blue(frame[mid - 10 : mid + 10, 2:8])  # the bar beside the box
            assert ((frame[mid - 10 : mid + 10, x0:x1] > 200).all(axis=2)).sum() > 20  # white text on it


def test_the_review_mp4_export_burns_in_the_sessions_drawings(footage, tmp_path):
    video = tmp_path / "m.mp4"
    video.write_bytes(footage.read_bytes())
    with ReviewSession(video) as review:
        review.add_chunk(ChunkDone(0, 0.0, 4.0, "Ball left"))
        review.add_drawing(2.0, [BAR], hold_s=0.5)
        export.export_mp4(review, tmp_path / "out.mp4", style=STYLE)
    frames = decoded_frames(tmp_path / "out.mp4")
    shown = [round(read_stamp(f), 1) for f in frames if is_blue(at(f, 0.5, 0.3))]
    assert shown == [2.0, 2.1, 2.2, 2.3, 2.4]
