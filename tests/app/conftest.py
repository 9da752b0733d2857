"""Fixtures for the core tests that need more than a temporary folder."""

from __future__ import annotations

import os
import subprocess

import pytest


@pytest.fixture
def tiny_disk(tmp_path):
    """A 16 KiB filesystem (tmpfs): needs root on Linux, else the test is skipped."""
    mount = tmp_path / "tiny-disk"
    mount.mkdir()
    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)
