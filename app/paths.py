"""The app's name and its folders in the user's profile, once.

Every folder comes from platformdirs with ``appauthor=False``: on Windows the
default would add an author level (``...\\livecc-desk\\livecc-desk``), and a
folder computed without it is a different folder, so settings, reviews and
models would end up apart. ``models.store`` computes the models folder the same
way (``data_dir() / "models"``) without importing ``app``; a test checks they agree.
"""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_cache_dir, user_config_dir, user_data_dir

APP_NAME = "livecc-desk"


def config_dir() -> Path:
    """Where the settings file lives (``~/.config/livecc-desk`` on Linux)."""
    return Path(user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """Where transcripts, reviews, logs and models live (``~/.local/share/livecc-desk`` on Linux)."""
    return Path(user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """What can be made again (the demo's tiny model and clip): ``~/.cache/livecc-desk`` on Linux."""
    return Path(user_cache_dir(APP_NAME, appauthor=False))
