"""Spoken commentary: pyttsx3 in one dedicated worker thread, never behind the picture.

pyttsx3's ``runAndWait()`` blocks for as long as the phrase is spoken, and some
backends only work from the thread that created the engine (Windows SAPI needs
COM initialised there). So one thread owns one engine for the app's whole life
and takes phrases from a queue. Commentary arrives every second; speech is
slower than that at times, so the queue is a *freshness* policy, not a FIFO:
when the worker is free it drops every phrase older than ``max_delay_s`` and
speaks the fresh ones joined as one utterance. Silence (the model's `` ...``) is
never queued. If no speech engine can start, the problem is reported once and
phrases are discarded from then on.

On Linux pyttsx3 synthesises with espeak-ng (``libespeak-ng``) and would play
the result with ``os.system("aplay …")``, which reports nothing when playback
fails and cannot pick a device. So on Linux the worker has pyttsx3 write each
utterance to a WAV file and plays it itself with ``aplay -q [-D DEVICE]``: the
output device is a choice (OBS can capture that one, or a virtual cable carry
it), and a failed playback (no sound card) switches voice off with one message
instead of failing on every phrase. Windows (SAPI) and macOS speak through the
system's default output; pyttsx3 offers no device choice there.
"""

from __future__ import annotations

import contextlib
import io
import logging
import platform
import shutil
import subprocess
import tempfile
import threading
import time
import wave
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from models.engine.prompt import SILENCE

log = logging.getLogger(__name__)
SYNTH_TIMEOUT_S = 60.0  # the longest a phrase may take to synthesise (a few seconds at most)


@dataclass(frozen=True)
class Voice:
    id: str
    name: str
    languages: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Phrase:
    text: str
    queued_at: float


def is_silence(text: str) -> bool:
    stripped = text.strip()
    return not stripped or stripped == SILENCE.strip() or set(stripped) <= set(".… ")


def speech_problem() -> str | None:
    """Why speech cannot work on this system, or ``None`` if it may."""
    if platform.system() == "Linux":
        import ctypes.util

        if not (ctypes.util.find_library("espeak-ng") or ctypes.util.find_library("espeak")):
            return "Voice is off: no speech engine found. Install espeak-ng (Debian/Ubuntu: apt install espeak-ng)."
        if shutil.which("aplay") is None:
            return "Voice is off: no audio player found. Install alsa-utils (it provides aplay)."
    return None


class PlaybackError(OSError):
    """The audio player could not play (no device, a wrong device name)."""


