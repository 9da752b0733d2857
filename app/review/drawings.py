"""Drawings on the frame: arrows, lines, ellipses, free hand and text a coach puts on a paused picture.

Every video-analysis tool coaches know (Kinovea, Hudl, Nacsport) lets them draw
on a paused frame: an arrow for a run, an ellipse around a player, a line for a
back four. A :class:`Drawing` is such a set of :class:`Shape` s made at the time
``t`` and shown for ``hold_s`` seconds from there, in the player, in every
exported video and in the report's thumbnails. It is a timeline item like a
note, kept in the review's journal (:mod:`app.review.session`).

Coordinates are fractions of the frame (``0..1`` left to right, top to bottom)
and stroke widths fractions of its height, so a drawing made on the player's
scaled picture lands in the same place on a full-size export. Shapes check
themselves when made, so a damaged journal record is refused with a clear
reason (:func:`drawing_from_dict`) instead of crashing a render later.
:func:`render_shapes` draws them anti-aliased into an RGB frame of any size.
"""

from __future__ import annotations

import bisect
import functools
import math
import numbers
import re
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

SHAPES = ("arrow", "line", "ellipse", "freehand", "text")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "yellow": (250, 215, 30),
    "blue": (40, 120, 240),
    "green": (40, 200, 80),
    "orange": (250, 140, 20),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
}
DEFAULT_HOLD_S = 3.0
MAX_HOLD_S = 3600.0  # an hour: longer is a mistake, not a drawing
MAX_POINTS = 5000  # a free-hand stroke of a long drag, sampled at every mouse move
MAX_SHAPES = 200
MAX_TEXT = 500
MAX_WIDTH = 0.1  # a tenth of the frame height
COORD_RANGE = (-1.0, 2.0)  # a shape may reach past the frame's edges (a drag off the picture), not far
TEXT_SIZE_PER_WIDTH = 8.0  # a text shape's letters are this many stroke widths high
_SHIFT = 4  # cv2 sub-pixel bits: points keep 1/16 px
_START_SLACK_S = 0.0005  # a drawing saved at a frame's time shows on that frame despite rounding
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_POINT_COUNTS = {"arrow": (2, 2), "line": (2, 2), "ellipse": (2, 2), "freehand": (2, MAX_POINTS), "text": (1, 1)}


