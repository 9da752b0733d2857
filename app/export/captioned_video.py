"""An MP4 of the footage with burned-in captions, and optionally the spoken commentary.

Frames are decoded by :class:`~app.sources.file_source.FileSource` (the same
decoder and the same true timestamps the model saw), captions are blended in
(:mod:`app.export.captions`), and raw RGB is piped to the bundled ffmpeg, which
encodes H.264 (yuv420p, plays everywhere) and muxes the audio: the source's
own sound, the spoken commentary (:mod:`app.export.speech_track`), or both mixed with
the source turned down.

A raw pipe carries no timestamps, so the output is constant-frame-rate at the
source's nominal rate: every decoded frame goes to the output slot nearest its
true time; a slot no frame reaches repeats the previous picture, and of two
frames in one slot the later wins. Constant-rate sources come out frame for
frame; variable-rate ones (phones, screen recordings) keep their timing (what
is shown at second t is the frame of second t) at an even rate, as video editors
conform them on import. Captions are chosen by each output frame's own time;
drawings on the frame (:mod:`app.review.drawings`) by the source time of the picture
shown, so a drawing made on a paused frame is on that very frame, and they are drawn
first, so captions stay on top of them. :func:`encode_still` writes a still picture
(a reel's title card) with the same encoder and settings.

The output is written to a hidden temporary file beside the target and renamed
into place only when ffmpeg succeeded, so a failed or cancelled export leaves
nothing half-written behind.
"""

from __future__ import annotations

import collections
import math
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2

from app.atomic_files import create_temp, os_failure, resolve_output
from app.errors import ExportCancelled, ExportError, OutputError
from app.export.captions import CaptionRenderer, CaptionStyle, CaptionTrack
from app.export.ffmpeg import failure_message, ffmpeg_exe, has_audio, video_encoder
from app.review.drawings import DrawingTrack, render_shapes
from app.sinks.subtitles import Cue, build_cues
from app.sources.file_source import FileSource
from models.engine.records import ChunkDone

Progress = Callable[[float, str], None]
SOURCE_AUDIO_UNDER_SPEECH = 0.35  # the game's sound, turned down under the voice
_PROGRESS_EVERY_S = 0.2


@dataclass(frozen=True)
class ExportResult:
    """What was written: ``frames`` at ``fps`` (``duration`` s), and which audio."""

    path: Path
    frames: int
    fps: float
    duration: float
    encoder: str
    audio: str  # "none", "source", "speech" or "source+speech"


def as_cues(items: Iterable[Cue | ChunkDone]) -> list[Cue]:
    """Cues from cues, or from finished chunks (joined into readable cues)."""
    given = list(items)
    chunks = [i for i in given if isinstance(i, ChunkDone)]
    if given and len(chunks) == len(given):
        return build_cues(chunks)
    return [i for i in given if isinstance(i, Cue)]


def nominal_fps(path: Path) -> float:
    """The container's frame rate, or 30 when it gives none that is sane."""
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0.0
    finally:
        cap.release()
    return fps if math.isfinite(fps) and 1.0 <= fps <= 240.0 else 30.0


def _rate(fps: float) -> Fraction:
    """``fps`` as the exact NTSC-style fraction it stands for (29.97 -> 30000/1001)."""
    return Fraction(fps).limit_denominator(1001)


def _temp_output(out_path: Path, source: Path) -> Path:
    """Check that ``out_path`` can be written and reserve a temporary file beside it."""
    out_path = resolve_output(out_path)
    parent = out_path.parent
    if out_path.exists() and source.exists() and os.path.samefile(out_path, source):
        raise OutputError(f"Cannot write {out_path}: it is the video being exported. Choose another name.")
    try:
        tmp = create_temp(parent, f".{out_path.stem}.", ".part.mp4")
    except OSError as exc:
        raise os_failure(out_path, exc) from exc
    return tmp


