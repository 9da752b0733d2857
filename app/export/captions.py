"""Captions drawn into video frames: readable on any footage, fast to apply.

Burned-in captions must read on a bright pitch and a dark hall alike, so each
caption is white text with a dark outline and a soft shadow on a translucent
dark box, bottom-centred (notes in a banner at the top), sized relative
to the frame height. A :class:`CaptionStyle` can make them smaller, swap the two
places, limit the lines or hide them: the review player and the burned-in export
take the same style, so the coach sees what the team will get. Text is rendered
with Pillow and a TrueType font: OpenCV's built-in Hershey fonts cannot draw accents or curly quotes (a player called
Mbappé would lose his é). A caption changes about once a second while frames
come 25-60 times a second, so each distinct caption is rendered once into an
RGBA patch (cached) and every frame only alpha-blends that patch, in NumPy, over
the few rows it covers.
"""

from __future__ import annotations

import bisect
import functools
import os
import platform
import shutil
import subprocess
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from app.sinks.subtitles import Cue

_FONT_CANDIDATES = {
    "Windows": [r"C:\Windows\Fonts\segoeuib.ttf", r"C:\Windows\Fonts\arialbd.ttf"],
    "Darwin": [
        "/System/Library/Fonts/Supplemental/Arial Bold.ttf",
        "/Library/Fonts/Arial Bold.ttf",
        "/System/Library/Fonts/Helvetica.ttc",
    ],
    "Linux": [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
        "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf",
    ],
}


