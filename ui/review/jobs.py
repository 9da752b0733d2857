"""Long exports off the UI thread, with a progress dialog that can cancel them.

An MP4 of a whole game takes minutes; the window must keep painting and the
coach must be able to change their mind. The export runs in a worker thread
with a ``progress(fraction, message)`` callback and a ``threading.Event`` to
cancel (see :func:`app.export.captioned_video.export_captioned_video`); its reports
reach the UI thread as queued signals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

from app.errors import ExportCancelled
from models.errors import LiveCCError


class ExportJob(QObject):
    """Runs ``work(progress, cancel)`` in a thread; ``finished(result)`` or ``failed(message)`` once."""

    progress = Signal(float, str)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, title: str, work: Callable, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.cancel = threading.Event()
        self._work = work
        self._thread = threading.Thread(target=self._run, name="export", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            result = self._work(lambda f, m: self.progress.emit(float(f), m), self.cancel)
        except ExportCancelled:
            self.cancelled.emit()
        except LiveCCError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a bug: report it rather than leave the dialog hanging
            self.failed.emit(f"The export failed ({type(exc).__name__}: {exc}).")
        else:
            self.finished.emit(result)


def progress_dialog(job: ExportJob, parent: QWidget) -> QProgressDialog:
    """A window-modal dialog that follows ``job`` and cancels it; it closes itself at the end."""
    dialog = QProgressDialog(job.title, "Cancel", 0, 1000, parent)
    dialog.setWindowTitle("Export")
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(0)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.setValue(0)

    def update(fraction: float, message: str) -> None:
        dialog.setValue(round(fraction * 1000))
        dialog.setLabelText(f"{job.title}\n{message}")

    job.progress.connect(update)
    dialog.canceled.connect(job.cancel.set)
    for signal in (job.finished, job.failed, job.cancelled):
        signal.connect(dialog.close)
    return dialog
