"""An MP4 of the footage with burned-in captions, and optionally the spoken commentary.

Frames are decoded by :class:`~app.sources.file_source.FileSource` (the same
decoder and the same true timestamps the model saw), captions are blended in
(:mod:`app.captions`), and raw RGB is piped to the bundled ffmpeg, which
encodes H.264 (yuv420p, plays everywhere) and muxes the audio: the source's
own sound, the spoken commentary (:mod:`app.speech_track`), or both mixed with
the source turned down.

A raw pipe carries no timestamps, so the output is constant-frame-rate at the
source's nominal rate: every decoded frame goes to the output slot nearest its
true time; a slot no frame reaches repeats the previous picture, and of two
frames in one slot the later wins. Constant-rate sources come out frame for
frame; variable-rate ones (phones, screen recordings) keep their timing (what
is shown at second t is the frame of second t) at an even rate, as video editors
conform them on import. Captions are chosen by each output frame's own time.

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

from app.captions import CaptionRenderer, CaptionStyle, CaptionTrack
from app.atomic_files import create_temp, os_failure
from app.errors import ExportCancelled, ExportError, OutputError
from app.ffmpeg import failure_message, ffmpeg_exe, has_audio, video_encoder
from app.records import ChunkDone
from app.sources.file_source import FileSource
from app.subtitles import Cue, build_cues

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
    items = list(items)
    if items and all(isinstance(i, ChunkDone) for i in items):
        return build_cues(items)
    return [i for i in items if isinstance(i, Cue)]


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
    parent = out_path.parent
    if out_path.is_dir():
        raise OutputError(f"Cannot write {out_path}: it is a folder. Give a file name.")
    if not parent.is_dir():
        raise OutputError(f"Cannot write {out_path}: the folder {parent} does not exist.")
    if out_path.exists() and source.exists() and os.path.samefile(out_path, source):
        raise OutputError(f"Cannot write {out_path}: it is the video being exported. Choose another name.")
    try:
        tmp = create_temp(parent, f".{out_path.stem}.", ".part.mp4")
    except OSError as exc:
        raise os_failure(out_path, exc) from exc
    return tmp


def _audio_args(source_audio: Path | None, start: float, end: float | None,
                speech_wav: Path | None) -> tuple[list[str], list[str], str]:
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
        graph = (f"[1:a:0]aresample=48000,volume={SOURCE_AUDIO_UNDER_SPEECH}[bg];"
                 "[2:a:0]aresample=48000[sp];[bg][sp]amix=inputs=2:duration=longest:normalize=0,apad[a]")
        label = "source+speech"
    else:
        graph = "[1:a:0]aresample=48000,apad[a]"
        label = "source" if source_audio is not None else "speech"
    return inputs, ["-filter_complex", graph, "-map", "0:v:0", "-map", "[a]", "-c:a", "aac",
                    "-b:a", "160k", "-shortest"], label


class _Ffmpeg:
    """One ffmpeg encoding process fed raw RGB frames on stdin; stderr kept for errors."""

    def __init__(self, cmd: list[str], output: Path) -> None:
        self.output = output
        self._tail: collections.deque[str] = collections.deque(maxlen=30)
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
        except OSError as exc:
            raise ExportError(f"Cannot run ffmpeg ({cmd[0]}): {exc.strerror or exc}.") from exc
        self._drain = threading.Thread(target=self._read_stderr, name="ffmpeg-stderr", daemon=True)
        self._drain.start()

    def _read_stderr(self) -> None:
        for line in iter(self.proc.stderr.readline, b""):
            self._tail.append(line.decode("utf-8", "replace").rstrip())

    def write(self, data: memoryview | bytes) -> None:
        try:
            self.proc.stdin.write(data)
        except (BrokenPipeError, OSError) as exc:
            self.proc.wait()
            raise self._failure() from exc

    def finish(self) -> None:
        try:
            self.proc.stdin.close()
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
        for stream in (self.proc.stdin, self.proc.stderr):
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
        start, end: export only this span of the source (seconds); the output starts at 0.
        style: caption looks.
        keep_audio: keep the source's sound, if it has any.
        speech: add the spoken commentary (mixed over the source's sound, turned down).
        synthesizer: a :class:`app.speech_track.Synthesizer`; default: the best available.
        progress: ``progress(fraction, message)``, called from this thread.
        cancel: set it to stop; raises :class:`ExportCancelled`, removes the partial file.
    """
    source, out_path = Path(source), Path(out_path)
    report = progress or (lambda fraction, message: None)
    bottom = CaptionTrack(as_cues(captions)).shifted(start)
    top = CaptionTrack(notes).shifted(start)
    video = FileSource(source, start=start, end=end)
    video.open()  # a missing or unreadable video fails here, before anything is written
    tmp = _temp_output(out_path, source)
    ffmpeg = None
    try:
        with tempfile.TemporaryDirectory(prefix="livecc-export-") as work:
            fps = nominal_fps(source)
            known_end = end if end is not None else video.duration_hint
            expected = max(1, round(((known_end or start + 1.0) - start) * fps))
            speech_wav = None
            weight = 0.0
            if speech:
                from app.speech_track import build_speech_track

                weight = 0.25
                speech_wav = build_speech_track(
                    bottom.cues, expected / fps, Path(work) / "speech.wav", synthesizer=synthesizer,
                    progress=lambda f, m: report(weight * f, m), cancel=cancel)
            source_audio = source if keep_audio and has_audio(source) else None
            frames = video.frames()
            first = next(frames)
            height, width = first.height - first.height % 2, first.width - first.width % 2
            encoder, encoder_options = video_encoder()
            inputs, audio_options, audio = _audio_args(source_audio, start, end, speech_wav)
            rate = _rate(fps)
            cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                   "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                   "-framerate", f"{rate.numerator}/{rate.denominator}", "-i", "pipe:0", *inputs,
                   *audio_options, "-c:v", encoder, *encoder_options, "-pix_fmt", "yuv420p",
                   "-movflags", "+faststart", "-f", "mp4", str(tmp)]
            ffmpeg = _Ffmpeg(cmd, out_path)
            bottom_r = CaptionRenderer(width, height, style, "bottom")
            top_r = CaptionRenderer(width, height, style, "top")
            written = 0
            last_report = 0.0

            def emit(frame) -> None:
                nonlocal written, last_report
                if cancel is not None and cancel.is_set():
                    raise ExportCancelled(f"The export of {out_path.name} was cancelled.")
                t = written / float(rate)
                rgb = frame.rgb[:height, :width].copy()
                bottom_r.draw(rgb, bottom.text_at(t))
                top_r.draw(rgb, top.text_at(t))
                ffmpeg.write(rgb.data)
                written += 1
                now = time.monotonic()
                if now - last_report >= _PROGRESS_EVERY_S:
                    last_report = now
                    fraction = weight + (1 - weight) * min(0.99, written / expected)
                    report(fraction, f"Encoding {t:.1f} s of {expected / fps:.1f} s")

            pending, pending_slot = first, round((first.t - start) * fps)
            for frame in frames:
                slot = round((frame.t - start) * fps)
                while written < slot:  # the pending frame fills every slot up to this frame's
                    emit(pending)
                pending, pending_slot = frame, slot
            while written <= pending_slot:
                emit(pending)
            report(0.995, "Finishing the file")
            ffmpeg.finish()
        os.replace(tmp, out_path)
    except BaseException:
        if ffmpeg is not None:
            ffmpeg.kill()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        video.close()
    report(1.0, f"Saved {out_path.name}")
    return ExportResult(out_path, written, float(rate), written / float(rate), encoder, audio)
