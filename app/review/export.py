"""Exports of a review: subtitles, a JSONL record of the whole timeline, a captioned MP4.

Commentary becomes cues the way live subtitles do (:func:`app.sinks.subtitles.build_cues`).
The coach's notes (and, if asked, the Q&A) become cues of their own that stay
up for :data:`NOTE_SHOW_S`: in SRT/WebVTT they are prefixed ``Note:``; in the
MP4 they show as a banner at the top while commentary runs at the bottom.
A labelled mark shows as ``[tag] label — note``, for its whole range if it has
one. Bare marks (no label, no note) are for navigating and appear only in the JSONL.
Drawings on the frame are burned into the MP4 for as long as they are held; subtitles
have no cue for them, the JSONL has a ``drawing`` record each.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from app.atomic_files import write_atomic
from app.review.drawings import DrawingTrack, shape_to_dict
from app.review.session import QA, Commentary, Drawing, Note, ReviewSession
from app.sinks.subtitles import Cue, build_cues, write_srt, write_vtt

NOTE_SHOW_S = 4.0
ANSWER_CAPTION_CHARS = 160  # a long answer is cut in captions; the JSONL keeps it whole
FORMATS = ("srt", "vtt", "jsonl")


def commentary_cues(session: ReviewSession) -> list[Cue]:
    return build_cues(session.chunks())


def mark_text(mark: Note) -> str:
    """What a mark says on the picture and in subtitles: ``[tag] label — note``, or the note alone."""
    if not mark.label:
        return mark.text
    named = f"[{mark.tag}] {mark.label}" if mark.tag else mark.label
    return f"{named} — {mark.text}" if mark.text else named


def note_cues(session: ReviewSession, *, notes: bool = True, answers: bool = False, prefix: str = "") -> list[Cue]:
    """Notes and labelled marks (and Q&A if ``answers``) as cues, each cut where the next begins."""
    chosen = [
        i
        for i in session.items()
        if (notes and isinstance(i, Note) and (i.text or i.label)) or (answers and isinstance(i, QA))
    ]
    cues = []
    for n, item in enumerate(chosen):
        end = max(item.t + NOTE_SHOW_S, item.end) if isinstance(item, Note) else item.t + NOTE_SHOW_S
        if n + 1 < len(chosen) and item.t < chosen[n + 1].t < end:
            end = chosen[n + 1].t
        if isinstance(item, Note):
            text = prefix + mark_text(item)
        else:
            answer = item.answer
            if len(answer) > ANSWER_CAPTION_CHARS:
                answer = answer[:ANSWER_CAPTION_CHARS].rsplit(" ", 1)[0] + "…"
            text = f"Q: {item.question}\nA: {answer}"
        cues.append(Cue(item.t, end, text))
    return cues


def drawing_track(session: ReviewSession) -> DrawingTrack:
    """The session's drawings, to burn into a video."""
    return DrawingTrack(session.drawings())


def subtitle_cues(session: ReviewSession, *, notes: bool = True, answers: bool = False) -> list[Cue]:
    extra = note_cues(session, notes=notes, answers=answers, prefix="Note: ")
    return sorted(commentary_cues(session) + extra, key=lambda c: (c.start, c.end))


def export_srt(session: ReviewSession, path: str | Path, *, notes: bool = True, answers: bool = False) -> Path:
    write_srt(subtitle_cues(session, notes=notes, answers=answers), path)
    return Path(path)


def export_vtt(session: ReviewSession, path: str | Path, *, notes: bool = True, answers: bool = False) -> Path:
    write_vtt(subtitle_cues(session, notes=notes, answers=answers), path)
    return Path(path)


def timeline_records(session: ReviewSession) -> list[dict]:
    """The timeline as JSON objects, each with a ``type``; commentary keeps the
    transcript's fields (``index``, ``start``, ``end``, ``text``, see :mod:`app.sinks.transcript`)."""
    records = []
    spoken = 0
    for item in session.items():
        if isinstance(item, Commentary):
            records.append(
                {
                    "type": "commentary",
                    "index": spoken,
                    "start": round(item.t0, 3),
                    "end": round(item.t1, 3),
                    "text": item.text,
                }
            )
            spoken += 1
        elif isinstance(item, Note):
            record: dict[str, object] = {
                "type": "note" if item.text else "mark",
                "time": round(item.t, 3),
                "text": item.text,
            }
            if item.is_range:
                record["end"] = round(item.end, 3)
            record.update({k: v for k, v in (("label", item.label), ("tag", item.tag)) if v})
            records.append(record)
        elif isinstance(item, Drawing):
            records.append(
                {
                    "type": "drawing",
                    "time": round(item.t, 3),
                    "end": round(item.end, 3),
                    "shapes": [shape_to_dict(s) for s in item.shapes],
                }
            )
        else:
            records.append(
                {
                    "type": "qa",
                    "time": round(item.t, 3),
                    "question": item.question,
                    "answer": item.answer,
                    "window_s": item.window_s,
                }
            )
    return records


def export_jsonl(session: ReviewSession, path: str | Path) -> Path:
    """Every spoken chunk, note, mark, Q&A and drawing, one JSON object per line, in time order (atomic)."""
    path = Path(path)
    lines = (json.dumps(r, ensure_ascii=False) + "\n" for r in timeline_records(session))
    write_atomic(path, "".join(lines))
    return path


def export_mp4(session: ReviewSession, path: str | Path, *, notes: bool = True, answers: bool = False, **options):
    """The video with commentary captions, a banner of notes and the drawings; ``options`` as for
    :func:`app.export.captioned_video.export_captioned_video` (``start``, ``end``, ``speech``,
    ``progress``, ``cancel``...)."""
    from app.export.captioned_video import export_captioned_video

    banner = note_cues(session, notes=notes, answers=answers)
    options.setdefault("drawings", drawing_track(session))
    return export_captioned_video(session.video, path, commentary_cues(session), notes=banner, **options)


def export_all(
    session: ReviewSession, folder: str | Path, stem: str | None = None, formats: Iterable[str] = FORMATS
) -> list[Path]:
    """Write ``folder/stem.<format>`` for each of ``formats`` (``srt``, ``vtt``, ``jsonl``)."""
    folder, stem = Path(folder), stem or session.video.stem
    writers = {"srt": export_srt, "vtt": export_vtt, "jsonl": export_jsonl}
    return [writers[f](session, folder / f"{stem}.{f}") for f in formats]
