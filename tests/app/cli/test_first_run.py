"""A first run: ``make run`` / ``livecc-desk`` without a display runs the demo and says how to get the window."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def outside_make() -> dict[str, str]:
    """This environment without what a surrounding ``make test`` passes to a nested make."""
    return {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}


def headless_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in outside_make().items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(
        PYTHONPATH=str(ROOT),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    return env


def test_no_arguments_without_a_display_runs_the_demo_and_says_how_to_open_the_window(tmp_path):
    if not sys.platform.startswith("linux"):
        return  # elsewhere there is always a display
    result = subprocess.run(
        [sys.executable, "-m", "app.cli.main"],
        capture_output=True,
        text=True,
        timeout=300,
        env=headless_env(tmp_path),
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    err = " ".join(result.stderr.split())
    assert "No display found" in err and "livecc-desk demo" in err and "desktop session" in err
    assert "TINY RANDOM model" in err
    demo = tmp_path / "cache" / "livecc-desk" / "demo"
    assert (demo / "demo-clip.jsonl").is_file()
    assert "README" not in err  # the bundle carries no README: the demo names commands instead
    assert "models download livecc-7b-instruct" in err and "--model livecc-7b-instruct" in err
    wrote = [ln for ln in result.stderr.splitlines() if ln.startswith("wrote: ")]
    assert wrote and str(demo / "demo-clip.jsonl") in wrote[0]


def test_help_says_no_arguments_open_the_desktop_app(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "app.cli.main", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env=headless_env(tmp_path),
        cwd=ROOT,
    )
    assert result.returncode == 0
    assert "no arguments to open the desktop app" in " ".join(result.stdout.split())


def test_make_run_sets_up_then_runs_livecc_desk_without_arguments():
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "-W", "pyproject.toml", "run"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=outside_make(),
    )
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1].split()
    assert last == [".venv/bin/livecc-desk"], result.stdout


def test_readme_first_lines_say_what_make_run_does():
    head = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split("\n## ")[0].split())
    assert "make run" in head and "opens the desktop app" in head and "no display" in head
    assert "livecc-desk demo" in head


def test_make_run_in_a_clean_clone_without_a_display_runs_the_demo(tmp_path):
    """``make run`` in a fresh clone, DISPLAY unset: the demo commentates and the window is explained.

    The clone reuses this test run's environment (``VENV=``, its install stamp taken as made) instead
    of building another one for minutes; everything else is the clone's own Makefile and checkout.
    """
    clone = tmp_path / "clone"
    done = subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        pytest.skip(f"cannot clone this checkout: {done.stderr.strip()}")
    venv = Path(sys.prefix)
    stamps = sorted(venv.glob(".installed*"))
    if not stamps or not (venv / "bin" / "livecc-desk").exists():
        pytest.skip("the test environment was not made by `make setup`")
    result = subprocess.run(
        ["make", "--no-print-directory", f"VENV={venv}", "-o", str(stamps[-1]), "-o", "system", "run"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=clone,
        env=headless_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "demo" in result.stderr.lower() and "livecc-desk" in result.stderr
    assert "Traceback" not in result.stderr
