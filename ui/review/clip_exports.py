"""Clips of the marked ranges and a highlights reel, exported from the Review tab.

A mixin of :class:`ui.review.view.ReviewView`: the Export menu's "Clips of
marked ranges…" writes one MP4 per mark with an in and out point into a chosen
folder, "Highlights reel…" one MP4 of them all with a title card before each
(:mod:`app.review.clips`, captions and drawings burned in). Both take the marks
the coach is looking at: those of the tag chosen under "Show", or all of them.
They run as export jobs with a progress dialog that can cancel them
(:mod:`ui.review.jobs`), like the captioned MP4.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from app.review.clips import export_clips, export_reel, ranged_marks
from ui.review.jobs import ExportJob, progress_dialog

CLIPS = "Clips of marked ranges…"
REEL = "Highlights reel…"
CLIP_VOICE = "Clips and reel with the voice"


class ClipExports:
    """Mixin: needs ``session``, ``tag_bar``, ``clip_voice`` (the menu's check for the spoken
    commentary), ``jobs``, ``status``, ``show_status``, ``exportFinished``
    and ``exportFailed`` from the view, ``caption_style`` and ``show_saved`` from ``PlayerControls``."""

    def _marks_to_export(self) -> tuple[list, str]:
        """The ranged marks shown under the tag filter, and words for them ("3 marks tagged 'attack'")."""
        tag = self.tag_bar.current_filter()
        marks = ranged_marks(self.session, tag=tag) if self.session is not None else []
        tagged = f" tagged {tag!r}" if tag is not None else ""
        return marks, f"{len(marks)} mark{'s' if len(marks) != 1 else ''}{tagged}"

    def _ready_to_cut(self) -> bool:
        """True when there is something to cut; otherwise says why not."""
        marks, words = self._marks_to_export()
        if not marks:
            self.show_status(f"{words} with an in and out point: press I and O around a play first.", "warn")
        return bool(marks)

    def _choose_clips(self) -> None:
        if not self._ready_to_cut():
            return
        _marks, words = self._marks_to_export()
        folder = QFileDialog.getExistingDirectory(
            self, f"Folder for the clips ({words})", str(self.session.video.parent)
        )
        if folder:
            self.export_clips(folder)

    def _choose_reel(self) -> None:
        if not self._ready_to_cut():
            return
        _marks, words = self._marks_to_export()
        suggestion = str(self.session.video.with_name(self.session.video.stem + ".reel.mp4"))
        path, _ = QFileDialog.getSaveFileName(self, f"Highlights reel ({words})", suggestion, "MP4 video (*.mp4)")
        if path:
            self.export_reel(path)

    def _cut_options(self) -> dict:
        """What the clips and the reel are cut with: the shown ranged marks, the caption style, the voice."""
        return dict(marks=self._marks_to_export()[0], style=self.caption_style(), speech=self.clip_voice.isChecked())

    def export_clips(self, folder: str | Path) -> ExportJob | None:
        """One MP4 per shown ranged mark into ``folder``, as a job with a progress dialog (returned)."""
        if not self._ready_to_cut():
            return None
        session, options = self.session, self._cut_options()
        marks = options["marks"]
        folder = Path(folder)
        clips = f"{len(marks)} clip{'s' if len(marks) != 1 else ''}"

        def saved(written: dict[str, Path]) -> None:
            self.show_saved(next(iter(written.values())))  # its folder a click away
            self.status.setText(f"Saved: {clips} in {folder.name}")

        return self._start_export_job(
            f"Exporting {clips} to {folder.name}",
            lambda progress, cancel: export_clips(session, folder, progress=progress, cancel=cancel, **options),
            saved,
        )

    def export_reel(self, path: str | Path) -> ExportJob | None:
        """One MP4 of the shown ranged marks, each after a title card, as a job (returned)."""
        if not self._ready_to_cut():
            return None
        session, options = self.session, self._cut_options()
        path = Path(path)
        return self._start_export_job(
            f"Exporting the highlights reel {path.name}",
            lambda progress, cancel: export_reel(session, path, progress=progress, cancel=cancel, **options),
            lambda reel: self.show_saved(reel.path),
        )

    def _start_export_job(self, title: str, work: Callable, saved: Callable[[object], None]) -> ExportJob:
        """Run ``work`` as an export job with a progress dialog; ``saved(result)`` tells the coach.

        Every video export of the tab (captioned MP4, clips, reel) runs through here."""
        job = ExportJob(title, work, self)
        job.finished.connect(lambda result: (saved(result), self.exportFinished.emit(result)))
        job.failed.connect(lambda message: (self.show_status(message, "error"), self.exportFailed.emit(message)))
        job.cancelled.connect(lambda: self.show_status("Export cancelled.", "warn"))
        for signal in (job.finished, job.failed, job.cancelled):
            signal.connect(lambda *_: job in self.jobs and self.jobs.remove(job))
        self.jobs.append(job)
        progress_dialog(job, self).show()
        job.start()
        return job
