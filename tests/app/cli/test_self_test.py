"""``livecc-desk --self-test`` run in-process: the report a user (and CI, on the bundle) reads.

The bundle itself is checked by ``scripts/build_package.sh``, which runs the same
self-test inside it; here the checks run on the source tree, fast, so a broken
check is caught before anyone spends minutes packaging.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile

import pytest

from app.cli import self_test
from app.cli.self_test import REPORT_WIDTH, Skip, Warn, run_self_test

ESSENTIAL = ["llama.cpp", "tiny model", "video file", "engine", "engine process"]
SERVER = "llama-server"  # ok where `make server` has built it, else a skip (a failure only in a bundle)
OPTIONAL = ["screen capture", "speech (TTS)", "Qt / GUI"]  # depend on the machine: display, speech engine


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Make the self-test's temporary folder land in ``tmp_path``, to check it is removed."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    return tmp_path


def _status(lines: list[str], name: str) -> str:
    for line in lines:
        parts = line.split(maxsplit=1)
        if len(parts) == 2 and parts[1].startswith(name + " "):
            return parts[0]
    raise AssertionError(f"no report line for {name!r}")


def test_self_test_passes_and_fits_one_screen(private_tmp):
    out = io.StringIO()
    status = run_self_test(out)
    report = out.getvalue()
    lines = report.splitlines()

    assert status == 0, report
    assert lines[0].startswith("LiveCC Desk ") and "self-test (source;" in lines[0]
    for name in ESSENTIAL:
        assert _status(lines, name) == "ok", report
    for name in OPTIONAL:
        assert _status(lines, name) in {"ok", "warn", "skip"}, report
    from models.engine.llama_server import find_llama_server

    assert _status(lines, SERVER) == ("ok" if find_llama_server() else "skip"), report
    assert lines[-1].startswith("Self-test passed: ")
    assert len(lines) <= 24, report
    assert all(len(line) <= REPORT_WIDTH for line in lines[1:-1]), report
    assert "6+2+2 frames" in report  # a 5-s clip at 2 fps: LiveCC's opening chunk, then 1-s chunks
    assert list(private_tmp.iterdir()) == [], "the self-test left files behind"


def test_failures_decide_the_exit_status_and_show_the_last_native_output(private_tmp, monkeypatch):
    def fails(ctx):
        os.write(2, b"ggml: out of memory in a C library\n")  # printed past sys.stderr, as llama.cpp does
        raise RuntimeError("the library did not load")

    def skips(ctx):
        raise Skip("no display here")

    def warns(ctx):
        raise Warn("works, without sound")

    monkeypatch.setattr(
        self_test, "CHECKS", [("fine", lambda ctx: "all good"), ("skips", skips), ("warns", warns), ("fails", fails)]
    )
    out = io.StringIO()
    status = run_self_test(out)
    report = out.getvalue()

    assert status == 1
    assert "FAIL  fails" in report and "RuntimeError: the library did not load" in report
    assert "last output: ggml: out of memory in a C library" in report
    assert "skip  skips           no display here" in report
    assert "warn  warns           works, without sound" in report
    assert report.splitlines()[-1].startswith("Self-test FAILED: 1 ok, 1 warnings, 1 skipped, 1 failed")

    monkeypatch.setattr(self_test, "CHECKS", [("skips", skips), ("warns", warns)])
    assert run_self_test(io.StringIO()) == 0


def test_a_missing_optional_part_is_a_skip_from_source_but_a_failure_in_a_bundle(monkeypatch):
    with pytest.raises(Skip, match="is not installed"):
        self_test._optional("livecc_no_such_module", "pip install it")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    with pytest.raises(RuntimeError, match="missing from the bundle"):
        self_test._optional("livecc_no_such_module", "pip install it")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="playback is checked through aplay on Linux")
def test_the_speech_line_checks_that_a_playback_device_exists(tmp_path, monkeypatch):
    """Synthesising into a file is not "ok" when nothing can play it (the sound card is the fake)."""
    import ctypes.util
    import shutil

    from app.cli.self_test import _Context, check_tts

    if not (ctypes.util.find_library("espeak-ng") and shutil.which("aplay")):
        pytest.skip("espeak-ng and aplay are needed (scripts/ensure_system_packages.sh)")
    fake = tmp_path / "bin" / "aplay"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "aplay: main:850: audio open error: No such file or directory" >&2\nexit 1\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "work").mkdir()
    with pytest.raises(Warn, match="no playback device: the default audio device could not play: aplay: main"):
        check_tts(_Context(tmp_path / "work"))