def playback_devices() -> list[tuple[str, str]]:
    """(name, description) of the output devices ``aplay -L`` lists; empty off Linux or without aplay."""
    if platform.system() != "Linux" or shutil.which("aplay") is None:
        return []
    try:
        listing = subprocess.run(["aplay", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    devices: list[tuple[str, str]] = []
    for line in listing.splitlines():
        if line and not line[0].isspace():
            devices.append((line.strip(), line.strip()))
        elif line.strip() and devices and devices[-1][0] == devices[-1][1]:
            devices[-1] = (devices[-1][0], f"{devices[-1][0]} ({line.strip()})")
    return devices


def play_wav(path: str, device: str = "", timeout_s: float = 300.0) -> None:
    """Play a WAV file with ``aplay`` on ``device`` (empty: the default); ``PlaybackError`` if it fails."""
    command = ["aplay", "-q", *(["-D", device] if device else []), str(path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.SubprocessError) as exc:
        raise PlaybackError(f"aplay could not run ({exc})") from exc
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        where = f"device {device!r}" if device else "the default audio device"
        raise PlaybackError(f"{where} could not play: {why}")


def playback_problem(device: str = "") -> str | None:
    """Why nothing can be heard on ``device`` (Linux: 50 ms of silence through aplay), or ``None``."""
    if platform.system() != "Linux":
        return None
    if shutil.which("aplay") is None:
        return "no audio player found. Install alsa-utils (it provides aplay)."
    with tempfile.TemporaryDirectory(prefix="livecc-voice-") as folder:
        path = f"{folder}/silence.wav"
        with wave.open(path, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(22050)
            w.writeframes(b"\0\0" * 1102)
        try:
            play_wav(path, device, timeout_s=20)
        except PlaybackError as exc:
            return str(exc)
    return None


def _pyttsx3_engine():
    import pyttsx3

    if platform.system() == "Windows":
        try:  # SAPI is a COM server: this thread must join a COM apartment first
            import comtypes

            comtypes.CoInitialize()
        except Exception:
            pass
    return pyttsx3.init()


class Speaker:
    """Speaks finished phrases in a worker thread, dropping stale ones.

    Args:
        on_problem: called once (from the worker thread) with a message if speech cannot work.
        rate: words per minute.
        volume: 0.0 to 1.0.
        voice_id: a voice id from :meth:`voices`; empty for the system default.
        max_delay_s: phrases waiting longer than this are dropped, not spoken.
        output_device: an ``aplay -L`` device name (Linux); empty for the default.
        engine_factory: makes the pyttsx3-like engine, inside the worker thread.
        clock: monotonic seconds (tests give their own).
    """

    def __init__(
        self,
        on_problem: Callable[[str], None] | None = None,
        *,
        rate: int = 185,
        volume: float = 1.0,
        voice_id: str = "",
        max_delay_s: float = 2.0,
        output_device: str = "",
        engine_factory: Callable[[], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.on_problem = on_problem
        self.max_delay_s = max_delay_s
        self.output_device = output_device
        self._plays_files = platform.system() == "Linux"
        self._factory = engine_factory
        self._clock = clock
        self._props = {"rate": rate, "volume": volume, "voice": voice_id}
        self._props_dirty = True
        self._cond = threading.Condition()
        self._phrases: deque[_Phrase] = deque()
        self._voices_wanted = False
        self._voices: list[Voice] | None = None
        self._closed = False
        self.available: bool | None = None  # unknown until the worker starts an engine
        self.problem: str | None = None
        self.spoken: list[str] = []  # utterances handed to the engine, latest last (bounded)
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="tts", daemon=True)
        self._thread.start()

    # -- called from any thread ------------------------------------------------------

    def say(self, text: str) -> None:
        """Queue a finished phrase; silence and empty text are ignored."""
        if is_silence(text) or self.available is False:
            return
        with self._cond:
            self._phrases.append(_Phrase(" ".join(text.split()), self._clock()))
            self._cond.notify()

    def configure(
        self,
        *,
        rate: int | None = None,
        volume: float | None = None,
        voice_id: str | None = None,
        max_delay_s: float | None = None,
        output_device: str | None = None,
    ) -> None:
        with self._cond:
            if output_device is not None:
                self.output_device = output_device
            for key, value in (("rate", rate), ("volume", volume), ("voice", voice_id)):
                if value is not None:
                    self._props[key] = value
            if max_delay_s is not None:
                self.max_delay_s = max_delay_s
            self._props_dirty = True

    def clear(self) -> None:
        """Forget queued phrases (a session stopped)."""
        with self._cond:
            self._phrases.clear()

    def voices(self, timeout: float = 3.0) -> list[Voice]:
        """The installed voices (asked of the worker's engine); empty if none or no answer."""
        with self._cond:
            if self._voices is None:
                self._voices_wanted = True
                self._cond.notify()
                self._cond.wait_for(
                    lambda: self._voices is not None or self._closed or self.available is False, timeout
                )
            return list(self._voices or [])

    def idle(self) -> bool:
        with self._cond:
            return not self._phrases and not self._busy

    def close(self, timeout: float = 3.0) -> None:
        with self._cond:
            self._closed = True
            self._phrases.clear()
            self._cond.notify_all()
        self._thread.join(timeout)

    # -- the worker --------------------------------------------------------------

    _busy = False

    def _fresh_text(self) -> str | None:
        """Join the phrases still fresh; drop the stale ones. Called with the lock held."""
        now = self._clock()
        fresh = []
        while self._phrases:
            phrase = self._phrases.popleft()
            if now - phrase.queued_at > self.max_delay_s:
                self.dropped += 1
            else:
                fresh.append(phrase.text)
        return " ".join(fresh) if fresh else None

    def _start_engine(self):
        problem = speech_problem() if self._factory is None else None
        if problem is None:
            try:
                return (self._factory or _pyttsx3_engine)()
            except Exception as exc:  # pyttsx3 raises whatever its backend raises
                problem = f"Voice is off: the speech engine could not start ({exc})."
        self._give_up(problem)
        return None

    def _give_up(self, problem: str) -> None:
        """Report ``problem`` once and ignore phrases from now on."""
        if self.available is False:
            return
        self.problem = problem
        self.available = False
        with self._cond:
            self._phrases.clear()
            self._cond.notify_all()
        if self.on_problem:
            self.on_problem(problem)

    def _run(self) -> None:
        engine = self._start_engine()
        if engine is None:
            return
        self.available = True
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._phrases or self._closed or self._voices_wanted)
                if self._closed:
                    break
                if self._voices_wanted:
                    self._voices_wanted = False
                    self._voices = self._list_voices(engine)
                    self._cond.notify_all()
                    continue
                text = self._fresh_text()
                props = dict(self._props) if self._props_dirty else None
                self._props_dirty = False
                self._busy = text is not None
            if props:
                self._apply(engine, props)
            if text:
                self._speak(engine, text)
            with self._cond:
                self._busy = False

    def _apply(self, engine, props: dict) -> None:
        for key, value in props.items():
            if key == "voice" and not value:
                continue
            try:
                engine.setProperty(key, value)
            except Exception as exc:
                log.warning("voice setting %s=%r refused: %s", key, value, exc)

    def _speak(self, engine, text: str) -> None:
        self.spoken.append(text)
        del self.spoken[:-50]
        try:
            if self._plays_files:
                self._speak_through_aplay(engine, text)
            else:
                engine.say(text)
                engine.runAndWait()
        except PlaybackError as exc:
            self._give_up(
                f"Voice is off: {exc}. Choose another output device in Settings › Voice, then switch Voice on again."
            )
        except Exception as exc:  # pyttsx3 raises whatever its backend raises
            self._give_up(f"Voice is off: speaking failed ({exc}).")

    def _speak_through_aplay(self, engine, text: str) -> None:
        # espeak-ng may still be synthesising (on its own thread) when runAndWait() returns;
        # the file is complete when pyttsx3 announces the end of the utterance.
        written = threading.Event()
        token = engine.connect("finished-utterance", lambda **_kw: written.set())
        try:
            with tempfile.TemporaryDirectory(prefix="livecc-voice-") as folder:
                path = f"{folder}/phrase.wav"
                engine.save_to_file(text, path)
                with contextlib.redirect_stdout(io.StringIO()):  # pyttsx3 prints "Audio saved to …"
                    engine.runAndWait()
                    if not written.wait(SYNTH_TIMEOUT_S):
                        raise RuntimeError(f"espeak-ng did not finish within {SYNTH_TIMEOUT_S:.0f} s")
                play_wav(path, self.output_device)
        finally:
            engine.disconnect(token)

    @staticmethod
    def _list_voices(engine) -> list[Voice]:
        try:
            found = engine.getProperty("voices") or []
        except Exception:
            return []
        voices = []
        for v in found:
            langs = tuple(str(lang) for lang in (getattr(v, "languages", None) or ()))
            voices.append(Voice(str(v.id), str(getattr(v, "name", v.id)), langs))
        return voices
