"""Speech: real pyttsx3 with espeak-ng; only the sound card is faked.

pyttsx3's espeak driver synthesises a WAV file and plays it with ``aplay``; the
fake ``aplay`` put first on PATH records what it was asked to play, and holds
the "playback" until the test releases it, so the backlog policy can be tested
without timing.
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
import sys
import threading
import wave

import pytest

from app.sinks.voice import Speaker, playback_devices, playback_problem

needs_espeak = pytest.mark.skipif(
    not (ctypes.util.find_library("espeak-ng") or ctypes.util.find_library("espeak")),
    reason="espeak-ng is not installed (scripts/ensure_system_packages.sh installs it)",
)

FAKE_APLAY = """#!/bin/sh
for last; do :; done
echo "$last" >> "{log}"
cp "$last" "{keep}/$(wc -l < "{log}").wav"
i=0
while [ ! -e "{release}" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
exit 0
"""


@pytest.fixture
def sound_card(tmp_path, monkeypatch):
    """A fake ``aplay`` on PATH; ``release()`` lets it finish playing."""
    bin_dir, keep = tmp_path / "bin", tmp_path / "played"
    bin_dir.mkdir()
    keep.mkdir()
    log, release = tmp_path / "aplay.log", tmp_path / "release"
    script = bin_dir / "aplay"
    script.write_text(FAKE_APLAY.format(log=log, keep=keep, release=release))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    class Card:
        def plays(self) -> int:
            return len(log.read_text().splitlines()) if log.exists() else 0

        def release(self) -> None:
            release.touch()

        def seconds(self, n: int) -> float:
            with wave.open(str(keep / f"{n}.wav")) as w:
                return w.getnframes() / w.getframerate()

    return Card()


@needs_espeak
def test_finished_phrases_are_spoken_and_silence_never(sound_card):
    sound_card.release()
    speaker = Speaker()
    try:
        speaker.say(" ...")
        speaker.say("   ")
        speaker.say(" What a save by the keeper!")
        deadline = threading.Event()
        for _ in range(400):
            if sound_card.plays() >= 1 and speaker.idle():
                break
            deadline.wait(0.05)
        assert speaker.available and speaker.problem is None
        assert speaker.spoken == ["What a save by the keeper!"]
        assert sound_card.plays() == 1 and sound_card.seconds(1) > 0.5  # real speech audio
        assert any(v.id for v in speaker.voices())
    finally:
        speaker.close()


@needs_espeak
def test_stale_phrases_are_dropped_to_stay_near_the_picture(sound_card):
    now = [0.0]
    speaker = Speaker(max_delay_s=2.0, clock=lambda: now[0])
    try:
        speaker.say("First phrase.")
        for _ in range(400):
            if sound_card.plays() == 1:
                break
            threading.Event().wait(0.05)
        # Playing "First phrase." is held; meanwhile the stream goes on.
        speaker.say("Too old by now.")
        now[0] = 5.0
        speaker.say("Fresh one.")
        speaker.say("And another.")
        sound_card.release()
        for _ in range(400):
            if speaker.idle() and len(speaker.spoken) == 2:
                break
            threading.Event().wait(0.05)
        assert speaker.spoken == ["First phrase.", "Fresh one. And another."]
        assert speaker.dropped == 1
    finally:
        speaker.close()


def test_no_speech_engine_is_reported_once_and_phrases_are_ignored():
    problems = []

    def broken():
        raise OSError("libespeak-ng.so.1: cannot open shared object file")

    speaker = Speaker(problems.append, engine_factory=broken)
    speaker._thread.join(10)
    speaker.say("Anyone there?")
    speaker.say("Hello?")
    assert len(problems) == 1 and "could not start" in problems[0]
    assert speaker.available is False and speaker.spoken == []
    speaker.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="aplay is how pyttsx3 plays sound on Linux only")
def test_missing_audio_player_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    from app.sinks.voice import speech_problem

    problem = speech_problem()
    if ctypes.util.find_library("espeak-ng") or ctypes.util.find_library("espeak"):
        assert problem is not None and "alsa-utils" in problem
    else:
        assert problem is not None and "espeak-ng" in problem


needs_aplay = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not shutil.which("aplay"),
    reason="aplay (alsa-utils) plays speech on Linux only",
)


def _wait(condition) -> None:
    for _ in range(600):
        if condition():
            return
        threading.Event().wait(0.05)


@needs_espeak
@needs_aplay
def test_a_device_that_cannot_play_switches_voice_off_with_one_message():
    """Real espeak-ng and real aplay, on a device that does not exist: one message, then nothing."""
    problems = []
    speaker = Speaker(problems.append, output_device="livecc_no_such_device")
    try:
        for n in range(5):
            speaker.say(f"Phrase number {n}.")
            _wait(lambda: speaker.idle() or speaker.available is False)
        _wait(lambda: speaker.available is False)
        assert speaker.available is False and len(problems) == 1
        assert "livecc_no_such_device" in problems[0] and "Voice is off" in problems[0]
        assert len(speaker.spoken) == 1  # the rest were ignored, not tried again
    finally:
        speaker.close()


@needs_espeak
@needs_aplay
def test_speech_goes_to_the_chosen_output_device():
    names = [name for name, _ in playback_devices()]
    if "null" not in names:
        pytest.skip(f"ALSA's null device is not listed here: {names}")
    problems = []
    speaker = Speaker(problems.append, output_device="null")
    try:
        speaker.say("Heard by nobody.")
        _wait(lambda: speaker.spoken and speaker.idle())
        assert speaker.spoken == ["Heard by nobody."] and problems == [] and speaker.available
    finally:
        speaker.close()
    assert playback_problem("null") is None
    assert "livecc_no_such_device" in playback_problem("livecc_no_such_device")