def _number(value: object, what: str, low: float, high: float) -> float:
    """``value`` as a finite float in ``low..high``; ValueError naming ``what`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):
        raise ValueError(f"{what} must be between {low:g} and {high:g}, got {value!r}")
    return number


def colour_rgb(colour: str) -> tuple[int, int, int]:
    """The RGB of a colour name of :data:`COLOURS` or of ``"#rrggbb"``; ValueError otherwise."""
    if not isinstance(colour, str):
        raise ValueError(f"a colour must be a name or #rrggbb, got {colour!r}")
    if colour.lower() in COLOURS:
        return COLOURS[colour.lower()]
    if _HEX.match(colour):
        return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)
    raise ValueError(f"unknown colour {colour!r}: use one of {', '.join(COLOURS)} or #rrggbb")


def _points(points: object, kind: str) -> tuple[tuple[float, float], ...]:
    if isinstance(points, str | bytes) or not isinstance(points, Iterable):
        raise ValueError(f"the points of a {kind} must be a list of (x, y) pairs, got {points!r}")
    pairs = list(points)
    fewest, most = _POINT_COUNTS[kind]
    if not fewest <= len(pairs) <= most:
        wanted = str(fewest) if fewest == most else f"{fewest} to {most}"
        raise ValueError(f"a {kind} needs {wanted} point(s), got {len(pairs)}")
    checked = []
    for pair in pairs:
        if isinstance(pair, str | bytes) or not isinstance(pair, Iterable) or len(xy := list(pair)) != 2:
            raise ValueError(f"a point must be an (x, y) pair, got {pair!r}")
        checked.append((_number(xy[0], "x", *COORD_RANGE), _number(xy[1], "y", *COORD_RANGE)))
    return tuple(checked)


@dataclass(frozen=True)
class Shape:
    """One mark on the picture; checked when made (ValueError says what is wrong).

    ``points`` are ``(x, y)`` fractions of the frame: an arrow or a line goes from
    its first point to its second, an ellipse fills the box of its two opposite
    corners, free hand joins 2 or more points, text has its top-left corner.
    ``colour`` is a :data:`COLOURS` name or ``"#rrggbb"``; ``width`` the stroke
    width as a fraction of the frame height (text is :data:`TEXT_SIZE_PER_WIDTH`
    widths high).
    """

    kind: str
    points: tuple[tuple[float, float], ...]
    colour: str = "red"
    width: float = 0.006
    text: str = ""

    def __post_init__(self) -> None:
        if self.kind not in SHAPES:
            raise ValueError(f"unknown shape {self.kind!r}: use one of {', '.join(SHAPES)}")
        object.__setattr__(self, "points", _points(self.points, self.kind))
        colour_rgb(self.colour)
        object.__setattr__(self, "width", _number(self.width, "the stroke width", 1e-4, MAX_WIDTH))
        if not isinstance(self.text, str) or len(self.text) > MAX_TEXT:
            raise ValueError(f"a shape's text must be a string of at most {MAX_TEXT} characters")
        if self.kind == "text" and not self.text:
            raise ValueError("a text shape needs some text")

    @property
    def rgb(self) -> tuple[int, int, int]:
        return colour_rgb(self.colour)


def _shapes(shapes: object) -> tuple[Shape, ...]:
    if isinstance(shapes, Shape):
        return (shapes,)
    if isinstance(shapes, str | bytes | dict) or not isinstance(shapes, Iterable):
        raise ValueError(f"shapes must be a list of shapes, got {shapes!r}")
    made = tuple(s if isinstance(s, Shape) else shape_from_dict(s) for s in shapes)
    if not 1 <= len(made) <= MAX_SHAPES:
        raise ValueError(f"a drawing needs 1 to {MAX_SHAPES} shapes, got {len(made)}")
    return made


@dataclass(frozen=True)
class Drawing:
    """The shapes drawn at ``t`` (seconds), shown from ``t`` for ``hold_s`` seconds.

    A timeline item, ``"drawing"`` in the journal; ``shapes`` may be given as
    :class:`Shape` s or their dicts (:func:`shape_to_dict`), and are checked.
    """

    id: str
    t: float
    shapes: tuple[Shape, ...]
    hold_s: float = DEFAULT_HOLD_S

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"a drawing's id must be a non-empty string, got {self.id!r}")
        object.__setattr__(self, "t", _number(self.t, "a drawing's time", 0.0, 1e7))
        object.__setattr__(self, "shapes", _shapes(self.shapes))
        object.__setattr__(self, "hold_s", _number(self.hold_s, "a drawing's hold time", 0.01, MAX_HOLD_S))

    @property
    def end(self) -> float:
        """When the drawing disappears."""
        return self.t + self.hold_s

    def shows_at(self, t: float) -> bool:
        return self.t - _START_SLACK_S <= t < self.end


# -- the journal's form ----------------------------------------------------------------


def shape_to_dict(shape: Shape) -> dict:
    """A shape as JSON-ready data; colour, width and text only when not the defaults."""
    data: dict[str, object] = {"kind": shape.kind, "points": [[round(x, 5), round(y, 5)] for x, y in shape.points]}
    if shape.colour != "red":
        data["colour"] = shape.colour
    if shape.width != 0.006:
        data["width"] = shape.width
    if shape.text:
        data["text"] = shape.text
    return data


def shape_from_dict(data: object) -> Shape:
    """The shape of :func:`shape_to_dict`'s data; ValueError for anything malformed."""
    if not isinstance(data, dict):
        raise ValueError(f"a shape must be an object, got {data!r}")
    unknown = set(data) - {"kind", "points", "colour", "width", "text"}
    if unknown or "kind" not in data or "points" not in data:
        raise ValueError(f"a shape needs a kind and points (and only colour, width, text besides), got {data!r}")
    return Shape(**data)


def drawing_to_dict(drawing: Drawing) -> dict:
    return {
        "kind": "drawing",
        "id": drawing.id,
        "t": drawing.t,
        "shapes": [shape_to_dict(s) for s in drawing.shapes],
        "hold_s": drawing.hold_s,
    }


def drawing_from_dict(data: dict) -> Drawing:
    """The drawing of a journal record; ValueError (or KeyError) for anything malformed."""
    return Drawing(data["id"], data["t"], data["shapes"], data.get("hold_s", DEFAULT_HOLD_S))


# -- what shows when -------------------------------------------------------------------


class DrawingTrack:
    """Which shapes show at a time: those of every drawing with ``t <= time < t + hold_s``.

    Overlapping drawings show together, the earlier ones underneath.
    """

    def __init__(self, drawings: Iterable[Drawing] = ()) -> None:
        self.drawings = sorted(drawings, key=lambda d: (d.t, d.id))
        self._starts = [d.t for d in self.drawings]
        self._longest = max((d.hold_s for d in self.drawings), default=0.0)

    def __len__(self) -> int:
        return len(self.drawings)

    def at(self, t: float) -> tuple[Shape, ...]:
        """The shapes to draw at ``t`` seconds."""
        hi = bisect.bisect_right(self._starts, t + _START_SLACK_S)
        lo = bisect.bisect_left(self._starts, t - self._longest)
        return tuple(s for d in self.drawings[lo:hi] if d.shows_at(t) for s in d.shapes)

    def shifted(self, offset: float) -> DrawingTrack:
        """The same drawings ``offset`` seconds earlier (for an export that starts later), clipped at 0."""
        moved = []
        for d in self.drawings:
            start, end = d.t - offset, d.end - offset
            if end > 0:
                moved.append(Drawing(d.id, max(0.0, start), d.shapes, end - max(0.0, start)))
        return DrawingTrack(moved)


