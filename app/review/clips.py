"""Clips of the marked moments and one highlights reel with title cards, for the video session.

A coach marks ranges (in and out points) while reviewing, then hands the team
either one MP4 per moment or a reel of them all, each moment introduced by a
title card (its ``[tag] label`` and time). Every clip is the captioned export
(:func:`app.review.export.export_mp4`, one encoder for everything): commentary at
the bottom, the mark's banner at the top, the drawings on the frame, the source's
sound and optionally the spoken commentary.

The reel must play in any player, so its pieces are made alike: the clips come
from the same source with the same settings, and the title cards are encoded by
:func:`app.export.captioned_video.encode_still` at the clips' size and rate, with a
silent track of the clips' audio format when they have sound. They are joined by
ffmpeg's concat demuxer, stream-copied when the pieces' streams match and
re-encoded when they do not. Nothing half-written is left behind: clips are made
in a hidden folder and moved into place together at the end; the reel is renamed
into place only when complete.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from app.atomic_files import create_temp, os_failure, resolve_output
from app.errors import ExportCancelled, ExportError, OutputError, SourceError
from app.export.captioned_video import ExportResult, encode_still
from app.export.captions import CaptionRenderer, CaptionStyle, Patch
from app.export.ffmpeg import failure_message, ffmpeg_exe, run_ffmpeg, video_encoder
from app.review.export import export_mp4, mark_text
from app.review.session import Note, ReviewSession
from app.timefmt import clock

Progress = Callable[[float, str], None]
CARD_S = 2.0  # how long a reel's title card shows
CARD_RGB = (18, 20, 26)  # a dark, slightly blue card
CARD_STYLE = CaptionStyle(font=0.075, max_width=0.86, box_opacity=0.0)
_SLUG_CHARS = 48


@dataclass(frozen=True)
class ReelResult:
    """The reel written: ``clips`` moments with their title cards, ``duration`` s at ``fps``."""

    path: Path
    clips: int
    frames: int
    fps: float
    duration: float
    stream_copied: bool  # False: the pieces differed and the reel was re-encoded


# -- which marks, and their names ---------------------------------------------------------


def ranged_marks(
    session: ReviewSession, marks: Iterable[Note | str] | None = None, tag: str | None = None
) -> list[Note]:
    """The marks to export, in time order: ``marks`` (marks or their ids; default all) that
    have an in and out point, only those tagged ``tag`` if given."""
    chosen = session.marks() if marks is None else [session.get(m) if isinstance(m, str) else m for m in marks]
    picked = [m for m in chosen if isinstance(m, Note) and m.is_range and (tag is None or m.tag == tag)]
    return sorted(picked, key=lambda m: (m.t, m.id))


def _marks_to_cut(session: ReviewSession, marks: Iterable[Note | str] | None, tag: str | None) -> list[Note]:
    """:func:`ranged_marks`, or an :class:`ExportError` saying what to do when there are none."""
    chosen = ranged_marks(session, marks, tag)
    if not chosen:
        tagged = f" tagged {tag!r}" if tag is not None else ""
        raise ExportError(f"No marks{tagged} with an in and out point to export: give a mark a range (I and O) first.")
    return chosen


def mark_title(mark: Note) -> str:
    """What a clip or a title card is called: ``[tag] label``, or the note, or the time."""
    named = f"[{mark.tag}] {mark.label}" if mark.tag and mark.label else mark.label or mark_text(mark)
    return named.strip() or (f"[{mark.tag}]" if mark.tag else f"Moment at {clock(mark.t)}")


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > _SLUG_CHARS:
        slug = slug[:_SLUG_CHARS].rsplit("-", 1)[0]
    return slug


def _stamp(t: float) -> str:
    """``0m12s``, ``1h02m05s``: a time for a file name."""
    h, rest = divmod(int(t), 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def clip_names(marks: list[Note]) -> list[str]:
    """A readable, safe and unique file name for each mark: ``01-0m12s-attack-press-after-kick-off.mp4``."""
    names: list[str] = []
    taken: set[str] = set()
    for n, mark in enumerate(marks, 1):
        words = _slug(" ".join(p for p in (mark.tag, mark.label or mark.text) if p)) or "clip"
        stem = f"{n:02d}-{_stamp(mark.t)}-{words}"
        name, k = f"{stem}.mp4", 2
        while name.lower() in taken:
            name, k = f"{stem}-{k}.mp4", k + 1
        taken.add(name.lower())
        names.append(name)
    return names


# -- clips ----------------------------------------------------------------------------


def _clip_span(session: ReviewSession, mark: Note, path: Path, report: Progress, **options) -> ExportResult:
    """Export the range of ``mark`` to ``path``, its progress reported as ``report(0..1, message)``."""
    title = mark_title(mark)
    try:
        return export_mp4(
            session, path, start=mark.t, end=mark.end, progress=lambda f, m: report(f, f"{title}: {m}"), **options
        )
    except SourceError as exc:
        raise ExportError(
            f"{title} ({clock(mark.t)}–{clock(mark.end)}) cannot be cut from {session.video.name}: {exc} "
            "Correct the mark's in and out points."
        ) from exc


def _share(progress: Progress, done: float, weight: float, prefix: str = "") -> Progress:
    """A progress callback for a step taking ``weight`` of the bar after ``done``; messages get ``prefix``."""
    return lambda f, m: progress(min(0.99, done + weight * max(0.0, min(1.0, f))), prefix + m)


def _weights(marks: list[Note], extra: float = 0.0) -> list[float]:
    """Each mark's share of the progress bar (by length), ``extra`` s of work added to each."""
    lengths = [m.end - m.t + extra for m in marks]
    total = sum(lengths) or 1.0
    return [n / total for n in lengths]


