"""Keeps the footage's sound with the review player's picture (:mod:`app.review.audio` as signals).

The picture is the master: the player (:class:`ui.review.player.FrameReader`) says when
it plays and pauses, and every frame it shows says where it is. Sound starts with
playback at the next frame's time, stops on pause, a frame step or the end, and is
started again at the picture's time when the two part: at once after a seek while
playing (more than :data:`JUMP_S` apart) or a change of speed; after two frames in a
row more than :data:`TOLERANCE_S` apart (the sound card's clock drifting from the
computer's over a long match), with more room for sound ahead of the picture, as a
busy window handles frames late. Speeds other than 1× are
time-stretched (pitch kept), so slow motion still sounds like the game.

Whether the file has sound, and opening the audio device, happen in a thread: a file
without an audio track leaves the sound controls disabled, and a machine without an
audio device gets a one-line note, never an error.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.export.ffmpeg import has_audio
from app.review.audio import AudioOutput, AudioUnavailable
from models.errors import LiveCCError

log = logging.getLogger(__name__)
TOLERANCE_S = 0.2  # sound behind the picture by more than this, twice in a row: the sound jumps to it
AHEAD_TOLERANCE_S = 0.6  # ... or ahead of it by more than this (a frame handled late looks behind)
JUMP_S = 1.0  # further apart than this: a seek; the sound follows at once


class PlayerSound(QObject):
    """The sound of ``reader``'s file, following it; ``ready(state, note)`` once known.

    ``state``: ``"sound"`` (playing through a device), ``"none"`` (the file has no audio
    track) or ``"unavailable"`` (no audio device; ``note`` says so in one line).
    """

    ready = Signal(str, str)
    _opened = Signal(object)  # an AudioOutput, or (state, note), from the probing thread

    def __init__(self, reader, *, volume: float = 1.0, muted: bool = False, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.reader = reader
        self.output: AudioOutput | None = None
        self.state = "probing"
        self.volume, self.muted = volume, muted
        self._closed = False
        self._strikes = 0  # frames in a row with sound and picture apart
        self._lock = threading.Lock()
        self._opened.connect(self._open_done)
        reader.playingChanged.connect(self._playing)
        reader.frameShown.connect(self._frame)
        threading.Thread(target=self._open, args=(Path(reader.path),), name="review-audio-open", daemon=True).start()

    # -- opening (a worker thread) ---------------------------------------------------------
    def _open(self, path: Path) -> None:
        try:
            if not has_audio(path):
                result: object = ("none", "")
            else:
                result = AudioOutput(path)
        except AudioUnavailable as exc:
            result = ("unavailable", str(exc))
        except (LiveCCError, OSError) as exc:  # no ffmpeg: the export says more when it is needed
            result = ("unavailable", f"The video plays without sound ({exc}).")
        except Exception as exc:  # a broken audio library: said in one line, never a crash
            log.exception("Opening the audio device failed")
            result = ("unavailable", f"The video plays without sound ({type(exc).__name__}: {exc}).")
        with self._lock:
            if self._closed:
                if isinstance(result, AudioOutput):
                    result.close()
                return
            self._opened.emit(result)

    def _open_done(self, result) -> None:
        if self._closed:
            if isinstance(result, AudioOutput):
                result.close()
            return
        if isinstance(result, AudioOutput):
            self.output = result
            self.state = "sound"
            self._apply_volume()
            if self.reader.playing:
                self._playing(True)
            self.ready.emit("sound", "")
        else:
            self.state, note = result
            self.ready.emit(self.state, note)

    # -- following the picture -----------------------------------------------------------------
    def _playing(self, on: bool) -> None:
        if self.output is None:
            return
        if on:
            self.output.play(self.reader.position + 1.0 / self.reader.fps, self.reader.rate)
        else:
            self.output.pause()

    def _frame(self, _image, t: float, _raw) -> None:
        out = self.output
        if out is None or not out.playing or not self.reader.playing:
            return
        ahead = out.position() - t
        if -TOLERANCE_S <= ahead <= AHEAD_TOLERANCE_S:
            self._strikes = 0
            if out.rate == self.reader.rate:
                return
        else:
            self._strikes += 1
        if out.rate != self.reader.rate or abs(ahead) > JUMP_S or self._strikes >= 2:
            self._strikes = 0
            out.play(t, self.reader.rate)

    # -- controls ------------------------------------------------------------------------------
    def set_volume(self, volume: float) -> None:
        self.volume = min(1.0, max(0.0, volume))
        self._apply_volume()

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        self._apply_volume()

    def _apply_volume(self) -> None:
        if self.output is not None:
            self.output.volume, self.output.muted = self.volume, self.muted

    def close(self) -> None:
        with self._lock:
            self._closed = True
        for signal, slot in ((self.reader.playingChanged, self._playing), (self.reader.frameShown, self._frame)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass
        if self.output is not None:
            self.output.close()
            self.output = None
