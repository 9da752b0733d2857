"""The footage's own sound for the review player: the bundled ffmpeg decodes, miniaudio plays.

No Qt here (the player's signals are adapted in :mod:`ui.review.sound`). ffmpeg
(``app.export.ffmpeg.ffmpeg_exe``, the static build imageio-ffmpeg ships) decodes the
file's first audio track from a position to 16-bit stereo PCM at :data:`SAMPLE_RATE`,
in a thread, never more than :data:`AHEAD_S` ahead of what was played: an hour-long
match costs no more memory than a clip, and a seek starts a fresh decoder at the new
place (ffmpeg seeks and trims to the sample). Other speeds are time-stretched by
ffmpeg's ``atempo`` filter, which keeps the pitch (0.25× chains two of them).

miniaudio (pyminiaudio: one self-contained C library in the wheel, on WASAPI,
Core Audio, PulseAudio and ALSA alike) plays the samples: its device pulls each
block from :meth:`AudioOutput._block` in its own thread, where the volume is applied.
Sound is scheduled by the wall clock as the picture is (:class:`ui.review.player.FrameReader`):
the samples of time ``t`` start when :meth:`AudioOutput.play` is called, and those that
come late while ffmpeg starts are skipped, so a seek never leaves the sound behind.

``LIVECC_AUDIO_BACKEND=null`` (tests, CI) plays through miniaudio's NULL backend:
the real path, pulled at the real rate, without a sound card.
"""

from __future__ import annotations

import io
import os
import subprocess
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import cast

import numpy as np

from app.export.ffmpeg import ffmpeg_exe

SAMPLE_RATE = 48_000
CHANNELS = 2
FRAME_BYTES = 2 * CHANNELS  # s16le
AHEAD_S = 1.0  # decoded ahead of what the device took
PERIOD_MS = 30  # the device's block: the delay between a change (volume, pause) and hearing it
BACKEND_ENV = "LIVECC_AUDIO_BACKEND"
_NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)  # Windows: no console flashing up


class AudioUnavailable(Exception):
    """No audio device could be opened; the message says so in one line."""


def atempo_chain(rate: float) -> str:
    """ffmpeg's filter for ``rate``× speed at the same pitch ("" at 1×); each atempo takes 0.5–2."""
    if abs(rate - 1.0) < 1e-6:
        return ""
    factors = []
    left = rate
    while left < 0.5:
        factors.append(0.5)
        left /= 0.5
    while left > 2.0:
        factors.append(2.0)
        left /= 2.0
    factors.append(left)
    return ",".join(f"atempo={f:.6g}" for f in factors)