# -- drawing into pixels ---------------------------------------------------------------


def render_shapes(rgb: np.ndarray, shapes: Iterable[Shape]) -> None:
    """Draw ``shapes`` into ``rgb`` (``H x W x 3`` uint8, RGB), in place, anti-aliased."""
    height, width = rgb.shape[:2]
    if height < 2 or width < 2:
        return
    for shape in shapes:
        thickness = max(2, round(shape.width * height))  # 1 px anti-aliased never reaches full colour
        if shape.kind == "text":
            _draw_text(rgb, shape, thickness)
        else:
            _draw_stroke(rgb, shape, thickness)


def _pixel(point: tuple[float, float], width: int, height: int) -> tuple[int, int]:
    """A fraction point as cv2 fixed-point pixel coordinates (``_SHIFT`` fraction bits)."""
    scale = 1 << _SHIFT
    return round(point[0] * (width - 1) * scale), round(point[1] * (height - 1) * scale)


def _draw_stroke(rgb: np.ndarray, shape: Shape, thickness: int) -> None:
    height, width = rgb.shape[:2]
    colour = shape.rgb
    points = [_pixel(p, width, height) for p in shape.points]
    if shape.kind == "line":
        cv2.line(rgb, points[0], points[1], colour, thickness, cv2.LINE_AA, _SHIFT)
    elif shape.kind == "arrow":
        _draw_arrow(rgb, points[0], points[1], colour, thickness)
    elif shape.kind == "ellipse":
        (x0, y0), (x1, y1) = points
        centre = ((x0 + x1) // 2, (y0 + y1) // 2)
        axes = (abs(x1 - x0) // 2, abs(y1 - y0) // 2)
        cv2.ellipse(rgb, centre, axes, 0, 0, 360, colour, thickness, cv2.LINE_AA, _SHIFT)
    else:  # freehand
        line = np.array(points, np.int32).reshape(-1, 1, 2)
        cv2.polylines(rgb, [line], False, colour, thickness, cv2.LINE_AA, _SHIFT)


def _draw_arrow(
    rgb: np.ndarray, start: tuple[int, int], end: tuple[int, int], colour: tuple[int, int, int], thickness: int
) -> None:
    """A line with a head at ``end`` whose size follows the stroke, not the arrow's length."""
    length = math.hypot(end[0] - start[0], end[1] - start[1]) / (1 << _SHIFT)
    if length < 1:
        return
    head = max(10.0, 5.0 * thickness)
    cv2.arrowedLine(rgb, start, end, colour, thickness, cv2.LINE_AA, _SHIFT, min(0.6, head / length))


@functools.lru_cache(maxsize=64)
def _text_patch(text: str, px: int, colour: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``text`` in ``colour`` with a dark outline, as premultiplied colour and alpha (uint16)."""
    from PIL import Image, ImageDraw, ImageFont

    from app.export.captions import find_font_path

    path = find_font_path()
    try:
        font = ImageFont.truetype(path, px) if path else ImageFont.load_default(px)
    except OSError:
        font = ImageFont.load_default(px)
    stroke = max(1, px // 12)
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    box = probe.multiline_textbbox((0, 0), text, font=font, stroke_width=stroke)
    left, top, right, bottom = math.floor(box[0]), math.floor(box[1]), math.ceil(box[2]), math.ceil(box[3])
    image = Image.new("RGBA", (max(1, right - left), max(1, bottom - top)), (0, 0, 0, 0))
    ImageDraw.Draw(image).multiline_text(
        (-left, -top), text, font=font, fill=(*colour, 255), stroke_width=stroke, stroke_fill=(0, 0, 0, 220)
    )
    rgba = np.asarray(image, dtype=np.uint16)
    alpha = rgba[..., 3:4]
    return rgba[..., :3] * alpha, alpha


def _draw_text(rgb: np.ndarray, shape: Shape, thickness: int) -> None:
    height, width = rgb.shape[:2]
    px = max(10, round(shape.width * TEXT_SIZE_PER_WIDTH * height))
    premultiplied, alpha = _text_patch(shape.text, px, shape.rgb)
    x0, y0 = round(shape.points[0][0] * width), round(shape.points[0][1] * height)
    h, w = alpha.shape[:2]
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(width, x0 + w), min(height, y0 + h)
    if fx0 >= fx1 or fy0 >= fy1:
        return
    px0, py0 = fx0 - x0, fy0 - y0
    a = alpha[py0 : py0 + fy1 - fy0, px0 : px0 + fx1 - fx0]
    p = premultiplied[py0 : py0 + fy1 - fy0, px0 : px0 + fx1 - fx0]
    region = rgb[fy0:fy1, fx0:fx1]
    region[...] = ((region.astype(np.uint16) * (255 - a) + p + 127) // 255).astype(np.uint8)
