"""The ``commentate`` and ``demo`` subcommands.

``commentate`` takes one video (the original form: ``--srt/--vtt/--jsonl`` name
its outputs, any problem stops the run) or a batch: several videos, folders of
videos, or ``--out-dir``. A batch loads the model once, commentates the videos
one after another under one overall progress bar, writes ``NAME.srt``,
``NAME.vtt`` and ``NAME.jsonl`` (``--formats``) per video next to it or in
``--out-dir``, and, with ``--export-mp4``, ``NAME.captioned.mp4``. A video that
fails is reported and skipped; the run goes on, and exits with status 2 if any
failed. A coach can leave a season's folder running overnight and read in the
morning which file was damaged.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.batch_progress import BatchProgress
from app.cli.console import CommentaryPrinter, ProgressBar
from app.cli.main import settings_from_args
from app.cli.stream_outputs import start_stream_outputs
from app.errors import OutputError, VideoOpenError
from app.pipeline.file_stream import OutputFiles, SubtitleSink, TranscriptSink, stream_file
from app.settings import engine_options
from app.sinks.formats import EXPORT_FORMATS
from app.sources.file_source import FileSource
from models.engine.records import ChunkDone
from models.errors import LiveCCError, ModelError, ServerError

if TYPE_CHECKING:
    from app.sinks.live_outputs import LiveOutputs
    from models.engine.livecc_engine import EngineOptions
    from models.engine.protocol import Engine

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".3gp"}
)


def engine_options_from_args(args) -> EngineOptions:
    """The engine options for parsed ``commentate`` flags: the GUI's builder on the same settings."""
    return engine_options(settings_from_args(args))


@dataclass(frozen=True)
class Job:
    """One video and where its results go. ``fresh`` replaces an old transcript instead of appending."""

    video: Path
    outputs: OutputFiles
    mp4: Path | None = None
    fresh: bool = False


def find_videos(paths: list[Path]) -> list[Path]:
    """Files as given (a named file is tried whatever its extension) and each folder's videos, sorted."""
    videos = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                (
                    p
                    for p in path.iterdir()
                    if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith(".")
                ),
                key=lambda p: p.name.lower(),
            )
            if not found:
                print(f"warning: {path} holds no video files ({', '.join(sorted(VIDEO_EXTENSIONS))}).", file=sys.stderr)
            videos.extend(found)
        else:
            videos.append(path)
    unique, seen = [], set()
    for video in videos:
        key = video.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(video)
    return unique


def plan_jobs(videos: list[Path], out_dir: Path | None, formats: tuple[str, ...], mp4: bool) -> list[Job]:
    """Output names per video: ``NAME.<format>``; ``NAME.ext.<format>`` where two videos share a NAME."""
    jobs, taken = [], set()
    for video in videos:
        folder = out_dir or video.parent
        stem = video.stem
        if (folder.resolve(), stem.lower()) in taken:
            stem = video.name
        taken.add((folder.resolve(), stem.lower()))
        paths = {f: folder / f"{stem}.{f}" for f in formats}
        jobs.append(
            Job(
                video,
                OutputFiles(jsonl=paths.get("jsonl"), srt=paths.get("srt"), vtt=paths.get("vtt")),
                mp4=folder / f"{stem}.captioned.mp4" if mp4 else None,
                fresh=True,
            )
        )
    return jobs


def _formats(text: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()))
    wrong = [f for f in chosen if f not in EXPORT_FORMATS]
    if wrong:
        raise OutputError(f"--formats: unknown format {', '.join(wrong)}; choose from {','.join(EXPORT_FORMATS)}.")
    return chosen


def run_commentate(args) -> int:
    if args.end is not None and args.end <= args.start:
        raise VideoOpenError(f"--end ({args.end}) must be after --start ({args.start}).")
    export_mp4 = args.export_mp4 or args.speak
    single = len(args.videos) == 1 and not args.videos[0].is_dir() and args.out_dir is None
    if not single:
        if args.srt or args.vtt or args.jsonl:
            raise OutputError(
                "--srt, --vtt and --jsonl name the files of one video; "
                "for several videos use --out-dir (or nothing: results go next to each video)."
            )
        return _run_batch(args, _formats(args.formats), export_mp4)
    video = args.videos[0]
    mp4 = video.with_name(f"{video.stem}.captioned.mp4") if export_mp4 else None
    job = Job(video, OutputFiles(jsonl=args.jsonl, srt=args.srt, vtt=args.vtt), mp4)
    job.outputs.check_writable()
    source = FileSource(video, start=args.start, end=args.end)
    source.open()  # a missing or unreadable video fails here, before the model loads
    live = start_stream_outputs(args)  # so does a port in use or a refused OBS password
    try:
        engine = _load_engine(args)
        try:
            end = args.end if args.end is not None else source.duration_hint
            _commentate(engine, job, source, args, ProgressBar(args.start, end), live)
        finally:
            engine.close()
    finally:
        if live is not None:
            live.close()
    return 0


