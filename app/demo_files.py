"""The files of "try it without a download": the tiny random model and a generated clip.

Shared by ``livecc-desk demo`` and the desktop app's **Try it now** button, so both
try the same thing. Everything lives in the user cache folder (``app.paths.cache_dir()``)
and is made again when missing; a second try reuses it (the tiny model is rebuilt only
when its generator changed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: What every place that shows the tiny model's words says about them.
NOISE_NOTICE = (
    "A tiny test model with random weights: its words are noise. Everything else is real "
    "(frames, the LiveCC protocol, llama.cpp, subtitles)."
)
CLIP_SECONDS = 8


@dataclass(frozen=True)
class DemoFiles:
    """The tiny model's text GGUF and mmproj, and the sample clip."""

    text_path: Path
    mmproj_path: Path
    clip: Path


def demo_files(folder: str | Path | None = None) -> DemoFiles:
    """Make (or reuse) the demo's files in ``folder`` (default: ``<cache_dir>/demo``)."""
    from app.paths import cache_dir
    from app.sources.synthetic import write_test_video
    from models.tiny_model import make_tiny_model

    root = Path(folder) if folder is not None else cache_dir() / "demo"
    root.mkdir(parents=True, exist_ok=True)
    tiny = make_tiny_model(root / "tiny-model")
    clip = root / "demo-clip.mp4"
    if not clip.exists():
        partial = root / "demo-clip.partial.mp4"  # a killed write never leaves a clip that looks whole
        write_test_video(partial, seconds=CLIP_SECONDS)
        partial.replace(clip)
    return DemoFiles(tiny.text_path, tiny.mmproj_path, clip)


def is_demo_model(path: str | Path) -> bool:
    """Whether ``path`` is the tiny model of ``demo_files()`` (the app labels it as noise)."""
    from app.paths import cache_dir

    try:
        return (cache_dir() / "demo").resolve() in Path(path).resolve().parents
    except OSError:
        return False
