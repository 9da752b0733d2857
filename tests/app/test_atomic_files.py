"""Outputs are checked before any work, written whole, and never destroy what is not theirs."""

from __future__ import annotations

import os
import stat

import pytest

from app.atomic_files import resolve_output, write_atomic
from app.errors import OutputError


def test_an_output_in_a_missing_folder_fails_early_with_both_paths(tmp_path):
    assert resolve_output(tmp_path / "out.srt") == tmp_path / "out.srt"  # an existing folder passes
    target = tmp_path / "nope" / "out.srt"
    with pytest.raises(OutputError, match="does not exist") as failure:
        resolve_output(target, "the transcript ")
    assert str(failure.value) == f"Cannot write the transcript {target}: the folder {target.parent} does not exist."


def test_a_folder_is_not_an_output(tmp_path):
    with pytest.raises(OutputError, match="it is a folder"):
        write_atomic(tmp_path, "text")


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_a_device_is_refused_and_left_as_it_is():
    with pytest.raises(OutputError, match="not a regular file"):
        write_atomic("/dev/null", "1\n00:00:00,000 --> 00:00:01,000\nhi\n")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "out.srt"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="not a regular file"):
        write_atomic(fifo, "text")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_a_symlink_is_written_through_and_stays_a_link(tmp_path):
    real = tmp_path / "shared" / "match.srt"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "match.srt"
    link.symlink_to(real)
    write_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new" and link.read_text() == "new"


def test_a_full_disk_is_refused_before_any_work(tiny_disk):
    (tiny_disk / "filler").write_bytes(b"x" * 8192)
    with pytest.raises(OutputError, match="disk is full"):
        resolve_output(tiny_disk / "out.srt", "the subtitles ")
    assert not (tiny_disk / "out.srt").exists()
