"""Voice in the window: a device that cannot play gives one banner and switches Voice off.

Real pyttsx3 (espeak-ng) and real ``aplay``, told to play on a device that does
not exist: that is exactly what a machine without a working sound card does.
"""

from __future__ import annotations

import ctypes.util
import shutil
import sys

import pytest

from models.engine.records import ChunkDone

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not ctypes.util.find_library("espeak-ng") or not shutil.which("aplay"),
    reason="espeak-ng and aplay are needed (scripts/ensure_system_packages.sh)",
)


def test_failed_playback_shows_one_banner_switches_voice_off_and_can_be_retried(qtbot, make_main_window, tiny_settings):
    settings = tiny_settings.replace("voice", output_device="livecc_no_such_device", enabled=False)
    window = make_main_window(settings)
    problems = []
    window.speechProblem.connect(problems.append)
    window.voice_action.trigger()
    assert window.voice_action.isChecked() and window.speaker is not None
    with qtbot.waitSignal(window.speechProblem, timeout=30_000):
        for i in range(25):
            window._engine_event(ChunkDone(i, float(i), i + 1.0, f" phrase {i}"))
    qtbot.waitUntil(lambda: not window.voice_action.isChecked())
    for i in range(25, 30):
        window._engine_event(ChunkDone(i, float(i), i + 1.0, f" phrase {i}"))
    qtbot.wait(200)  # nothing more may arrive
    assert len(problems) == 1 and "livecc_no_such_device" in window.banner.text()
    assert window.banner_box.isVisible() and not window.settings.voice.enabled
    first = window.speaker
    window.voice_action.trigger()  # on again: a fresh try, not the speaker that gave up
    assert window.voice_action.isChecked() and window.speaker is not first
