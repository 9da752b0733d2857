"""The ffmpeg binary shipped by ``imageio-ffmpeg``, and what we ask of it.

Users install a packaged app and have no ffmpeg of their own, so exports use
the static build that the ``imageio-ffmpeg`` wheel carries (it includes
libx264 and the native AAC encoder). Everything here is a thin, checked call:
find the binary, list its encoders once, tell whether a file has audio, and
turn ffmpeg's last stderr lines into a message a user can act on.
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

from app.errors import ExportError

# Best first: H.264 plays everywhere; libopenh264 and MPEG-4 part 2 are fallbacks
# for builds without libx264 (a distribution's ffmpeg, an LGPL build).
VIDEO_ENCODERS = ("libx264", "libopenh264", "mpeg4")
_ENCODER_OPTIONS = {
    "libx264": ["-preset", "veryfast", "-crf", "20", "-tune", "film"],
    "libopenh264": ["-b:v", "6M"],
    "mpeg4": ["-q:v", "3"],
}


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the bundled ffmpeg; :class:`ExportError` when it is missing."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError, OSError) as exc:
        raise ExportError(
            f"Video export needs ffmpeg, which could not be found ({exc}). "
            "Reinstall LiveCC Desk (it ships ffmpeg through the imageio-ffmpeg package)."
        ) from exc


def run_ffmpeg(*args: str, **options) -> subprocess.CompletedProcess:
    """Run the bundled ffmpeg to completion; :class:`ExportError` if it cannot start."""
    try:
        return subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", *args], capture_output=True, check=False, **options
        )
    except OSError as exc:
        raise ExportError(f"Cannot run ffmpeg ({ffmpeg_exe()}): {exc.strerror or exc}. Reinstall LiveCC Desk.") from exc


@functools.lru_cache(maxsize=1)
def encoders() -> frozenset[str]:
    """Names of the encoders this ffmpeg build has."""
    out = run_ffmpeg("-encoders", text=True, errors="replace").stdout
    return frozenset(m.group(1) for m in re.finditer(r"^\s[VAS][.A-Z]{5}\s+(\S+)", out, re.M))


def video_encoder() -> tuple[str, list[str]]:
    """The best H.264-or-fallback encoder available, with its quality options."""
    available = encoders()
    for name in VIDEO_ENCODERS:
        if name in available:
            return name, list(_ENCODER_OPTIONS[name])
    raise ExportError("The ffmpeg found has no usable video encoder (libx264, libopenh264 or mpeg4).")


def has_audio(path: str | Path) -> bool:
    """Whether ``path`` has at least one audio stream ffmpeg can read."""
    probe = run_ffmpeg("-i", str(path), text=True, errors="replace")
    return re.search(r"^\s*Stream #\S+.*: Audio:", probe.stderr, re.M) is not None


def failure_message(output: Path, stderr_tail: str, returncode: int | None) -> str:
    """Why ffmpeg failed to write ``output``, in words; the raw tail goes last."""
    tail = stderr_tail.strip()
    low = tail.lower()
    if "no space left on device" in low:
        return f"Cannot write {output}: the disk is full. Free some space or choose another disk."
    if "permission denied" in low:
        return f"Cannot write {output}: permission denied. Choose another folder."
    if "read-only file system" in low:
        return f"Cannot write {output}: the disk is read-only. Choose another folder."
    last = tail.splitlines()[-1] if tail else f"exit code {returncode}"
    return f"ffmpeg could not encode {output.name}: {last}"