def _load_engine(args) -> Engine:
    """The engine for one video at a time: in this process, or on the first ``--server`` that answers."""
    servers = _servers(args)
    engine: Engine
    if servers:  # the model runs in a llama-server (livecc-desk serve)
        engine = _first_answering(args, servers)
    else:
        from models.engine.livecc_engine import LiveCCEngine

        settings = settings_from_args(args)
        engine = LiveCCEngine(args.model, args.mmproj, engine_options(settings), query=settings.commentary.query)
    info = engine.info()
    print(f"model: {info.model_name} | {info.device}", file=sys.stderr)
    return engine


def _servers(args) -> list[str]:
    """The ``--server`` URLs given (the option may be repeated), each once, in order."""
    given = getattr(args, "server", None) or []
    return list(dict.fromkeys([given] if isinstance(given, str) else given))


def _first_answering(args, servers: list[str]) -> Engine:
    """A remote engine on the first server that answers; the others are reported as skipped.
    One video does not move to another server mid-way: a restarting one is waited for."""
    problems: list[str] = []
    for url in servers:
        try:
            return _remote_engine(args, url, several=False)
        except LiveCCError as exc:
            if len(servers) == 1:
                raise
            problems.append(f"{url}: {str(exc).rstrip('.')}")
            print(f"warning: server {url} skipped: {exc}", file=sys.stderr)
    raise ServerError(f"No server answered ({'; '.join(problems)}). Start one (`livecc-desk serve`) or check the URLs.")


def _remote_engine(args, url: str, *, several: bool) -> Engine:
    """A ``RemoteEngine`` on ``url``. Alone, a server that goes away is waited for (it may be
    restarting); one of several is given up at once, so its videos go to the others."""
    from app.cli.serve import api_key_from
    from models.engine.remote import RemoteEngine, RemoteOptions

    settings = settings_from_args(args)
    options = engine_options(settings)
    return RemoteEngine(
        RemoteOptions(
            url=url,
            api_key=api_key_from(args),
            timeout_s=args.server_timeout,
            reconnect_s=0.0 if several else args.server_timeout,
            expected_model=str(args.model) if args.model else None,
            sampling=options.sampling,
            max_new_tokens=options.max_new_tokens,
            answer_max_tokens=options.answer_max_tokens,
        ),
        query=settings.commentary.query,
    )


def _remote_batch(args, jobs: list[Job]) -> int:
    """A batch on one or several llama-servers, ``--jobs`` videos at once on each."""
    from app.cli.parallel_batch import run_parallel_batch
    from app.cli.serve import api_key_from

    servers = _servers(args)

    def load(url: str) -> Engine:
        engine = _remote_engine(args, url, several=len(servers) > 1)
        print(f"model: {engine.info().model_name} | {engine.info().device}", file=sys.stderr)
        return engine

    return run_parallel_batch(jobs, args, args.jobs, load, servers, api_key_from(args))


def _commentate(engine: Engine, job: Job, source: FileSource, args, progress, live: LiveOutputs | None = None) -> None:
    """Commentate one opened source into the job's outputs, the live outputs for OBS (and its captioned MP4)."""
    printer = CommentaryPrinter(show_silence=args.show_silence)
    if job.fresh and job.outputs.jsonl is not None:
        job.outputs.jsonl.unlink(missing_ok=True)  # a batch rewrites its results, never appends to old ones
    subtitles = SubtitleSink(job.outputs.srt, job.outputs.vtt)
    transcript = TranscriptSink(job.outputs.jsonl) if job.outputs.jsonl else None
    engine.reset()
    chunks = 0
    try:
        for event in stream_file(engine, source, max_pixels=args.max_pixels, realtime=args.realtime):
            printer.handle(event, before_write=progress.clear)
            if live is not None:
                live.handle(event)
            if transcript:
                transcript.handle(event)
            subtitles.handle(event)
            progress.update(event)
            chunks += isinstance(event, ChunkDone)
    finally:
        progress.clear()
        # Subtitles hold whatever was commentated, also after Ctrl-C or an error.
        subtitles.write()
        if transcript:
            transcript.close()
    for warning in source.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if chunks == 0:
        raise VideoOpenError(f"{job.video}: no frames to commentate in the chosen time range.")
    if job.mp4 is not None:
        from app.export.captioned_video import export_captioned_video

        report = getattr(progress, "export", None)
        result = export_captioned_video(
            job.video, job.mp4, subtitles.cues, start=args.start, end=args.end, speech=args.speak, progress=report
        )
        progress.clear()
        print(
            f"wrote {result.path} ({result.frames} frames, {result.duration:.1f} s, audio: {result.audio})",
            file=sys.stderr,
        )
    written = [
        p for p in (job.outputs.srt, job.outputs.vtt, job.outputs.jsonl, job.mp4) if p is not None and p.exists()
    ]
    print(
        "wrote: " + (", ".join(str(p) for p in written) if written else "no files (add --srt, --vtt or --jsonl)"),
        file=sys.stderr,
    )


