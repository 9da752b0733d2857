"""``commentate FOLDER --server URL [--server URL2 …] --jobs N``: a batch spread over llama-servers.

Each server gets ``N`` worker threads (start it with ``--parallel N``); each worker
holds its own engine (one connection, one server slot and its prompt cache) and
takes the next video from one shared queue when it is done with one. Results are
written as they come, exactly as in a one-at-a-time batch (subtitles and the
transcript per video); the commentary itself is not printed (the streams would
interleave), only one line per video started, finished or failed.

Failover. A server that cannot be reached at the start (refused, wrong API key,
another model) is reported and skipped. A server that fails mid-batch (killed,
refused, stalled past ``--server-timeout``) is dropped for the rest of the batch:
its running videos go back to the front of the queue and are commentated again
FROM THE START on the servers left (a restart, not a resume: another machine may
choose other words for the same frames). Before a video starts again its
transcript is cut back to what it held before that attempt and its subtitles are
rewritten, so no file holds a line twice or a half-written one. A server error
other than a timeout while the server still answers ``/health`` is the video's
fault (that video fails, the server stays). The batch stops with one message only
when no server is left.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.pipeline.file_stream import SubtitleSink, TranscriptSink, stream_file
from app.sources.file_source import FileSource
from models.engine.protocol import Engine
from models.engine.records import ChunkDone
from models.engine.server_client import LlamaServerClient
from models.errors import LiveCCError, ServerError, ServerModelError

#: Seconds a failed server gets to answer ``/health`` before its videos go elsewhere.
HEALTH_PROBE_S = 5.0


@dataclass
class _Server:
    url: str
    failure: str | None = None  # why it was dropped; None while it serves


class _Queue:
    """The videos not yet done, shared by every worker of every server (all under one lock)."""

    def __init__(self, jobs: list, servers: list[_Server]) -> None:
        self.pending = deque(jobs)
        self.servers = servers
        self.in_flight = 0
        self.failed: list[tuple[Path, str]] = []
        self.fatal: list[BaseException] = []
        self.cond = threading.Condition()

    def take(self, server: _Server):
        """The next video for a worker of ``server``; ``None`` when it should stop.

        Waits while the queue is empty but videos are still running elsewhere: a
        failing server may hand them back."""
        with self.cond:
            while True:
                if self.fatal or server.failure is not None:
                    return None
                if self.pending:
                    self.in_flight += 1
                    return self.pending.popleft()
                if self.in_flight == 0:
                    return None
                self.cond.wait()

    def done(self, job, failure: str | None = None) -> None:
        with self.cond:
            self.in_flight -= 1
            if failure is not None:
                self.failed.append((job.video, failure))
            self.cond.notify_all()

    def give_back(self, job) -> None:
        with self.cond:
            self.in_flight -= 1
            self.pending.appendleft(job)
            self.cond.notify_all()

    def drop(self, server: _Server, reason: str) -> bool:
        """Mark ``server`` failed; ``True`` the first time (the caller reports it)."""
        with self.cond:
            first = server.failure is None
            if first:
                server.failure = reason
            self.cond.notify_all()
            return first

    def stop(self, exc: BaseException) -> None:
        with self.cond:
            self.fatal.append(exc)
            self.cond.notify_all()


def run_parallel_batch(
    jobs: list, args, n_jobs: int, load_engine: Callable[[str], Engine], servers: list[str], api_key: str | None = None
) -> int:
    """Commentate ``jobs`` (``app.cli.commentate.Job``) with ``n_jobs`` engines per server URL.

    ``load_engine(url)`` connects one engine to a server. Returns the batch's exit
    status; raises ``ServerError`` when no server is left to finish it."""
    pool = [_Server(url) for url in dict.fromkeys(servers)]
    queue = _Queue(list(jobs), pool)
    lock = threading.Lock()

    def say(text: str) -> None:
        with lock:
            print(text, file=sys.stderr, flush=True)

    def lose(server: _Server, reason: str, started: bool) -> None:
        if queue.drop(server, reason):
            left = sum(s.failure is None for s in pool)
            what = "failed" if started else "skipped"
            then = "its videos go to the other servers" if started and left else f"{left} server(s) left"
            say(f"warning: server {server.url} {what} ({then}): {reason}")

    def worker(server: _Server) -> None:
        try:
            engine = load_engine(server.url)
        except LiveCCError as exc:  # unreachable, wrong key, another model: skip this server
            lose(server, str(exc), started=False)
            return
        except BaseException as exc:  # noqa: BLE001 - reported once by the main thread
            queue.stop(exc)
            return
        try:
            _work(engine, server, queue, args, say, lambda reason: lose(server, reason, started=True), api_key)
        except BaseException as exc:  # noqa: BLE001 - a bug, not a video's or a server's fault
            queue.stop(exc)
        finally:
            engine.close()

    threads = [
        threading.Thread(target=worker, args=(server,), name=f"job-{s}-{i}", daemon=True)
        for s, server in enumerate(pool)
        for i in range(max(1, n_jobs))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if queue.fatal:
        raise queue.fatal[0]
    if queue.pending:
        raise _none_left(pool, len(queue.pending), len(jobs))
    done = len(jobs) - len(queue.failed)
    print(
        f"{done} of {len(jobs)} videos commentated" + (f"; {len(queue.failed)} failed:" if queue.failed else "."),
        file=sys.stderr,
    )
    for video, reason in queue.failed:
        print(f"  {video}: {reason}", file=sys.stderr)
    return 2 if queue.failed else 0


def _work(engine: Engine, server: _Server, queue: _Queue, args, say, lose, api_key: str | None) -> None:
    """One worker's loop: videos from the queue until it is empty or this server fails."""
    while (job := queue.take(server)) is not None:
        say(f"== {job.video.name}: started on {server.url}")
        kept = 0 if job.fresh else _size(job.outputs.jsonl)  # what the transcript held before this attempt
        try:
            chunks = _commentate_quietly(engine, job, args)
        except (ServerError, ServerModelError) as exc:
            if not _server_failed(exc, server.url, api_key):  # the server is fine: the video made it fail
                queue.done(job, str(exc))
                say(f"error: {job.video.name}: skipped: {exc}")
                continue
            _cut_back(job.outputs.jsonl, kept)  # the next attempt writes its lines again: never twice
            queue.give_back(job)
            lose(str(exc))
            return
        except LiveCCError as exc:
            queue.done(job, str(exc))
            say(f"error: {job.video.name}: skipped: {exc}")
            continue
        except BaseException:
            queue.give_back(job)
            raise
        queue.done(job)
        say(f"== {job.video.name}: done on {server.url} ({chunks} chunks)")


