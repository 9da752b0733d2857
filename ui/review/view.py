"""The review view: a coach's workspace for one recorded game.

Open a video; the model commentates it ahead of playback (every chunk, progress
shown) while the coach plays, pauses, seeks, steps and slows down the footage
with the commentary captioned on the picture. The timeline lists what was said,
the coach's marks and notes, and their questions; clicking a line seeks there.
Paused on a moment, the coach asks a question; the model answers from the
seconds before it (commentary pauses meanwhile, then resumes). Everything is
saved as it happens (:class:`app.review.session.ReviewSession`) and exported to SRT,
WebVTT, JSONL or a captioned MP4 (with the commentary spoken, if wanted).

The engine is the window's one engine host (``ui.engine_bridge``), shared with
the Live tab; commentary ahead and questions are jobs on it
(:mod:`app.review.jobs`, which save their results), seen here as signals
(:class:`ui.review.job_signals.ReviewJobSignals`). Decoding runs in a reader
thread (:class:`ui.review.player.FrameReader`); exports run in worker threads
(:mod:`ui.review.jobs`). The UI thread only paints.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget

from app.engine.host import EngineState
from app.export.captions import CaptionTrack
from app.pipeline.sampling import MAX_PIXELS
from app.review import export as review_export
from app.review.drawings import Drawing
from app.review.jobs import CommentaryJob, QuestionJob, ask_about, commentate_ahead
from app.review.report import write_report
from app.review.session import QA, Commentary, Note, ReviewSession, commentary_id
from app.sinks.subtitles import CueBuilder
from app.timefmt import clock
from models.engine.prompt import DEFAULT_QUERY
from models.engine.records import AnswerDelta, AnswerDone, ChunkDone, ChunkStarted
from models.errors import LiveCCError
from ui.engine_bridge import EngineBridge
from ui.review.clip_exports import ClipExports
from ui.review.drawing_actions import DrawingActions
from ui.review.job_signals import ReviewJobSignals
from ui.review.jobs import ExportJob
from ui.review.layout import EXPORTS, ReviewLayout
from ui.review.mark_actions import MarkActions
from ui.review.player import FrameReader
from ui.review.player_controls import PlayerControls

_SUFFIX = {
    "srt": ".srt",
    "vtt": ".vtt",
    "jsonl": ".jsonl",
    "mp4": ".captioned.mp4",
    "mp4-voice": ".voiced.mp4",
    "html": ".report.html",
}


class ReviewView(ClipExports, DrawingActions, MarkActions, PlayerControls, ReviewLayout, QWidget):
    """Review one video at a time.

    Args:
        bridge: the window's engine host (shared with the Live tab).
        load_model: asks the window to load the chosen model; false when none is chosen
            (``None``: review and export without a model unless one is loaded).
        query: what to commentate (the window's current instruction).
        max_pixels: frame size bound for the model.
    """

    commentaryFinished = Signal(str)  # "finished", "stopped" or "error"
    answerFinished = Signal(object)  # the QA saved on the timeline
    exportFinished = Signal(object)  # a path, or an ExportResult for MP4
    exportFailed = Signal(str)

    def __init__(
        self,
        bridge: EngineBridge,
        *,
        load_model: Callable[[], bool] | None = None,
        query: Callable[[], str] = lambda: DEFAULT_QUERY,
        max_pixels: int = MAX_PIXELS,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("reviewView")
        self.bridge, self._load_model, self._query = bridge, load_model, query
        self.max_pixels = max_pixels
        self.signals = self._job_signals()
        bridge.engineState.connect(self._engine_state)
        self.job: CommentaryJob | QuestionJob | None = None
        self._pending: Callable[[], None] | None = None  # a job waiting for the model to load
        self.session: ReviewSession | None = None
        self.reader: FrameReader | None = None
        self.jobs: list[ExportJob] = []
        self._cues, self._builder = [], CueBuilder()
        self._asked: tuple[float, str, float] | None = None
        self._resume_after_answer = False
        self._run_started: tuple[float, float] | None = None
        self._build()

    def show_status(self, text: str, level: str = "info") -> None:
        colour = {"info": "#8b949e", "warn": "#d29922", "error": "#f85149"}[level]
        self.status.setStyleSheet(f"color: {colour}")
        self.status.setText(text)
        self._hide_saved()

    # -- engine ---------------------------------------------------------------------------------
    def _job_signals(self) -> ReviewJobSignals:
        signals = ReviewJobSignals(self)
        signals.commentaryEvent.connect(self._commentary_event)
        signals.commentaryEnded.connect(self._commentary_ended)
        signals.answerEvent.connect(self._answer_event)
        signals.askFailed.connect(self._ask_failed)
        return signals

    def _forget_jobs(self) -> None:
        """Late reports of this video's jobs (from the engine's thread) are not shown for the next one."""
        self.signals.blockSignals(True)
        self.signals = self._job_signals()

    @property
    def model_available(self) -> bool:
        return self.bridge.host.last_load is not None or self._load_model is not None

    @property
    def busy(self) -> str | None:
        """``"commentary"`` or ``"question"`` while one of this view's jobs is on the engine."""
        if self._asked is not None:
            return "question"
        session = self.bridge.host.session
        if isinstance(self.job, CommentaryJob) and self.job.session is session and session.running:
            return "commentary"
        return None

    def _run(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the engine now, or once the model is loaded."""
        host = self.bridge.host
        live = self.bridge.session
        if live is not None and live.running:
            self.show_status("The engine is busy with the Live tab: stop it there to use the model here.", "warn")
            return
        if host.ready:
            self._pending = None
            job()
        elif host.state is EngineState.LOADING or (self._load_model is not None and self._load_model()):
            self._pending = job
            self.show_status("Loading the model…")
        elif host.last_load is not None:
            self._pending = job
            host.restart()
        else:
            self.show_status("Choose a model in the Live tab first.", "warn")

    def _engine_state(self, state: EngineState, detail: str) -> None:
        if state in (EngineState.FAILED, EngineState.DEAD):
            self._pending = None
            self.show_status(f"Model {state.value}: {detail}", "error")
        elif state is EngineState.READY:
            self.show_status(f"Model ready · {detail}")
            pending, self._pending = self._pending, None
            if pending is not None and self.session is not None:
                self._run(pending)
        self._enable()

    def _stop_job(self, *, now: bool = False) -> None:
        self._pending = None
        if self.busy is not None:
            self.bridge.host.stop_session(now=now)

    # -- video ----------------------------------------------------------------------------------
    def _choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a video to review", "", "Videos (*.mp4 *.mov *.mkv *.avi *.webm *.m4v *.mts);;All files (*)"
        )
        if path:
            self.open_video(path)

    def open_video(self, path: str | Path, *, commentate: bool = True) -> bool:
        """Open ``path`` with its saved review; start commentary ahead if a model is set."""
        self.close_video()
        try:
            reader = FrameReader(path)
            self.session = ReviewSession(path)
        except LiveCCError as exc:
            self.show_status(str(exc), "error")
            return False
        self.reader = reader
        reader.frameShown.connect(self._frame_shown)
        reader.playingChanged.connect(lambda on: self.play_button.setText("Pause" if on else "Play"))
        reader.failed.connect(lambda text: self.show_status(text, "error"))
        self._attach_player(reader)  # its sound, and the captions as the coach set them
        self.title.setText(Path(path).name)
        self.slider.setRange(0, round(reader.duration * 10))
        self.timeline.set_items(self.session.items())
        self._in_point = None
        self._show_marks()
        self._rebuild_tracks()
        self._show_progress()
        self.show_status(" ".join(self.session.warnings))
        self._enable()
        if commentate and self.model_available and not self.commentary_complete:
            self.start_commentary()
        return True

    def close_video(self) -> None:
        self._stop_job(now=True)  # nothing more is saved into the review being closed
        self._forget_jobs()
        self._asked = None
        self._resume_after_answer = False
        self.commentary_button.setText("Commentate")
        self.answer.clear()
        self.question.clear()
        self._detach_player()
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        if self.session is not None:
            self.session.close()
            self.session = None
        self._show_marks()
        self._enable()

    def seek(self, t: float) -> None:
        if self.reader is not None:
            self.reader.seek(t)

    def toggle_play(self) -> None:
        if self.reader is not None:
            self.reader.pause() if self.reader.playing else self.reader.play()

    def _frame_shown(self, image, t: float, _raw) -> None:
        if self.reader is None:
            return  # a frame queued by the player before the video was closed
        self.frame.show_image(image)
        self.reader.shown()
        if not self.slider.isSliderDown():
            self.slider.setValue(round(t * 10))
        duration = self.reader.duration
        self.time_label.setText(f"{clock(min(t, duration) if duration else t)} / {clock(duration)}")
        self.timeline.follow(t)

    def _rebuild_tracks(self) -> None:
        """Captions and notes for the picture, from everything saved (after opening or an edit)."""
        self._builder, self._cues = CueBuilder(), []
        for done in self.session.chunks():
            self._cues.extend(self._builder.add(done))
        self._push_tracks()

    def _push_tracks(self) -> None:
        held = list(copy.deepcopy(self._builder).finish())  # words not yet closed into a cue
        notes = CaptionTrack(review_export.note_cues(self.session))
        self.reader.set_tracks(CaptionTrack(self._cues + held), notes)
        self._push_drawings()

    # -- commentary ahead -----------------------------------------------------------------------
    @property
    def commentary_complete(self) -> bool:
        end = self.session.commentary_end if self.session else 0.0
        return bool(self.reader and self.reader.duration and end >= self.reader.duration - 1.0)

    def toggle_commentary(self) -> None:
        if self.busy == "commentary":
            self._stop_job()
        else:
            self.start_commentary()

    def start_commentary(self) -> None:
        if self.session is not None:
            self._run(self._commentate)

    def _commentate(self) -> None:
        if self.session is None:
            return
        self._run_started = (time.monotonic(), self.session.commentary_end)
        self.job = commentate_ahead(
            self.bridge.host, self.session, self.signals, query=self._query(), max_pixels=self.max_pixels
        )
        self.commentary_button.setText("Stop")

    def _commentary_event(self, event) -> None:
        if self.session is None:
            return
        if isinstance(event, ChunkStarted):
            self.progress_label.setText(f"Commentating {clock(event.t0)}…")
        elif isinstance(event, ChunkDone):  # already saved by the job
            item = self.session.get(commentary_id(event))
            if item.text:
                self.timeline.add_item(item)
            self._cues.extend(self._builder.add(event))
            self._push_tracks()
            self._show_progress()

    def _show_progress(self) -> None:
        duration = self.reader.duration if self.reader else 0.0
        end = self.session.commentary_end if self.session else 0.0
        self.progress.setValue(round(1000 * min(1.0, end / duration)) if duration else 0)
        speed = ""
        if self._run_started is not None and end > self._run_started[1]:
            rate = (end - self._run_started[1]) / max(1e-3, time.monotonic() - self._run_started[0])
            speed = f" · {rate:.1f}× real time"
        shown = min(end, duration) if duration else end  # the last chunk may end past the last frame
        self.progress_label.setText(f"Commentary {clock(shown)} / {clock(duration)}{speed}")

    def _commentary_ended(self, reason: str, message: str) -> None:
        self.commentary_button.setText("Commentate")
        self._run_started = None
        if self.session is None:
            return
        self._show_progress()
        if reason == "error":
            self.show_status(message, "error")
        elif reason == "finished":
            self._cues.extend(self._builder.finish())
            self._builder = CueBuilder()
            self._push_tracks()
        self.commentaryFinished.emit(reason)

    # -- marks, notes, edits ---------------------------------------------------------------------
    def _position(self) -> float:
        return self.reader.position if self.reader is not None else 0.0

    def add_note(self) -> None:
        text = self.note_edit.text().strip()
        if self.session is not None and text:
            self.timeline.add_item(self.session.add_note(self._position(), text))
            self._show_marks()
            self.note_edit.clear()
            self._push_tracks()

    def delete_selected(self) -> None:
        item_id = self.timeline.selected_id()
        if self.session is None or item_id is None:
            return
        self.session.remove(item_id)
        self.timeline.remove_item(item_id)
        self._show_marks()
        self._rebuild_tracks()

    def _edit(self, item_id: str) -> None:
        item = self.session.get(item_id)
        if isinstance(item, Note):
            self.edit_mark(item_id)
            return
        if isinstance(item, Drawing):
            self.edit_drawing(item_id)
            return
        field = "answer" if isinstance(item, QA) else "text"
        text, ok = QInputDialog.getMultiLineText(self, "Edit", "Text:", getattr(item, field))
        if ok:
            self.edit_item(item_id, **{field: text.strip()})

    def edit_item(self, item_id: str, **fields) -> None:
        updated = self.session.edit(item_id, **fields)
        if isinstance(updated, Commentary) and not updated.text:
            self.timeline.remove_item(item_id)
        else:
            self.timeline.add_item(updated)
        self._show_marks()
        self._rebuild_tracks()

    # -- questions --------------------------------------------------------------------------------
    def ask(self) -> None:
        question = self.question.text().strip()
        if not question or self.session is None:
            return
        if self.reader is not None:
            self.reader.pause()
        t, window = self._position(), self.window_s.value()
        self._resume_after_answer = self.busy == "commentary" or self._resume_after_answer
        self.question.clear()
        self.answer.setPlainText(f"Q ({clock(t)}): {question}\nA: ")

        def run() -> None:
            if self.session is None:
                return
            self._asked = (t, question, window)
            self.job = ask_about(
                self.bridge.host,
                self.session,
                self.signals,
                t=t,
                question=question,
                query=self._query(),
                max_pixels=self.max_pixels,
                window_s=window,
            )

        self._run(run)

    def _answer_event(self, event) -> None:
        if isinstance(event, AnswerDelta):
            self.answer.moveCursor(QTextCursor.MoveOperation.End)
            self.answer.insertPlainText(event.text)
        elif isinstance(event, AnswerDone) and self._asked is not None and self.session is not None:
            self._asked = None
            qa = self.job.saved if isinstance(self.job, QuestionJob) else None  # saved by the job
            if qa is not None:
                self.timeline.add_item(qa)
                self.answerFinished.emit(qa)
            self._after_question()

    def _ask_failed(self, message: str) -> None:
        self._asked = None
        self.answer.appendPlainText(f"\n(no answer: {message})")
        self._after_question()

    def _after_question(self) -> None:
        if self._resume_after_answer and not self.commentary_complete:
            self.start_commentary()
        self._resume_after_answer = False

    # -- exports ----------------------------------------------------------------------------------
    def _choose_export(self, fmt: str) -> None:
        suggestion = str(self.session.video.with_name(self.session.video.stem + _SUFFIX[fmt]))
        path, _ = QFileDialog.getSaveFileName(self, EXPORTS[fmt], suggestion)
        if path:
            self.export(fmt, path)

    def export(self, fmt: str, path: str | Path) -> ExportJob | None:
        """Export to ``path``; MP4 runs as a job with a progress dialog (returned), the rest at once."""
        path = Path(path)
        if fmt in ("mp4", "mp4-voice"):
            session, voice, style = self.session, fmt == "mp4-voice", self.caption_style()
            return self._start_export_job(
                f"Exporting {path.name}",
                lambda progress, cancel: review_export.export_mp4(
                    session, path, speech=voice, style=style, progress=progress, cancel=cancel
                ),
                lambda result: self.show_saved(result.path),
            )
        writers = {
            "srt": lambda s, p: review_export.export_srt(s, p, **self.subtitle_options()),
            "vtt": lambda s, p: review_export.export_vtt(s, p, **self.subtitle_options()),
            "jsonl": review_export.export_jsonl,
            "html": write_report,
        }
        try:
            writers[fmt](self.session, path)
        except LiveCCError as exc:
            self.show_status(str(exc), "error")
            self.exportFailed.emit(str(exc))
            return None
        self.show_saved(path)
        self.exportFinished.emit(path)
        return None

    def shutdown(self) -> None:
        """Stop this view's engine job, the player and any export; save nothing more.

        The engine itself belongs to the window, which shuts it down.
        """
        for job in list(self.jobs):
            job.cancel.set()
            job.wait(10)
        self.close_video()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)
