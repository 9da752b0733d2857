"""``commentate FOLDER --server URL --jobs N``: N videos at once on a server with ``--parallel N``.

Each worker thread holds its own engine (one connection, one server slot and its
prompt cache) and takes the next video when it is done with one. Results are
written as they come, exactly as in a one-at-a-time batch (subtitles and the
transcript per video); the commentary itself is not printed (N streams would
interleave), only one line per video started, finished or failed.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path

from app.pipeline.file_stream import SubtitleSink, TranscriptSink, stream_file
from app.sources.file_source import FileSource
from models.engine.protocol import Engine
from models.engine.records import ChunkDone
from models.errors import LiveCCError, ModelError


def run_parallel_batch(jobs: list, args, n_jobs: int, load_engine: Callable[[object], Engine]) -> int:
    """Commentate ``jobs`` (``app.cli.commentate.Job``) with ``n_jobs`` engines; the batch's exit status."""
    lock = threading.Lock()
    pending = list(reversed(jobs))
    failed: list[tuple[Path, str]] = []
    fatal: list[BaseException] = []

    def say(text: str) -> None:
        with lock:
            print(text, file=sys.stderr, flush=True)

    def next_job():
        with lock:
            return pending.pop() if pending and not fatal else None

    def worker() -> None:
        try:
            engine = load_engine(args)
        except BaseException as exc:  # noqa: BLE001 - reported once by the main thread
            with lock:
                fatal.append(exc)
            return
        try:
            while (job := next_job()) is not None:
                try:
                    say(f"== {job.video.name}: started")
                    chunks = _commentate_quietly(engine, job, args)
                    say(f"== {job.video.name}: done ({chunks} chunks)")
                except ModelError as exc:
                    with lock:
                        fatal.append(exc)
                except LiveCCError as exc:
                    with lock:
                        failed.append((job.video, str(exc)))
                    say(f"error: {job.video.name}: skipped: {exc}")
        finally:
            engine.close()

    threads = [threading.Thread(target=worker, name=f"job-{i}", daemon=True) for i in range(max(1, n_jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if fatal:
        raise fatal[0]
    done = len(jobs) - len(failed)
    print(
        f"{done} of {len(jobs)} videos commentated" + (f"; {len(failed)} failed:" if failed else "."), file=sys.stderr
    )
    for video, reason in failed:
        print(f"  {video}: {reason}", file=sys.stderr)
    return 2 if failed else 0


def _commentate_quietly(engine: Engine, job, args) -> int:
    source = FileSource(job.video, start=args.start, end=args.end)
    source.open()  # before the outputs are touched: a bad video leaves no empty files
    job.outputs.check_writable()
    if job.fresh and job.outputs.jsonl is not None:
        job.outputs.jsonl.unlink(missing_ok=True)
    subtitles = SubtitleSink(job.outputs.srt, job.outputs.vtt)
    transcript = TranscriptSink(job.outputs.jsonl) if job.outputs.jsonl else None
    engine.reset()
    chunks = 0
    try:
        for event in stream_file(engine, source, max_pixels=args.max_pixels):
            if transcript:
                transcript.handle(event)
            subtitles.handle(event)
            chunks += isinstance(event, ChunkDone)
    finally:
        subtitles.write()
        if transcript:
            transcript.close()
    if job.mp4 is not None:
        from app.export.captioned_video import export_captioned_video

        export_captioned_video(job.video, job.mp4, subtitles.cues, start=args.start, end=args.end, speech=args.speak)
    return chunks
