"""Fixtures for the core tests that need more than a temporary folder."""

from __future__ import annotations

import os
import subprocess

import pytest


@pytest.fixture
def mount_disk(tmp_path):
    """``mount_disk(size)``: a small filesystem (tmpfs, e.g. ``"16k"``); needs root on Linux, else skips."""
    mounted = []

    def mount(size: str):
        if os.name != "posix" or os.geteuid() != 0:
            pytest.skip("mounting a small tmpfs needs root")
        folder = tmp_path / f"disk-{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture
def tiny_disk(mount_disk):
    """A 16 KiB filesystem: full for every output (see ``app.atomic_files.MIN_FREE_BYTES``)."""
    return mount_disk("16k")
