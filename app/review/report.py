"""The review as one HTML file to hand out: moments with pictures, notes, Q&A and commentary.

A coach sends it to players by mail or prints it for the video session, so it
must open anywhere with no network and no folder of images beside it: the CSS
is inline and each moment's thumbnail (the frame at its in point, with the
coach's drawings held at that moment) is a base64 JPEG inside the page. When the
moments were also exported as clips, each links to its clip file by a relative
address, so the report and its clip folder can be moved together. Printed, each
moment stays on one page, and the commentary transcript starts on a page of its own.
"""

from __future__ import annotations

import base64
import html
import os
import urllib.parse
from collections import Counter
from pathlib import Path

import cv2

from app.atomic_files import os_failure, write_atomic
from app.review.drawings import DrawingTrack, render_shapes
from app.review.session import QA, Note, ReviewSession
from app.timefmt import clock

THUMB_WIDTH = 320
UNTAGGED = "untagged"

_CSS = """
html { background: #fff; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; margin: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; break-after: avoid; }
.meta { color: #59636e; margin-bottom: 12px; }
.tags span, .tag { display: inline-block; border-radius: 10px; padding: 1px 9px; margin-right: 6px;
  background: #ddf4ff; color: #0550ae; font-size: 12px; }
.tag.none { background: #eaeef2; color: #59636e; }
.moment { display: flex; gap: 14px; padding: 10px 0; border-top: 1px solid #d1d9e0;
  break-inside: avoid; page-break-inside: avoid; }
.moment img { width: 240px; height: auto; border-radius: 4px; background: #000; flex: none; }
.moment .when { font-weight: 600; font-variant-numeric: tabular-nums; }
.clip { font-size: 13px; }
.label { font-size: 15px; font-weight: 600; margin: 2px 0; }
.qa { padding: 8px 0; border-top: 1px solid #d1d9e0; break-inside: avoid; page-break-inside: avoid; }
.q { font-weight: 600; }
.transcript { break-before: page; page-break-before: always; }
.transcript p { margin: 2px 0; } .transcript .when { color: #59636e; font-variant-numeric: tabular-nums; }
@page { margin: 14mm; }
@media print { body { margin: 0; } a { color: inherit; text-decoration: none; } }
"""


def _thumbnails(video: Path, times: list[float], drawings: DrawingTrack | None = None) -> dict[float, str]:
    """``data:`` URIs of JPEG frames at ``times`` with the ``drawings`` shown then (a time the
    video cannot show is left out)."""
    found: dict[float, str] = {}
    capture = cv2.VideoCapture(str(video))
    try:
        if not capture.isOpened():
            return found
        for t in sorted(set(times)):
            capture.set(cv2.CAP_PROP_POS_MSEC, t * 1000.0)
            ok, frame = capture.read()
            if not ok or frame is None:
                continue
            if drawings is not None:
                rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)  # shapes are RGB; OpenCV decodes BGR
                render_shapes(rgb, drawings.at(t))
                frame = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
            h, w = frame.shape[:2]
            small = cv2.resize(frame, (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w))), interpolation=cv2.INTER_AREA)
            ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 82])
            if ok:
                found[t] = "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii")
    finally:
        capture.release()
    return found


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def _tag(tag: str) -> str:
    return f'<span class="tag">{html.escape(tag)}</span>' if tag else f'<span class="tag none">{UNTAGGED}</span>'


def _moment(mark: Note, thumb: str | None, clip: str | None = None) -> str:
    when = f"{clock(mark.t)}–{clock(mark.end)}" if mark.is_range else clock(mark.t)
    picture = f'<img src="{thumb}" alt="frame at {clock(mark.t)}">' if thumb else ""
    label = f'<div class="label">{html.escape(mark.label)}</div>' if mark.label else ""
    note = f"<div>{html.escape(mark.text)}</div>" if mark.text else ""
    link = f'<div class="clip"><a href="{html.escape(clip)}">▶ Clip</a></div>' if clip else ""
    if picture and clip:
        picture = f'<a href="{html.escape(clip)}">{picture}</a>'
    return (
        f'<div class="moment" id="{html.escape(mark.id)}">{picture}<div>'
        f'<span class="when">{when}</span> {_tag(mark.tag)}{label}{note}{link}</div></div>'
    )


def _clip_links(clips: dict[str, Path] | None, folder: Path | None) -> dict[str, str]:
    """Each clip's address relative to ``folder`` (the report's), URL-quoted; absolute ``file:``
    addresses when there is no relative way (another drive)."""
    links = {}
    for mark_id, path in (clips or {}).items():
        try:
            relative = Path(os.path.relpath(Path(path).resolve(), (folder or Path.cwd()).resolve())).as_posix()
            links[mark_id] = urllib.parse.quote(relative)
        except ValueError:  # Windows: another drive
            links[mark_id] = Path(path).resolve().as_uri()
    return links


def render_report(review: ReviewSession, clips: dict[str, Path] | None = None, folder: Path | None = None) -> str:
    """The whole page as a string (see :func:`write_report`); ``clips`` linked relative to ``folder``."""
    marks = review.marks()
    qas = [i for i in review.items() if isinstance(i, QA)]
    spoken = [c for c in review.commentary() if c.text]
    thumbs = _thumbnails(review.video, [m.t for m in marks], DrawingTrack(review.drawings()))
    links = _clip_links(clips, folder)
    counts = Counter(m.tag or UNTAGGED for m in marks)
    title = html.escape(review.video.name)
    parts = [
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Review: {title}</title>',
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Review: {title}</h1>",
        f'<div class="meta">{_count(len(marks), "moment")} · {_count(len(qas), "question")} · '
        f"{_count(len(spoken), 'commentary line')}</div>",
        '<div class="tags">' + "".join(f"<span>{html.escape(t)}: {n}</span>" for t, n in sorted(counts.items())),
        "</div><h2>Moments</h2>",
        *(_moment(m, thumbs.get(m.t), links.get(m.id)) for m in marks),
        "" if marks else "<p>No moments marked.</p>",
    ]
    if qas:
        parts.append("<h2>Questions and answers</h2>")
        parts.extend(
            f'<div class="qa"><span class="when">{clock(q.t)}</span> '
            f'<span class="q">{html.escape(q.question)}</span><div>{html.escape(q.answer)}</div></div>'
            for q in qas
        )
    if spoken:
        parts.append('<section class="transcript"><h2>Commentary</h2>')
        parts.extend(f'<p><span class="when">{clock(c.t0)}</span> {html.escape(c.text)}</p>' for c in spoken)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(review: ReviewSession, path: str | Path, clips: dict[str, Path] | None = None) -> Path:
    """Write the review of ``review``'s video to ``path`` as one self-contained HTML file (atomic;
    missing folders are made). ``clips`` (``{mark id: clip file}``, as
    :func:`app.review.clips.export_clips` returns) are linked from their moments."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # a batch writes into a folder of its own
    except OSError as exc:
        raise os_failure(path.parent, exc, "write the report to") from exc
    write_atomic(path, render_report(review, clips, path.parent), "write the report to")
    return path