class PcmStream:
    """``path``'s first audio track from ``start`` s at ``rate``× as s16le stereo PCM.

    ffmpeg runs until :meth:`close`; a thread keeps up to :data:`AHEAD_S` of its output.
    """

    def __init__(self, path: str | Path, start: float, rate: float = 1.0) -> None:
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
        cmd += ["-ss", f"{max(0.0, start):.3f}", "-i", str(path), "-map", "0:a:0", "-vn", "-sn", "-dn"]
        chain = atempo_chain(rate)
        if chain:
            cmd += ["-af", chain]
        cmd += ["-f", "s16le", "-c:a", "pcm_s16le", "-ac", str(CHANNELS), "-ar", str(SAMPLE_RATE), "pipe:1"]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            creationflags=_NO_WINDOW,
        )
        self._buffer = bytearray()
        self._cond = threading.Condition()
        self._closed = False
        self.ended = False  # ffmpeg has written everything (the end of the track)
        self._thread = threading.Thread(target=self._pump, name="review-audio-decode", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        pipe = cast(io.BufferedReader, self.proc.stdout)  # Popen's default buffering: read1 is there
        limit = int(AHEAD_S * SAMPLE_RATE) * FRAME_BYTES
        try:
            while True:
                with self._cond:
                    while len(self._buffer) >= limit and not self._closed:
                        self._cond.wait()
                    if self._closed:
                        return
                chunk = pipe.read1(1 << 15)
                if not chunk:
                    return
                with self._cond:
                    self._buffer += chunk
                    self._cond.notify_all()
        except (OSError, ValueError):  # the pipe closed under us: closing
            return
        finally:
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def available(self) -> int:
        """Whole frames decoded and not yet read."""
        with self._cond:
            return len(self._buffer) // FRAME_BYTES

    def read(self, frames: int) -> bytes:
        """Up to ``frames`` frames (fewer, or none, when ffmpeg is behind or the track ended)."""
        with self._cond:
            size = min(frames * FRAME_BYTES, len(self._buffer) - len(self._buffer) % FRAME_BYTES)
            data = bytes(self._buffer[:size])
            del self._buffer[:size]
            self._cond.notify_all()
        return data

    def wait_for(self, frames: int, timeout: float) -> bool:
        """Wait until ``frames`` frames are buffered or the track ended; true if they are."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._buffer) < frames * FRAME_BYTES and not self.ended:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return len(self._buffer) >= frames * FRAME_BYTES

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._thread.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def backends_from_env() -> list | None:
    """The miniaudio backends to try: ``LIVECC_AUDIO_BACKEND`` names one (``null``: no sound card)."""
    import miniaudio

    name = os.environ.get(BACKEND_ENV, "").strip().upper()
    if not name:
        return None
    try:
        return [miniaudio.Backend[name]]
    except KeyError:
        return None


class AudioOutput:
    """One file's sound on an audio device, started, stopped and moved by the player.

    Args:
        path: the video (it must have an audio track: ``app.export.ffmpeg.has_audio``).
        backends: miniaudio backends to try (default: :func:`backends_from_env`, else the OS's).
        tap: called in the device's thread with every block handed to the device
            (``frames x 2`` int16, after the volume): what was really played, for tests.

    Raises :class:`AudioUnavailable` when no device can be opened.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        backends: list | None = None,
        tap: Callable[[np.ndarray], None] | None = None,
    ) -> None:
        import miniaudio

        self.path = Path(path)
        self.tap = tap
        self.volume = 1.0
        self.muted = False
        self.playing = False
        self.rate = 1.0
        self._lock = threading.Lock()
        self._stream: PcmStream | None = None
        self._t0 = 0.0  # media time of the stream's first sample
        self._wall = 0.0  # when that sample was due
        self._taken = 0  # output frames taken from the stream (skipped ones included)
        self._synced = False
        chosen = backends if backends is not None else backends_from_env()
        try:
            self.device = miniaudio.PlaybackDevice(
                output_format=miniaudio.SampleFormat.SIGNED16,
                nchannels=CHANNELS,
                sample_rate=SAMPLE_RATE,
                buffersize_msec=PERIOD_MS,
                backends=chosen,
                app_name="LiveCC Desk",
            )
        except miniaudio.MiniaudioError as exc:
            raise AudioUnavailable(f"No audio device could be opened ({exc}): the video plays without sound.") from exc
        self.backend: str = self.device.backend
        if self.backend.lower() == "null" and not chosen:
            self.device.close()
            raise AudioUnavailable("No audio device was found: the video plays without sound.")
        self._started = False

    # -- commands (the player's thread) --------------------------------------------------------
    def play(self, t: float, rate: float = 1.0) -> None:
        """Play the sound of ``t`` s now, at ``rate``× (pitch kept); replaces what was playing."""
        stream = PcmStream(self.path, t, rate)
        with self._lock:
            old, self._stream = self._stream, stream
            self._t0, self.rate, self._wall = t, rate, time.monotonic()
            self._taken, self._synced, self.playing = 0, False, True
        if old is not None:
            old.close()
        if not self._started:
            generator = self._feed()
            next(generator)
            self.device.start(generator)
            self._started = True

    def pause(self) -> None:
        """Silence, and stop the decoder and the device until the next :meth:`play`."""
        with self._lock:
            old, self._stream, self.playing = self._stream, None, False
        if self._started:
            self.device.stop()
            self._started = False
        if old is not None:
            old.close()

    def position(self) -> float:
        """The media time being played: from the samples the device took, or the clock while ffmpeg starts."""
        with self._lock:
            if not self._synced:
                return self._t0 + (time.monotonic() - self._wall) * self.rate
            return self._t0 + self._taken / SAMPLE_RATE * self.rate

    def close(self) -> None:
        self.pause()
        self.device.close()

    # -- the device's thread ---------------------------------------------------------------
    def _feed(self) -> Generator[np.ndarray | bytes, int, None]:
        frames = yield b""
        while True:
            frames = yield self._block(frames)

    def _block(self, frames: int) -> np.ndarray:
        out = np.zeros((frames, CHANNELS), np.int16)
        with self._lock:
            stream, playing = self._stream, self.playing
            if stream is not None and playing and not self._synced:
                # While ffmpeg starts, time goes on: skip the samples already due, then play.
                due = round((time.monotonic() - self._wall) * SAMPLE_RATE)
                self._taken += len(stream.read(max(0, due - self._taken))) // FRAME_BYTES
                self._synced = self._taken >= due or stream.ended
            synced = self._synced
        if stream is not None and playing and synced:
            data = stream.read(frames)
            n = len(data) // FRAME_BYTES
            gain = 0.0 if self.muted else self.volume
            if n and gain > 0:
                samples = np.frombuffer(data, np.int16).reshape(n, CHANNELS)
                out[:n] = samples if gain >= 1.0 else (samples * gain).astype(np.int16)
            with self._lock:
                if stream is self._stream:
                    self._taken += n
        if self.tap is not None:
            self.tap(out)
        return out