def _server_failed(exc: LiveCCError, url: str, api_key: str | None) -> bool:
    """Whether ``exc`` (from a video on the server at ``url``) means the server failed, not the video:
    another model now, a stall (a timeout), or no ``/health`` answer any more."""
    if isinstance(exc, ServerModelError) or isinstance(exc.__cause__, TimeoutError):
        return True
    return not _answers(url, api_key)


def _answers(url: str, api_key: str | None) -> bool:
    """Whether the server at ``url`` still answers ``/health`` with "ok"."""
    client = LlamaServerClient(url, api_key, HEALTH_PROBE_S)
    try:
        return client.get("/health").get("status", "ok") == "ok"
    except ServerError:
        return False
    finally:
        client.close()


def _none_left(pool: list[_Server], not_done: int, total: int) -> ServerError:
    reasons = "; ".join(f"{s.url}: {(s.failure or 'stopped').rstrip('.')}" for s in pool)
    return ServerError(
        f"No server is left to commentate {not_done} of {total} videos ({reasons}). "
        "Start a server (`livecc-desk serve`) and run the batch again."
    )


def _commentate_quietly(engine: Engine, job, args) -> int:
    source = FileSource(job.video, start=args.start, end=args.end)
    source.open()  # before the outputs are touched: a bad video leaves no empty files
    job.outputs.check_writable()
    jsonl = job.outputs.jsonl
    if job.fresh and jsonl is not None:
        jsonl.unlink(missing_ok=True)
    subtitles = SubtitleSink(job.outputs.srt, job.outputs.vtt)
    transcript = TranscriptSink(jsonl) if jsonl else None
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


def _size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def _cut_back(path: Path | None, size: int) -> None:
    """Truncate the transcript to ``size`` bytes (what it held before this attempt)."""
    if path is None:
        return
    try:
        if size == 0:
            path.unlink(missing_ok=True)
        else:
            os.truncate(path, size)
    except OSError:
        pass
