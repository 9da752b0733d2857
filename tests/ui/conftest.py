"""Fixtures for GUI tests: Qt offscreen, and ready main windows on the tiny model.

``make_main_window`` is to these tests what napari's ``make_napari_viewer`` is
to napari's: it builds a real window (real engine process, real llama.cpp on
the tiny model, settings in a temporary folder) and closes it afterwards, which
also shuts its engine process down.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before Qt is imported anywhere

import threading

import pytest

from app.settings import Settings, SettingsStore
from app.sources.synthetic import write_test_video


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    """Generated clips: a short one (5 s) and a long one (40 s)."""
    root = tmp_path_factory.mktemp("clips")
    return {
        "short": write_test_video(root / "short.mp4", 5.0, fps=10),
        "long": write_test_video(root / "long.mp4", 40.0, fps=5),
    }


@pytest.fixture
def tiny_settings(tiny_model, tmp_path) -> Settings:
    """Settings for the tiny model, greedy, transcripts and config under ``tmp_path``."""
    s = Settings()
    s = s.replace(
        "model", model_path=str(tiny_model.text_path), mmproj_path=str(tiny_model.mmproj_path), n_ctx=4096, n_threads=1
    )
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


@pytest.fixture(autouse=True)
def slot_exceptions_fail(request):
    """Every exception raised in a slot or a worker thread fails the test that caused it.

    pytest-qt 4 already replaces ``sys.excepthook`` during each test (PySide6 hands a
    slot's exception to it) and fails the test at the end of its phase; this makes sure
    nobody switched that off (``qt_no_exception_capture``), and adds the same for
    exceptions that end a Python thread (``threading.excepthook``), which Qt never sees.
    """
    assert not request.node.get_closest_marker("qt_no_exception_capture"), (
        "GUI tests must fail on exceptions raised in slots"
    )
    assert not request.config.getini("qt_no_exception_capture")
    seen: list[str] = []
    previous = threading.excepthook

    def record(args) -> None:
        seen.append(f"{args.exc_type.__name__}: {args.exc_value} (thread {args.thread and args.thread.name})")
        previous(args)

    threading.excepthook = record
    yield
    threading.excepthook = previous
    assert not seen, "exceptions in worker threads:\n" + "\n".join(seen)