def _audio_args(
    source_audio: Path | None, start: float, end: float | None, speech_wav: Path | None
) -> tuple[list[str], list[str], str]:
    """ffmpeg inputs, stream mapping and audio options, and a label for the export's audio."""
    inputs: list[str] = []
    if source_audio is not None:
        inputs += ["-ss", f"{start:.3f}"] + (["-t", f"{end - start:.3f}"] if end is not None else [])
        inputs += ["-i", str(source_audio)]
    if speech_wav is not None:
        inputs += ["-i", str(speech_wav)]
    if source_audio is None and speech_wav is None:
        return [], ["-map", "0:v:0", "-an"], "none"
    # apad + -shortest: the video decides the length, whichever audio is shorter or longer.
    if source_audio is not None and speech_wav is not None:
        graph = (
            f"[1:a:0]aresample=48000,volume={SOURCE_AUDIO_UNDER_SPEECH}[bg];"
            "[2:a:0]aresample=48000[sp];[bg][sp]amix=inputs=2:duration=longest:normalize=0,apad[a]"
        )
        label = "source+speech"
    else:
        graph = "[1:a:0]aresample=48000,apad[a]"
        label = "source" if source_audio is not None else "speech"
    return (
        inputs,
        ["-filter_complex", graph, "-map", "0:v:0", "-map", "[a]", "-c:a", "aac", "-b:a", "160k", "-shortest"],
        label,
    )


class _Ffmpeg:
    """One ffmpeg encoding process fed raw RGB frames on stdin; stderr kept for errors."""

    def __init__(self, cmd: list[str], output: Path) -> None:
        self.output = output
        self._tail: collections.deque[str] = collections.deque(maxlen=30)
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError as exc:
            raise ExportError(f"Cannot run ffmpeg ({cmd[0]}): {exc.strerror or exc}.") from exc
        assert self.proc.stdin is not None and self.proc.stderr is not None  # both are pipes
        self.stdin, self.stderr = self.proc.stdin, self.proc.stderr
        self._drain = threading.Thread(target=self._read_stderr, name="ffmpeg-stderr", daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        for line in iter(self.stderr.readline, b""):
            self._tail.append(line.decode("utf-8", "replace").rstrip())

    def write(self, data: memoryview | bytes) -> None:
        try:
            self.stdin.write(data)
        except (BrokenPipeError, OSError) as exc:
            self.proc.wait()
            raise self._failure() from exc

    def finish(self) -> None:
        try:
            self.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        self.proc.wait()
        self._drain.join(5)
        if self.proc.returncode != 0:
            raise self._failure()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.stdin, self.stderr):
            try:
                stream.close()
            except (BrokenPipeError, OSError):
                pass

    def _failure(self) -> ExportError:
        self._drain.join(5)
        return ExportError(failure_message(self.output, "\n".join(self._tail), self.proc.returncode))


