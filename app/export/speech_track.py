"""The spoken commentary as one audio track, for muxing into an exported video.

Each cue is synthesised to its own WAV file, then all phrases are mixed at
their cue start times into one mono track as long as the video. Speech is often
slower than the captions, so phrases would pile up; :func:`place_phrases` is
the named policy for that: a phrase never talks over the previous one (it waits
for it to end), and when waiting would put it more than ``max_delay`` behind
its cue, the previous phrase is cut short instead (with a short fade), so the
voice never drifts away from the picture.

Synthesisers, in order of preference:

* Linux: the ``espeak-ng`` program. pyttsx3 on Linux drives the same
  libespeak-ng, but its driver installs ONE process-wide synthesis callback
  (it would steal the live voice of ``app/sinks/voice.py`` while an export runs) and
  prints a line to stdout per saved file; a separate process has neither problem.
* elsewhere, and on Linux without the program: pyttsx3's ``save_to_file``
  (SAPI5 on Windows, NSSpeechSynthesizer on macOS), on a private engine
  instance (``pyttsx3.init()`` would share the app's cached one).
"""

from __future__ import annotations

import contextlib
import io
import platform
import shutil
import subprocess
import tempfile
import threading
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from app.errors import ExportCancelled, ExportError, SpeechError
from app.sinks.subtitles import Cue

FADE_S = 0.02
Progress = Callable[[float, str], None]


class Synthesizer(Protocol):
    """Turns text into a WAV file. ``name`` is shown to the user."""

    name: str

    def synthesize(self, text: str, path: Path) -> None:
        """Write ``text`` spoken to the WAV file ``path``; :class:`SpeechError` if it cannot."""
        ...


class EspeakCli:
    """The ``espeak-ng`` (or ``espeak``) program, one process per phrase."""

    def __init__(self, exe: str, words_per_minute: int | None = None, voice: str | None = None) -> None:
        self.exe, self.wpm, self.voice = exe, words_per_minute, voice
        self.name = Path(exe).name

    def synthesize(self, text: str, path: Path) -> None:
        cmd = [self.exe, "-w", str(path), "--stdin"]
        if self.wpm:
            cmd += ["-s", str(int(self.wpm))]
        if self.voice:
            cmd += ["-v", self.voice]
        try:
            done = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SpeechError(f"{self.name} could not speak a phrase: {exc}") from exc
        if done.returncode != 0 or not path.exists():
            raise SpeechError(
                f"{self.name} could not speak a phrase: "
                f"{done.stderr.decode('utf-8', 'replace').strip() or done.returncode}"
            )


class Pyttsx3Synth:
    """pyttsx3's ``save_to_file`` on a private engine (never the app's shared one)."""

    def __init__(self, words_per_minute: int | None = None, voice: str | None = None) -> None:
        import pyttsx3.engine

        if platform.system() == "Windows":
            with contextlib.suppress(Exception):  # SAPI is COM: this thread must join an apartment
                import comtypes

                comtypes.CoInitialize()
        self.engine = pyttsx3.engine.Engine()
        self.name = f"pyttsx3 ({self.engine.driver_name})"
        if words_per_minute:
            self.engine.setProperty("rate", int(words_per_minute))
        if voice:
            self.engine.setProperty("voice", voice)

    def synthesize(self, text: str, path: Path) -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # the espeak driver prints per file
            self.engine.save_to_file(text, str(path))
            self.engine.runAndWait()
        if not path.exists() or path.stat().st_size == 0:
            raise SpeechError(f"{self.name} wrote no audio for a phrase.")


def find_synthesizer(words_per_minute: int | None = None, voice: str | None = None) -> Synthesizer:
    """The preferred synthesiser here (see the module docstring); :class:`SpeechError` if none."""
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if exe and platform.system() == "Linux":
        return EspeakCli(exe, words_per_minute, voice)
    try:
        return Pyttsx3Synth(words_per_minute, voice)
    except Exception as exc:  # ImportError, or the driver failing to start
        if exe:
            return EspeakCli(exe, words_per_minute, voice)
        hint = " Install espeak-ng (Debian/Ubuntu: apt install espeak-ng)." if platform.system() == "Linux" else ""
        raise SpeechError(f"No speech synthesiser is available ({type(exc).__name__}: {exc}).{hint}") from exc