def export_clips(
    session: ReviewSession,
    folder: str | Path,
    *,
    marks: Iterable[Note | str] | None = None,
    tag: str | None = None,
    speech: bool = False,
    answers: bool = False,
    style: CaptionStyle = CaptionStyle(),
    synthesizer=None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Path]:
    """Write one MP4 per ranged mark into ``folder`` (made if missing); returns ``{mark id: path}``.

    Args:
        marks: the marks (or ids) to export; default all with a range. ``tag``: only those tagged so.
        speech: add the spoken commentary; ``answers``: show Q&A in the banner too.
        style, synthesizer: as for :func:`app.export.captioned_video.export_captioned_video`.
        progress: ``progress(fraction, message)``; cancel: set it to stop (:class:`ExportCancelled`).

    Clips are made in a hidden folder inside ``folder`` and moved into place together when all
    are done, so a failure or a cancel leaves ``folder`` as it was. Same-named files are replaced.
    """
    chosen = _marks_to_cut(session, marks, tag)
    folder = _clips_folder(Path(folder))
    report = progress or (lambda fraction, message: None)
    names, weights = clip_names(chosen), _weights(chosen)
    options: dict[str, Any] = dict(speech=speech, answers=answers, style=style, synthesizer=synthesizer, cancel=cancel)
    work = _work_dir(folder, ".livecc-clips-")
    try:
        done = 0.0
        for n, (mark, name, weight) in enumerate(zip(chosen, names, weights), 1):
            step = _share(report, done, weight, f"Clip {n} of {len(chosen)}: ")
            _clip_span(session, mark, work / name, step, **options)
            done += weight
        written = {}
        for mark, name in zip(chosen, names):
            os.replace(work / name, folder / name)
            written[mark.id] = folder / name
    except OSError as exc:
        raise os_failure(folder, exc, "write the clips to") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(1.0, f"Saved {len(written)} clip{'s' if len(written) != 1 else ''} in {folder}")
    return written


def _clips_folder(folder: Path) -> Path:
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"Cannot write the clips to {folder}: it is a file. Give a folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_failure(folder, exc, "write the clips to") from exc
    return folder


def _work_dir(parent: Path, prefix: str) -> Path:
    """A hidden scratch folder in ``parent`` (the same disk as the result, so moves are renames)."""
    try:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    except OSError as exc:
        raise os_failure(parent, exc, "write to") from exc


# -- the reel -------------------------------------------------------------------------


