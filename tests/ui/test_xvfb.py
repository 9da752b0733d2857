"""Under a real X server (Xvfb): capture a moving window with mss, and screenshot the app.

Each test starts its own Xvfb on a free display (``-displayfd``: the server
picks the number, so parallel runs never collide) and runs a scenario of
``xvfb_scenarios.py`` in a child process with ``QT_QPA_PLATFORM=xcb``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from tests.real_programs import Xvfb

SCENARIOS = Path(__file__).with_name("xvfb_scenarios.py")
pytestmark = pytest.mark.skipif(
    shutil.which("Xvfb") is None, reason="Xvfb is not installed: run scripts/ensure_system_packages.sh"
)


@pytest.fixture
def xvfb():
    """The DISPLAY of a fresh Xvfb (1280x800, 24-bit), stopped after the test."""
    try:
        server = Xvfb("1280x800x24")
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server.display
    server.stop()


def _run(display: str, *args: str) -> None:
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb")
    env.pop("WAYLAND_DISPLAY", None)
    done = subprocess.run([sys.executable, str(SCENARIOS), *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_window_and_region_capture_of_a_moving_pattern_reach_the_engine(xvfb, tiny_model, tmp_path):
    out = tmp_path / "capture.json"
    _run(xvfb, "capture", str(tiny_model.text_path), str(tiny_model.mmproj_path), str(out))
    r = json.loads(out.read_text())
    assert "error" not in r, r.get("error")
    assert r["monitors"] == ["Monitor 1 (1280×800 at 0,0)"]
    assert r["listed"] and r["own_pid_excluded"]
    for key in ("window_stamps", "region_stamps"):
        stamps = r[key]
        assert None not in stamps, f"{key}: the captured pixels are not the window's pattern"
        assert stamps == sorted(stamps) and stamps[-1] > stamps[0], f"{key}: the pattern did not move"
    assert len(r["chunks"]) >= 2 and r["chunks"][0][1] - r["chunks"][0][0] == pytest.approx(3.0)
    assert r["session_end"] == "stopped"
    assert r["frames_before_close"] == 2 and "was closed" in r["after_close"]


def test_screenshots_of_the_running_app(xvfb, tiny_model, tmp_path):
    _run(xvfb, "screenshots", str(tiny_model.text_path), str(tiny_model.mmproj_path), str(tmp_path))
    facts = json.loads((tmp_path / "facts.json").read_text())
    assert facts["running"] and facts["start_text"] == "Stop" and facts["chunks"] >= 12
    assert facts["widgets_visible"] and facts["preview_frames"] > 0 and facts["transcript_chars"] > 0
    assert facts["main"]["std"] > 20 and facts["main"]["colours"] > 50
    assert facts["preview_region"]["std"] > 20  # the video is visible in the preview
    main = cv2.imread(str(tmp_path / "main-window.png"))
    overlay = cv2.imread(str(tmp_path / "overlay.png"))
    assert main.shape[:2] == (facts["grab_size"][1], facts["grab_size"][0])
    assert overlay.shape[:2] == (720, 1280) and overlay.std() > 20


def test_the_overlay_over_the_captured_region_never_reaches_the_engine(xvfb, tiny_model, tmp_path):
    """X11 has no capture-exclusion flag: our windows are blanked in each grab before sampling."""
    out = tmp_path / "own.json"
    _run(xvfb, "own_windows", str(tiny_model.text_path), str(tiny_model.mmproj_path), str(out))
    r = json.loads(out.read_text())
    assert r["overlay_visible"] and r["started"]
    assert r["raw_overlay_pixels"] > 5000, "the overlay was not on the screen over the region"
    assert r["frames"] >= 8  # two chunks: 6 + 2 frames
    assert max(r["frame_overlay_pixels"]) == 0, r["frame_overlay_pixels"]
    assert min(r["frame_std"]) > 20  # the rest of the picture is still there


@pytest.mark.skipif(
    shutil.which("xdotool") is None, reason="xdotool is not installed: run scripts/ensure_system_packages.sh"
)
def test_global_hotkeys_work_while_another_application_has_the_focus(xvfb, tiny_model, tmp_path):
    out = tmp_path / "keys.json"
    _run(xvfb, "hotkeys", str(tiny_model.text_path), str(tiny_model.mmproj_path), str(out))
    r = json.loads(out.read_text())
    assert r["listening"] and r["problems"] == [], r
    assert r["other_has_focus"], "the other application did not get the focus"
    for key in ("overlay_on", "overlay_off", "click_through_on", "voice_on", "started", "stopped"):
        assert r[key], f"{key}: {r}"
    assert r["other_still_has_focus"] and r["plain_f8_ignored"] and r["stopped_listening"]