# -- audio ---------------------------------------------------------------------------


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate of an audio file.

    PCM WAV is read directly; anything else (macOS writes AIFF whatever the
    name) is decoded by the bundled ffmpeg.
    """
    try:
        with wave.open(str(path), "rb") as w:
            width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            raw = w.readframes(w.getnframes())
        if width in (1, 2, 4):
            dtype = {1: np.uint8, 2: np.int16, 4: np.int32}[width]
            pcm = np.frombuffer(raw, dtype=dtype).astype(np.float32)
            data = (pcm - 128) / 128 if width == 1 else pcm / float(2 ** (8 * width - 1))
            return data.reshape(-1, channels).mean(axis=1), rate
    except (wave.Error, EOFError):
        pass
    from app.export.ffmpeg import run_ffmpeg

    rate = 22050
    done = run_ffmpeg("-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(rate), "pipe:1")
    if done.returncode != 0:
        raise SpeechError(
            f"Cannot read the synthesised audio {path.name}: {done.stderr.decode('utf-8', 'replace').strip()}"
        )
    return np.frombuffer(done.stdout, dtype=np.int16).astype(np.float32) / 32768.0, rate


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Linear resampling; speech needs nothing finer."""
    if rate == target or samples.size == 0:
        return samples
    n = max(1, round(samples.size * target / rate))
    return np.interp(np.arange(n) * (rate / target), np.arange(samples.size), samples).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    try:
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(pcm.tobytes())
    except OSError as exc:
        raise ExportError(f"Cannot write the speech track {path}: {exc.strerror or exc}.") from exc


# -- placement policy and mixing -------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where a phrase sits in the track: from ``start`` for ``length`` seconds (possibly cut)."""

    start: float
    length: float


def place_phrases(
    starts: Sequence[float], lengths: Sequence[float], max_delay: float = 1.0, duration: float | None = None
) -> list[Placement]:
    """Non-overlapping placements, one per phrase, for phrases wanted at ``starts``
    (in time order) lasting ``lengths``.

    A phrase starts at its cue or, if the previous one is still speaking, when
    that one ends; if that is more than ``max_delay`` late, the previous phrase
    is cut at ``cue + max_delay`` and this one starts there. Phrases past
    ``duration`` are cut at it; a phrase that cannot be heard gets length 0.
    """
    placed: list[Placement] = []
    for want, length in zip(starts, lengths):
        start = want
        if placed:
            prev = placed[-1]
            prev_end = prev.start + prev.length
            if prev_end > want + max_delay:
                cut = max(prev.start, want + max_delay)
                placed[-1] = Placement(prev.start, cut - prev.start)
                start = cut
            else:
                start = max(want, prev_end)
        if duration is not None:
            length = max(0.0, min(length, duration - start))
        placed.append(Placement(start, length))
    return placed


def mix(clips: Sequence[np.ndarray], placements: Sequence[Placement], rate: int, duration: float) -> np.ndarray:
    """One track of ``duration`` seconds with each clip at its placement, faded where cut."""
    track = np.zeros(max(1, round(duration * rate)), np.float32)
    fade = max(1, round(FADE_S * rate))
    for clip, place in zip(clips, placements):
        i0 = round(place.start * rate)
        n = min(clip.size, round(place.length * rate), track.size - i0)
        if n <= 0:
            continue
        piece = clip[:n].copy()
        if n < clip.size:
            k = min(fade, n)
            piece[-k:] *= np.linspace(1.0, 0.0, k + 1, dtype=np.float32)[1:]
        track[i0 : i0 + n] += piece
    return track


def build_speech_track(
    cues: Sequence[Cue],
    duration: float,
    out_path: Path,
    *,
    synthesizer: Synthesizer | None = None,
    max_delay: float = 1.0,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Synthesise every cue and write the mixed track to ``out_path`` (mono 16-bit WAV).

    ``progress(fraction, message)`` is called per phrase; setting ``cancel``
    stops it with :class:`ExportCancelled`.
    """
    synth = synthesizer or find_synthesizer()
    spoken = [c for c in sorted(cues, key=lambda c: c.start) if c.text.strip() and c.start < duration]
    clips: list[np.ndarray] = []
    rate = 22050
    with tempfile.TemporaryDirectory(prefix="livecc-speech-") as tmp:
        for i, cue in enumerate(spoken):
            if cancel is not None and cancel.is_set():
                raise ExportCancelled("The spoken commentary was cancelled.")
            if progress:
                progress(i / max(1, len(spoken)), f"Speaking phrase {i + 1} of {len(spoken)} ({synth.name})")
            wav = Path(tmp) / f"{i:05d}.wav"
            synth.synthesize(" ".join(cue.text.split()), wav)
            samples, clip_rate = read_audio(wav)
            if i == 0:
                rate = clip_rate
            clips.append(resample(samples, clip_rate, rate))
    placements = place_phrases([c.start for c in spoken], [c.size / rate for c in clips], max_delay, duration)
    write_wav(out_path, mix(clips, placements, rate, duration), rate)
    if progress:
        progress(1.0, f"Spoke {sum(p.length > 0 for p in placements)} phrases")
    return out_path