def title_card(mark: Note, width: int, height: int) -> np.ndarray:
    """The card before ``mark`` in a reel: its ``[tag] label`` and time on a dark ``width`` x ``height`` frame."""
    card = np.empty((height, width, 3), np.uint8)
    card[:] = CARD_RGB
    when = f"{clock(mark.t)}–{clock(mark.end)}" if mark.is_range else clock(mark.t)
    patch = CaptionRenderer(width, height, CARD_STYLE).patch(f"{mark_title(mark)}\n\n{when}")
    if patch is not None:  # centred, where the renderer would put it at the bottom
        Patch(patch.x, max(0, (height - patch.height) // 2), patch.premultiplied, patch.alpha).apply(card)
    return card


def export_reel(
    session: ReviewSession,
    out_path: str | Path,
    *,
    marks: Iterable[Note | str] | None = None,
    tag: str | None = None,
    speech: bool = False,
    answers: bool = False,
    style: CaptionStyle = CaptionStyle(),
    card_s: float = CARD_S,
    synthesizer=None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ReelResult:
    """Write one MP4 of the ranged ``marks`` (default all; ``tag``: only those), each after a
    ``card_s``-second title card; options as for :func:`export_clips`.

    The reel is written atomically: a failure or a cancel leaves no file behind.
    """
    chosen = _marks_to_cut(session, marks, tag)
    out_path = _reel_target(Path(out_path), session.video)
    report = progress or (lambda fraction, message: None)
    options: dict[str, Any] = dict(speech=speech, answers=answers, style=style, synthesizer=synthesizer, cancel=cancel)
    work = _work_dir(out_path.parent, f".{out_path.stem}.reel-")
    try:
        pieces = _reel_pieces(session, chosen, work, card_s, _share(report, 0.0, 0.95), options, cancel)
        report(0.96, f"Joining {len(pieces)} pieces into {out_path.name}")
        copied = _concat_into(out_path, pieces, work, cancel)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    frames = sum(p.frames for p in pieces)
    report(1.0, f"Saved {out_path.name}")
    return ReelResult(out_path, len(chosen), frames, pieces[0].fps, frames / pieces[0].fps, copied)


def _reel_target(out_path: Path, video: Path) -> Path:
    """The reel's file, checked before any work; its missing folders are made."""
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_failure(out_path.parent, exc, "write the reel to") from exc
    target = resolve_output(out_path)
    if target.exists() and video.exists() and os.path.samefile(target, video):
        raise OutputError(f"Cannot write {out_path}: it is the video being exported. Choose another name.")
    return target


def _reel_pieces(
    session: ReviewSession,
    marks: list[Note],
    work: Path,
    card_s: float,
    report: Progress,
    options: dict[str, Any],
    cancel: threading.Event | None,
) -> list[ExportResult]:
    """Each mark's title card and clip, in order, as files in ``work``."""
    pieces: list[ExportResult] = []
    done = 0.0
    for n, (mark, weight) in enumerate(zip(marks, _weights(marks, extra=card_s / 4)), 1):
        step = _share(report, done, 0.9 * weight, f"Clip {n} of {len(marks)}: ")
        clip = _clip_span(session, mark, work / f"clip{n:03d}.mp4", step, **options)
        height, width = _frame_size(clip.path)
        card = encode_still(
            title_card(mark, width, height),
            work / f"card{n:03d}.mp4",
            card_s,
            clip.fps,
            silent_audio=audio_format(clip.path),
            cancel=cancel,
        )
        pieces += [card, clip]
        done += weight
    return pieces


def _frame_size(path: Path) -> tuple[int, int]:
    """(height, width) of the first frame of ``path``, as decoded."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        ok, image = capture.read()
    finally:
        capture.release()
    if not ok or image is None:
        raise ExportError(f"The clip {path.name} just written cannot be read back; the reel was not made.")
    return int(image.shape[0]), int(image.shape[1])


def _streams(path: Path) -> list[tuple[str, str]]:
    """``(kind, description)`` of each stream of ``path`` as ffmpeg describes them (bit rates left out)."""
    probe = run_ffmpeg("-i", str(path), text=True, errors="replace").stderr
    found = re.findall(r"^\s*Stream #\d+:\d+\S*: (Video|Audio): (.*)$", probe, re.M)
    noise = r"\s*\(default\)|,?\s*\d+ kb/s|\s*\[SAR [^\]]*\]|\s*\(\w+ / 0x[0-9A-Fa-f]+\)"
    return [(kind, re.sub(noise, "", text).strip()) for kind, text in found]


def audio_format(path: Path) -> tuple[int, str] | None:
    """``(sample rate, channel layout)`` of the first audio stream of ``path``; ``None`` without audio."""
    for kind, text in _streams(path):
        found = re.search(r"(\d+) Hz, ([^,]+)", text) if kind == "Audio" else None
        if found:
            return int(found[1]), found[2].strip()
    return None


def _concat_into(out_path: Path, pieces: list[ExportResult], work: Path, cancel: threading.Event | None) -> bool:
    """Join ``pieces`` into ``out_path`` (atomically); stream copy when their streams match.

    Returns whether the streams were copied (``False``: re-encoded).
    """
    listing = work / "pieces.txt"
    listing.write_text("".join(f"file '{_quoted(p.path)}'\n" for p in pieces), encoding="utf-8")
    copy = len({tuple(_streams(p.path)) for p in pieces}) == 1
    if copy:
        codecs = ["-c", "copy"]
    else:
        encoder, encoder_options = video_encoder()
        codecs = ["-c:v", encoder, *encoder_options, "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "160k"]
    tmp = create_temp(out_path.parent, f".{out_path.stem}.", ".part.mp4")
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0"]
    command += ["-i", str(listing), "-map", "0:v:0", "-map", "0:a:0?", *codecs, "-movflags", "+faststart"]
    try:
        _run_cancellable([*command, "-f", "mp4", str(tmp)], out_path, cancel)
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return copy


def _quoted(path: Path) -> str:
    """``path`` for a concat list line in single quotes."""
    return str(path.resolve()).replace("'", "'\\''")


def _run_cancellable(command: list[str], out_path: Path, cancel: threading.Event | None) -> None:
    """Run ffmpeg to the end; kill it if ``cancel`` is set (:class:`ExportCancelled`)."""
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
        except OSError as exc:
            raise ExportError(f"Cannot run ffmpeg ({command[0]}): {exc.strerror or exc}.") from exc
        try:
            while proc.poll() is None:
                if cancel is not None and cancel.is_set():
                    raise ExportCancelled(f"The export of {out_path.name} was cancelled.")
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        if proc.returncode != 0:
            errors.seek(0)
            tail = errors.read()[-4000:].decode("utf-8", "replace")
            raise ExportError(failure_message(out_path, tail, proc.returncode))