def export_captioned_video(
    source: str | Path,
    out_path: str | Path,
    captions: Iterable[Cue | ChunkDone],
    *,
    notes: Iterable[Cue] = (),
    drawings: DrawingTrack | None = None,
    start: float = 0.0,
    end: float | None = None,
    style: CaptionStyle = CaptionStyle(),
    keep_audio: bool = True,
    speech: bool = False,
    synthesizer=None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ExportResult:
    """Write ``out_path`` (MP4): the footage of ``source`` with ``captions`` burned in.

    Args:
        source: the video file.
        out_path: the MP4 to write (replaced atomically if it exists).
        captions: commentary cues (or the ``ChunkDone`` records they come from),
            in source time, drawn at the bottom.
        notes: cues drawn as a banner at the top (the coach's notes, Q&A).
        drawings: shapes drawn on the frame (in source time), under the captions.
        start, end: export only this span of the source (seconds); the output starts at 0.
        style: caption looks.
        keep_audio: keep the source's sound, if it has any.
        speech: add the spoken commentary (mixed over the source's sound, turned down).
        synthesizer: a :class:`app.export.speech_track.Synthesizer`; default: the best available.
        progress: ``progress(fraction, message)``, called from this thread.
        cancel: set it to stop; raises :class:`ExportCancelled`, removes the partial file.
    """
    source, out_path = Path(source), Path(out_path)
    report = progress or (lambda fraction, message: None)
    tracks = (CaptionTrack(as_cues(captions)).shifted(start), CaptionTrack(notes).shifted(start))
    shapes = drawings.shifted(start) if drawings is not None and len(drawings) else None
    video = FileSource(source, start=start, end=end)
    video.open()  # a missing or unreadable video fails here, before anything is written
    tmp = _temp_output(out_path, source)
    try:
        with tempfile.TemporaryDirectory(prefix="livecc-export-") as work:
            fps = nominal_fps(source)
            known_end = end if end is not None else video.duration_hint
            expected = max(1, round(((known_end or start + 1.0) - start) * fps))
            weight = 0.25 if speech else 0.0  # share of the progress bar the voice takes
            speech_wav = None
            if speech:
                speech_wav = _speech_wav(
                    tracks[0].cues, expected / fps, Path(work), synthesizer, lambda f, m: report(weight * f, m), cancel
                )
            source_audio = source if keep_audio and has_audio(source) else None
            result = _encode(
                video,
                tmp,
                out_path,
                tracks,
                style,
                drawings=shapes,
                start=start,
                fps=fps,
                cancel=cancel,
                audio=_audio_args(source_audio, start, end, speech_wav),
                report=report,
                on_written=_encoding_report(report, weight, expected, fps),
            )
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        video.close()
    report(1.0, f"Saved {out_path.name}")
    return result


def _encode(
    video: FileSource,
    tmp: Path,
    out_path: Path,
    tracks: tuple[CaptionTrack, CaptionTrack],
    style: CaptionStyle,
    *,
    drawings: DrawingTrack | None,
    start: float,
    fps: float,
    cancel: threading.Event | None,
    audio: tuple[list[str], list[str], str],
    report: Progress,
    on_written: Callable[[int, float], None],
) -> ExportResult:
    """Encode ``video``'s frames with the captions (and ``audio``, from :func:`_audio_args`) into ``tmp``.

    The picture is cropped to even sides (yuv420p needs them); ffmpeg is killed if anything fails.
    """
    frames = video.frames()
    first = next(frames)
    size = (first.width - first.width % 2, first.height - first.height % 2)
    encoder, encoder_options = video_encoder()
    inputs, audio_options, audio_label = audio
    rate = _rate(fps)
    ffmpeg = _Ffmpeg(
        _ffmpeg_command(tmp, size, rate, [*inputs, *audio_options, "-c:v", encoder, *encoder_options]), out_path
    )
    try:
        feeder = _CaptionedFrames(
            ffmpeg, size, rate, style, tracks, cancel, out_path.name, on_written, drawings=drawings, start=start
        )
        written = feeder.feed(first, frames, start, fps)
        report(0.995, "Finishing the file")
        ffmpeg.finish()
    except BaseException:
        ffmpeg.kill()
        raise
    return ExportResult(out_path, written, float(rate), written / float(rate), encoder, audio_label)


def encode_still(
    rgb,
    out_path: str | Path,
    seconds: float,
    fps: float,
    *,
    silent_audio: tuple[int, str] | None = None,
    cancel: threading.Event | None = None,
) -> ExportResult:
    """Write ``out_path`` (MP4): the picture ``rgb`` (``H x W x 3`` uint8) for ``seconds`` at ``fps``.

    Encoded as :func:`export_captioned_video` encodes (same encoder, options and
    pixel format), so the two concatenate without re-encoding; ``silent_audio``
    ``(sample rate, channel layout)`` adds a silent AAC track like a clip's.
    Written atomically; ``cancel`` stops it (:class:`ExportCancelled`).
    """
    out_path = Path(out_path)
    height, width = rgb.shape[:2]
    picture = rgb[: height - height % 2, : width - width % 2].copy()
    size = (picture.shape[1], picture.shape[0])
    rate = _rate(fps)
    frames = max(1, round(seconds * float(rate)))
    encoder, encoder_options = video_encoder()
    audio: list[str] = ["-map", "0:v:0", "-an"]
    if silent_audio is not None:
        sample_rate, layout = silent_audio
        audio = ["-f", "lavfi", "-t", f"{frames / float(rate):.6f}", "-i", f"anullsrc=r={sample_rate}:cl={layout}"]
        audio += ["-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "160k", "-shortest"]
    tmp = _temp_output(out_path, out_path)
    ffmpeg = _Ffmpeg(_ffmpeg_command(tmp, size, rate, [*audio, "-c:v", encoder, *encoder_options]), out_path)
    try:
        for _ in range(frames):
            if cancel is not None and cancel.is_set():
                raise ExportCancelled(f"The export of {out_path.name} was cancelled.")
            ffmpeg.write(picture.data)
        ffmpeg.finish()
        os.replace(tmp, out_path)
    except BaseException:
        ffmpeg.kill()
        tmp.unlink(missing_ok=True)
        raise
    label = "none" if silent_audio is None else "silence"
    return ExportResult(out_path, frames, float(rate), frames / float(rate), encoder, label)


def _speech_wav(
    cues: list[Cue], seconds: float, work: Path, synthesizer, progress: Progress, cancel: threading.Event | None
) -> Path:
    """The spoken commentary as a WAV in ``work`` (imported late: it loads the voice engine)."""
    from app.export.speech_track import build_speech_track

    return build_speech_track(
        cues, seconds, work / "speech.wav", synthesizer=synthesizer, progress=progress, cancel=cancel
    )


def _ffmpeg_command(tmp: Path, size: tuple[int, int], rate: Fraction, options: list[str]) -> list[str]:
    """ffmpeg reading raw RGB frames of ``size`` (width, height) on stdin at ``rate``, writing MP4 ``tmp``.

    ``options``: further inputs (audio), the stream mapping and the codecs' options.
    """
    width, height = size
    return [
        ffmpeg_exe(),
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{width}x{height}",
        "-framerate",
        f"{rate.numerator}/{rate.denominator}",
        "-i",
        "pipe:0",
        *options,
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(tmp),
    ]


def _encoding_report(report: Progress, weight: float, expected: int, fps: float) -> Callable[[int, float], None]:
    """``on_written(frames written, seconds)`` for the encoder: reports at most every ``_PROGRESS_EVERY_S``.

    Encoding fills the progress bar after ``weight`` (the speech track's share).
    """
    last_report = 0.0

    def on_written(written: int, t: float) -> None:
        nonlocal last_report
        now = time.monotonic()
        if now - last_report >= _PROGRESS_EVERY_S:
            last_report = now
            fraction = weight + (1 - weight) * min(0.99, written / expected)
            report(fraction, f"Encoding {t:.1f} s of {expected / fps:.1f} s")

    return on_written


class _CaptionedFrames:
    """Burns the captions into decoded frames and feeds ffmpeg one picture per output slot.

    Output slot ``k`` is at ``k / fps`` seconds; each frame goes to the slot nearest
    its true time, a slot no frame reaches repeats the previous picture, and of two
    frames in one slot the later wins (see the module's docstring).
    """

    def __init__(
        self,
        ffmpeg: _Ffmpeg,
        size: tuple[int, int],
        rate: Fraction,
        style: CaptionStyle,
        tracks: tuple[CaptionTrack, CaptionTrack],
        cancel: threading.Event | None,
        name: str,
        on_written: Callable[[int, float], None],
        *,
        drawings: DrawingTrack | None = None,
        start: float = 0.0,
    ) -> None:
        self.ffmpeg = ffmpeg
        self.width, self.height = size
        self.rate = float(rate)
        self.bottom, self.top = tracks  # commentary at the bottom, notes at the top
        self._bottom_r = CaptionRenderer(self.width, self.height, style, "bottom")
        self._top_r = CaptionRenderer(self.width, self.height, style, "top")
        self.cancel, self.name = cancel, name
        self.on_written = on_written
        self.written = 0
        self.drawings = drawings  # in source time less ``start``: drawn by each picture's own time
        self.start = start

    def feed(self, first, frames: Iterable, start: float, fps: float) -> int:
        """Encode ``first`` then ``frames`` (source times from ``start``, slots at ``fps``); frames written."""
        pending, pending_slot = first, round((first.t - start) * fps)
        for frame in frames:
            slot = round((frame.t - start) * fps)
            while self.written < slot:  # the pending frame fills every slot up to this frame's
                self._emit(pending)
            pending, pending_slot = frame, slot
        while self.written <= pending_slot:
            self._emit(pending)
        return self.written

    def _emit(self, frame) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise ExportCancelled(f"The export of {self.name} was cancelled.")
        t = self.written / self.rate
        rgb = frame.rgb[: self.height, : self.width].copy()
        if self.drawings is not None:
            render_shapes(rgb, self.drawings.at(frame.t - self.start))
        self._bottom_r.draw(rgb, self.bottom.text_at(t))
        self._top_r.draw(rgb, self.top.text_at(t))
        self.ffmpeg.write(rgb.data)
        self.written += 1
        self.on_written(self.written, t)
