"""The desktop app's log file: what a bug report attaches (Help › Open log).

One rotating file, ``<data folder>/logs/livecc-desk.log`` (1 MB, three old copies
kept), holds the app's warnings and errors of recent runs. The engine child's own
logs sit beside it in the same folder (``app.engine.host``).
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

LOG_NAME = "livecc-desk.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_folder() -> Path:
    from app.paths import data_dir

    return data_dir() / "logs"


def start_log_file(folder: str | Path | None = None, level: int = logging.INFO) -> Path | None:
    """Send the root logger's records to the rotating log file; its path, or None if it cannot be written.

    Calling it again for the same file adds no second handler.
    """
    path = Path(folder if folder is not None else log_folder()) / LOG_NAME
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler) and Path(handler.baseFilename) == path.resolve():
            return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=False
        )
    except OSError:
        return None  # a read-only profile must not stop the app
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.setLevel(level)
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    return path
