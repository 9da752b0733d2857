"""``livecc-desk review VIDEO``: prepare a review without a window, on the journal the GUI opens.

A coach preparing many matches scripts the marks they already know (from a
match sheet, a tagging app's export) and gets the report to hand out, then opens
any of the videos in the Review tab to find the same marks there: both write the
:class:`~app.review.session.ReviewSession` journal beside the video.

  livecc-desk review match.mp4 --mark 12.5-20:attack:"Overload left" --mark 1:02:set piece:Corner
      --tags attack,defence,"set piece" --report match.html [--model NAME --ask 30:Who presses?]
      [--srt match.srt --include marks,qa] [--clips clips/ --reel reel.mp4 --tag attack --speak]

With ``--model`` (or ``--ask``) the model commentates the video ahead and
answers the questions, as the Review tab's jobs do (:mod:`app.cli.review_engine`).

A mark is ``T[-T2]:TAG:LABEL``: a time (seconds, or ``m:ss.s`` / ``h:mm:ss.s``),
an optional out point, a tag (may be empty) and a label (may contain colons).
The same mark given again (a re-run of a batch) is not added twice.

``--clips DIR`` writes one MP4 per mark with a range, ``--reel OUT.mp4`` one
highlights reel of them with title cards (:mod:`app.review.clips`), both with the
captions, the notes banner and the drawings burned in; ``--tag`` keeps only the
marks so tagged. A report written in the same run links each moment to its clip.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from app.review.session import Note, ReviewSession
from app.timefmt import clock
from models.errors import LiveCCError

TIME_PATTERN = r"\d+(?::\d{1,2})*(?:\.\d+)?"
_MARK = re.compile(
    rf"^\s*(?P<t>{TIME_PATTERN})(?:\s*-\s*(?P<t_out>{TIME_PATTERN}))?(?::(?P<tag>[^:]*)(?::(?P<label>.*))?)?$", re.S
)


@dataclass(frozen=True)
class MarkSpec:
    """One ``--mark``: in point, optional out point, tag and label."""

    t: float
    t_out: float | None
    tag: str
    label: str

    def matches(self, mark: Note) -> bool:
        return (mark.t, mark.t_out, mark.tag, mark.label) == (self.t, self.t_out, self.tag, self.label)


def parse_time(text: str) -> float:
    """``75``, ``75.5``, ``1:15.5`` or ``1:01:15`` → seconds."""
    seconds = 0.0
    for part in text.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def parse_mark(text: str) -> MarkSpec:
    """``T[-T2]:TAG:LABEL`` → a :class:`MarkSpec` (an ``argparse`` type)."""
    found = _MARK.match(text)
    if found is None:
        raise argparse.ArgumentTypeError(
            f"--mark {text!r}: expected T[-T2]:TAG:LABEL, e.g. 12.5-20:attack:Overload left or 1:02:set piece:Corner"
        )
    t = parse_time(found["t"])
    t_out = parse_time(found["t_out"]) if found["t_out"] else None
    if t_out is not None and t_out <= t:
        raise argparse.ArgumentTypeError(f"--mark {text!r}: the out point must come after the in point")
    return MarkSpec(t, t_out, (found["tag"] or "").strip(), (found["label"] or "").strip())


def add_review_command(sub) -> None:
    r = sub.add_parser(
        "review",
        help="add tagged marks to a video's review (the journal the Review tab opens) and write its report",
    )
    r.add_argument("video", type=Path, metavar="VIDEO", help="the video under review")
    r.add_argument(
        "--mark",
        action="append",
        type=parse_mark,
        default=[],
        metavar="T[-T2]:TAG:LABEL",
        help="mark a moment (T) or a range (T-T2), e.g. 12.5-20:attack:Overload left; repeatable",
    )
    from app.cli.main import _add_engine_options
    from app.cli.review_engine import parse_ask

    r.add_argument(
        "--ask",
        action="append",
        type=parse_ask,
        default=[],
        metavar="T:QUESTION",
        help="ask the model about the seconds before T, e.g. 12.5:Who presses the ball?; repeatable (needs a model)",
    )
    _add_engine_options(r)  # --model: commentate ahead (resuming where the review's commentary stops)
    r.add_argument("--tags", default=None, help="the review's tag list, comma-separated (kept in the journal)")
    for fmt, what in (("srt", "SubRip subtitles"), ("vtt", "WebVTT subtitles"), ("jsonl", "the whole timeline")):
        r.add_argument(f"--{fmt}", type=Path, default=None, metavar=f"OUT.{fmt}", help=f"write {what} here")
    r.add_argument(
        "--include",
        type=_include,
        default=("marks",),
        metavar="marks,qa",
        help="what the subtitles carry besides commentary: marks (notes and labelled marks), qa (default: marks)",
    )
    r.add_argument("--report", type=Path, default=None, metavar="OUT.html", help="write the review as one HTML file")
    r.add_argument(
        "--clips", type=Path, default=None, metavar="DIR", help="write one MP4 per mark with an in and out point here"
    )
    r.add_argument(
        "--reel", type=Path, default=None, metavar="OUT.mp4", help="write the ranged marks as one reel with title cards"
    )
    r.add_argument("--tag", default=None, metavar="TAG", help="--clips and --reel: only the marks tagged TAG")
    r.add_argument(
        "--speak", action="store_true", help="--clips and --reel: add the spoken commentary to the source's sound"
    )
    r.add_argument("--store", type=Path, default=None, help=argparse.SUPPRESS)  # tests: the journal's path


def _include(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    wrong = set(parts) - {"marks", "qa"}
    if wrong:
        raise argparse.ArgumentTypeError(f"--include: unknown {', '.join(sorted(wrong))} (choose from marks, qa)")
    return parts


def _export(review: ReviewSession, args: argparse.Namespace) -> None:
    from app.review import export

    flags = {"notes": "marks" in args.include, "answers": "qa" in args.include}
    if args.srt is not None:
        print(f"Subtitles: {export.export_srt(review, args.srt, **flags)}")
    if args.vtt is not None:
        print(f"Subtitles: {export.export_vtt(review, args.vtt, **flags)}")
    if args.jsonl is not None:
        print(f"Timeline: {export.export_jsonl(review, args.jsonl)}")


def apply_marks(review: ReviewSession, specs: list[MarkSpec]) -> list[Note]:
    """Add each mark not already on the timeline; returns the ones added."""
    added = []
    for spec in specs:
        if not any(spec.matches(m) for m in review.marks()):
            added.append(review.add_mark(spec.t, t_out=spec.t_out, tag=spec.tag, label=spec.label))
    return added


def run_review(args: argparse.Namespace) -> int:
    video: Path = args.video
    if not video.is_file():
        raise LiveCCError(f"{video}: no such video file.")
    if args.clips is None and args.reel is None and (args.tag is not None or args.speak):
        raise LiveCCError(
            "--tag and --speak choose what --clips and --reel export: give --clips DIR or --reel OUT.mp4."
        )
    with ReviewSession(video, args.store) as review:
        for warning in review.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if args.tags is not None:
            review.set_tags(args.tags.split(","))
        added = apply_marks(review, args.mark)
        if args.model is not None or args.ask:
            _run_model(review, args)
        for mark in review.marks():
            span = f"{clock(mark.t)}–{clock(mark.end)}" if mark.is_range else clock(mark.t)
            new = " (new)" if mark in added else ""
            print(f"{span:>17}  {mark.tag or '-':<12} {mark.label or mark.text}{new}")
        print(f"{video.name}: {len(review.marks())} marks, {len(added)} added · review saved in {review.store}")
        _export(review, args)
        clips = _export_video(review, args)
        if args.report is not None:
            from app.review.report import write_report

            print(f"Report: {write_report(review, args.report, clips)}")
    return 0


def _export_video(review: ReviewSession, args: argparse.Namespace) -> dict[str, Path]:
    """Write ``--clips`` and ``--reel``; returns the clips written (mark id → file) for the report."""
    if args.clips is None and args.reel is None:
        return {}
    from app.cli.progress import StatusLine, bar
    from app.review.clips import export_clips, export_reel

    line = StatusLine()
    progress = lambda fraction, message: line.show(f"{bar(fraction, 20)} {message}")  # noqa: E731
    options = {"tag": args.tag, "speech": args.speak, "progress": progress}
    clips: dict[str, Path] = {}
    try:
        if args.clips is not None:
            clips = export_clips(review, args.clips, **options)
            line.clear()
            print(f"Clips: {len(clips)} in {args.clips}")
        if args.reel is not None:
            reel = export_reel(review, args.reel, **options)
            line.clear()
            print(f"Reel: {reel.path} ({reel.clips} clip{'' if reel.clips == 1 else 's'}, {reel.duration:.1f} s)")
    finally:
        line.clear()
    return clips


def _run_model(review: ReviewSession, args: argparse.Namespace) -> None:
    from app.cli.main import settings_from_args
    from app.cli.model_choice import choose_model
    from app.cli.review_engine import run_model
    from app.engine.process import Load
    from app.settings import engine_options

    args.model, args.mmproj = choose_model(args.model, args.mmproj, args.models_dir)
    settings = settings_from_args(args)
    load = Load(str(args.model), str(args.mmproj), engine_options(settings), settings.commentary.query)
    run_model(review, load, args.ask, max_pixels=settings.model.max_pixels)
