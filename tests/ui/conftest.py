"""Fixtures for GUI tests: Qt offscreen, and ready main windows on the tiny model.

``make_main_window`` is to these tests what napari's ``make_napari_viewer`` is
to napari's: it builds a real window (real engine process, real llama.cpp on
the tiny model, settings in a temporary folder) and closes it afterwards, which
also shuts its engine process down.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported anywhere

import pytest

from app.settings import Settings, SettingsStore
from app.synthetic_video import write_test_video


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    """Generated clips: a short one (5 s) and a long one (40 s)."""
    root = tmp_path_factory.mktemp("clips")
    return {"short": write_test_video(root / "short.mp4", 5.0, fps=10),
            "long": write_test_video(root / "long.mp4", 40.0, fps=5)}


@pytest.fixture
def tiny_settings(tiny_model, tmp_path) -> Settings:
    """Settings for the tiny model, greedy, transcripts and config under ``tmp_path``."""
    s = Settings()
    s = s.replace("model", model_path=str(tiny_model.text_path), mmproj_path=str(tiny_model.mmproj_path),
                  n_ctx=4096, n_threads=1)
    s = s.replace("commentary", greedy=True)
    s = s.replace("capture", transcript_dir=str(tmp_path / "transcripts"))
    return s.replace("overlay", fade_after_s=0.0)


@pytest.fixture
def make_main_window(qtbot, tmp_path):
    """``make(settings=None, **kwargs)`` → a shown MainWindow; closed (engine shut down) after the test."""
    from ui.engine_bridge import EngineBridge
    from ui.main_window import MainWindow

    windows = []

    def make(settings: Settings | None = None, **kwargs):
        store = SettingsStore(tmp_path / "config")
        if settings is not None:
            store.save(settings)
        window = MainWindow(store, store.load(), EngineBridge(tmp_path / "logs"), **kwargs)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