def _run_batch(args, formats: tuple[str, ...], export_mp4: bool) -> int:
    if args.out_dir is not None:
        try:
            args.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"Cannot create the output folder {args.out_dir}: {exc.strerror or exc}.") from exc
    videos = find_videos(args.videos)
    if not videos:
        raise VideoOpenError("No video to commentate: the folders given hold no video files.")
    jobs = plan_jobs(videos, args.out_dir, formats, export_mp4)
    if getattr(args, "jobs", 1) > 1 or len(_servers(args)) > 1:  # spread over llama-servers, with failover
        return _remote_batch(args, jobs)
    live = start_stream_outputs(args)
    try:
        engine = _load_engine(args)  # model problems stop the batch: they are not one video's fault
    except BaseException:
        if live is not None:
            live.close()
        raise
    failed: list[tuple[Path, str]] = []
    bar = BatchProgress(len(jobs))
    try:
        for number, job in enumerate(jobs):
            print(f"== {job.video.name} ({number + 1}/{len(jobs)})", flush=True)
            try:
                source = FileSource(job.video, start=args.start, end=args.end)
                source.open()  # before the outputs are touched: a bad video leaves no empty files
                job.outputs.check_writable()
                bar.start_video(
                    number,
                    job.video.name,
                    args.start,
                    args.end if args.end is not None else source.duration_hint,
                    job.mp4 is not None,
                )
                if live is not None:
                    live.clear()
                _commentate(engine, job, source, args, bar, live)
            except ModelError:
                raise
            except LiveCCError as exc:
                bar.clear()
                failed.append((job.video, str(exc)))
                print(f"error: {job.video.name}: skipped: {exc}", file=sys.stderr)
    finally:
        bar.clear()
        engine.close()
        if live is not None:
            live.close()
    done = len(jobs) - len(failed)
    print(
        f"{done} of {len(jobs)} videos commentated" + (f"; {len(failed)} failed:" if failed else "."), file=sys.stderr
    )
    for video, reason in failed:
        print(f"  {video}: {reason}", file=sys.stderr)
    return 2 if failed else 0


def run_demo(args) -> int:
    """Make the tiny model and a clip, then commentate it: proves the whole path works."""
    from app.cli.main import build_parser
    from app.demo_files import CLIP_SECONDS, demo_files
    from app.paths import cache_dir

    folder = Path(args.dir or cache_dir()) / "demo"
    files = demo_files(folder)
    clip = files.clip
    print(
        f"LiveCC Desk demo: a generated {CLIP_SECONDS}-second clip, commentated by a TINY RANDOM model.\n"
        "The words are noise; everything else (frames, protocol, llama.cpp, subtitles) is real.\n",
        file=sys.stderr,
    )
    cargs = build_parser().parse_args(
        [
            "commentate",
            str(clip),
            "--model",
            str(files.text_path),
            "--mmproj",
            str(files.mmproj_path),
            "--greedy",
            "--srt",
            str(folder / "demo-clip.srt"),
            "--jsonl",
            str(folder / "demo-clip.jsonl"),
        ]
    )
    (folder / "demo-clip.jsonl").unlink(missing_ok=True)
    rc = run_commentate(cargs)
    print(
        "\nTo use the real model (a ~16.6 GB download, converted on this machine):\n"
        "  livecc-desk models download livecc-7b-instruct\n"
        "  livecc-desk commentate VIDEO --model livecc-7b-instruct --srt out.srt\n"
        "`livecc-desk models list` shows the models installed; `livecc-desk --help` lists every command.",
        file=sys.stderr,
    )
    return rc