@functools.lru_cache(maxsize=1)
def find_font_path() -> str | None:
    """A bold sans-serif TrueType font of this system; ``None`` means Pillow's own font."""
    for path in _FONT_CANDIDATES.get(platform.system(), []):
        if os.path.isfile(path):
            return path
    if shutil.which("fc-match"):
        try:
            found = subprocess.run(
                ["fc-match", "-f", "%{file}", "sans:bold"], capture_output=True, text=True, timeout=5, check=False
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            found = ""
        if found.lower().endswith((".ttf", ".otf", ".ttc")) and os.path.isfile(found):
            return found
    return None


@functools.lru_cache(maxsize=16)
def _font(size: int):
    from PIL import ImageFont

    path = find_font_path()
    if path:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            pass
    return ImageFont.load_default(size)  # Pillow's bundled TrueType font (Pillow >= 10.1)


CAPTION_PLACES = ("bottom", "top")


@dataclass(frozen=True)
class CaptionStyle:
    """How captions look; sizes are fractions of the frame height (or width).

    font: text height. margin: gap between the box and the frame edge.
    max_width: widest a box may be. box_opacity: 0 clear .. 1 solid.
    min_font_px: floor for small frames, so captions stay legible.
    position: where the commentary goes, ``"bottom"`` or ``"top"``; the notes banner
    takes the other edge. max_lines: the most lines a caption shows (0: all it needs);
    commentary keeps its newest lines, a note its first ones (ending in "…").
    visible, notes_visible: show the commentary, the notes banner.
    """

    font: float = 0.05
    margin: float = 0.05
    max_width: float = 0.9
    box_opacity: float = 0.6
    min_font_px: int = 14
    text_rgb: tuple[int, int, int] = (255, 255, 255)
    box_rgb: tuple[int, int, int] = (0, 0, 0)
    position: str = "bottom"
    max_lines: int = 0
    visible: bool = True
    notes_visible: bool = True

    def __post_init__(self) -> None:
        if self.position not in CAPTION_PLACES:
            raise ValueError(f"position must be 'bottom' or 'top', got {self.position!r}")
        if self.max_lines < 0:
            raise ValueError(f"max_lines must be 0 (all) or more, got {self.max_lines}")


@dataclass(frozen=True, eq=False)
class Patch:
    """A rendered caption: top-left corner, premultiplied colour and alpha (0..255)."""

    x: int
    y: int
    premultiplied: np.ndarray  # h x w x 3 uint16: colour * alpha
    alpha: np.ndarray  # h x w x 1 uint16

    @property
    def height(self) -> int:
        return int(self.alpha.shape[0])

    @property
    def width(self) -> int:
        return int(self.alpha.shape[1])

    def apply(self, rgb: np.ndarray) -> None:
        """Blend this patch into ``rgb`` (``H x W x 3`` uint8), in place."""
        region = rgb[self.y : self.y + self.height, self.x : self.x + self.width]
        blended = (region.astype(np.uint16) * (255 - self.alpha) + self.premultiplied + 127) // 255
        region[...] = blended.astype(np.uint8)


def wrap_to_width(text: str, fits) -> list[str]:
    """``text``'s lines to draw, each satisfying ``fits(line)`` where a word allows.

    Paragraphs (separated by a blank line: one per cue) keep their own line
    breaks when every line fits; otherwise the paragraph is re-wrapped as a
    whole, greedily, so a narrow frame gets full lines instead of stragglers.
    """
    out = []
    for paragraph in text.split("\n\n"):
        lines = [ln.strip() for ln in paragraph.splitlines() if ln.strip()]
        if all(fits(line) for line in lines):
            out.extend(lines)
            continue
        current = ""
        for word in " ".join(lines).split():
            candidate = f"{current} {word}" if current else word
            if current and not fits(candidate):
                out.append(current)
                current = word
            else:
                current = candidate
        if current:
            out.append(current)
    return out


class CaptionRenderer:
    """Renders caption text into :class:`Patch` es for frames of one size.

    Args:
        width, height: frame size in pixels.
        style: see :class:`CaptionStyle`.
        position: ``"bottom"`` for the commentary, ``"top"`` for the notes banner: their
            places with the default style. ``style.position == "top"`` swaps them (the
            commentary on top, the notes at the bottom); :attr:`edge` is where this one
            is drawn, :attr:`shown` whether the style shows it at all.
    """

    def __init__(self, width: int, height: int, style: CaptionStyle = CaptionStyle(), position: str = "bottom") -> None:
        if position not in CAPTION_PLACES:
            raise ValueError(f"position must be 'bottom' or 'top', got {position!r}")
        self.width, self.height, self.style, self.position = width, height, style, position
        self.is_notes = position == "top"
        if self.is_notes:
            self.edge = "bottom" if style.position == "top" else "top"
        else:
            self.edge = style.position
        self.shown = style.notes_visible if self.is_notes else style.visible
        self.font_px = max(style.min_font_px, round(style.font * height))
        self._cache: OrderedDict[str, Patch | None] = OrderedDict()

    def patch(self, text: str) -> Patch | None:
        """The patch for ``text`` (``None`` for blank text, or when the style hides it); cached."""
        if not self.shown:
            return None
        if text in self._cache:
            self._cache.move_to_end(text)
            return self._cache[text]
        patch = self._render(text) if text.strip() else None
        self._cache[text] = patch
        if len(self._cache) > 64:
            self._cache.popitem(last=False)
        return patch

    def draw(self, rgb: np.ndarray, text: str) -> None:
        """Draw ``text`` into the frame ``rgb`` in place (nothing for blank text)."""
        patch = self.patch(text)
        if patch is not None:
            patch.apply(rgb)

    def _render(self, text: str) -> Patch:
        from PIL import Image, ImageDraw

        style, px = self.style, self.font_px
        font = _font(px)
        stroke = max(1, px // 14)
        pad_x, pad_y, gap = px * 0.6, px * 0.35, px * 0.2
        max_text_w = max(px, self.width * style.max_width - 2 * pad_x)
        lines = self._limit(wrap_to_width(text, lambda s: font.getlength(s) + 2 * stroke <= max_text_w))
        ascent, descent = font.getmetrics()
        line_h = ascent + descent + 2 * stroke
        text_w = max(font.getlength(line) for line in lines) + 2 * stroke
        box_w = min(self.width, int(text_w + 2 * pad_x + 0.5))
        box_h = min(self.height, int(len(lines) * line_h + (len(lines) - 1) * gap + 2 * pad_y + 0.5))
        image = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 0))
        draw = ImageDraw.Draw(image)
        draw.rounded_rectangle(
            (0, 0, box_w - 1, box_h - 1), radius=max(2, px // 4), fill=(*style.box_rgb, round(255 * style.box_opacity))
        )
        shadow = max(1, px // 16)
        for i, line in enumerate(lines):
            x = (box_w - font.getlength(line)) / 2
            y = pad_y + stroke + i * (line_h + gap)
            draw.text(
                (x + shadow, y + shadow),
                line,
                font=font,
                fill=(0, 0, 0, 160),
                stroke_width=stroke,
                stroke_fill=(0, 0, 0, 160),
            )
            draw.text(
                (x, y), line, font=font, fill=(*style.text_rgb, 255), stroke_width=stroke, stroke_fill=(0, 0, 0, 255)
            )
        rgba = np.asarray(image, dtype=np.uint16)
        alpha = rgba[..., 3:4]
        margin = round(style.margin * self.height)
        x = (self.width - box_w) // 2
        y = margin if self.edge == "top" else max(0, self.height - margin - box_h)
        return Patch(x, y, rgba[..., :3] * alpha, alpha)

    def _limit(self, lines: list[str]) -> list[str]:
        """At most ``style.max_lines`` lines: the newest of the commentary, the first of a note."""
        most = self.style.max_lines
        if not most or len(lines) <= most:
            return lines
        if not self.is_notes:
            return lines[-most:]
        return [*lines[: most - 1], lines[most - 1].rstrip(" .,;:—-") + "…"]

    def box(self, text: str) -> tuple[int, int, int, int] | None:
        """The caption box for ``text`` as ``(x0, y0, x1, y1)``; ``None`` for blank text."""
        patch = self.patch(text)
        return None if patch is None else (patch.x, patch.y, patch.x + patch.width, patch.y + patch.height)


class CaptionTrack:
    """Which caption text shows at a time: every cue with ``start <= t < end``.

    Overlapping cues (notes over commentary) are stacked in start order.
    """

    def __init__(self, cues: Iterable[Cue]) -> None:
        self.cues = sorted(cues, key=lambda c: (c.start, c.end))
        self._starts = [c.start for c in self.cues]
        self._longest = max((c.end - c.start for c in self.cues), default=0.0)

    def __len__(self) -> int:
        return len(self.cues)

    def active(self, t: float) -> list[Cue]:
        hi = bisect.bisect_right(self._starts, t)
        lo = bisect.bisect_left(self._starts, t - self._longest)
        return [c for c in self.cues[lo:hi] if c.start <= t < c.end]

    def text_at(self, t: float) -> str:
        """The text to draw at ``t``: one paragraph per active cue."""
        return "\n\n".join(c.text for c in self.active(t))

    def shifted(self, offset: float) -> CaptionTrack:
        """The same cues ``offset`` seconds earlier (for an export that starts later), clipped at 0."""
        moved = [Cue(max(0.0, c.start - offset), c.end - offset, c.text) for c in self.cues if c.end - offset > 0]
        return CaptionTrack(moved)
