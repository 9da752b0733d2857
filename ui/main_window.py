"""The main window: pick a source and a model, press Start, watch the commentary.

Left: the source, the model and what to commentate. Right: the live preview
over the transcript. Bottom: the status line. Everything slow (loading,
commentating, probing cameras, downloads) happens in the engine process or a
worker thread; this window only reacts to signals, so it never freezes.

When the engine dies, a banner says why and offers "Restart engine"; the
transcript stays on screen and on disk, and for a video file the start time is
moved to where commentary stopped, so Start resumes there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox, QToolBar

from app.demo_files import NOISE_NOTICE, DemoFiles, demo_files, is_demo_model
from app.engine.host import EngineState
from app.engine.process import EngineDied, EngineFailed, Load, Loaded
from app.hotkeys import GlobalHotkeys
from app.pipeline.session import SessionEnded, export_transcript
from app.settings import (
    LoadResult,
    ReviewSettings,
    Settings,
    SettingsStore,
    engine_load,
    remote_target,
    transcripts_folder,
)
from app.sinks.live_outputs import LiveOutputs
from app.sinks.voice import Speaker
from app.sources.live import LiveSource
from app.sources.own_windows import OwnWindows
from app.timefmt import clock
from models.engine.records import ChunkDone
from models.errors import LiveCCError
from ui.engine_bridge import EngineBridge
from ui.live.capture_guard import CaptureGuard
from ui.live.companions import LiveCompanions
from ui.live.model_panel import ModelChoice
from ui.live.overlay import OverlayWindow
from ui.live.region_selector import RegionSelector
from ui.main_layout import MainLayout
from ui.settings_dialog import SettingsDialog

log = logging.getLogger(__name__)
TINY_LABEL = "Tiny test model (random: its words are noise)"


class MainWindow(LiveCompanions, MainLayout, QMainWindow):
    """The app's window. ``bridge`` runs the engine; ``store`` keeps the settings."""

    speechProblem = Signal(str)
    obsStatus = Signal(object)  # ObsState, emitted from the OBS sink's thread
    hotkeyPressed = Signal(str)  # a global hotkey's action, emitted from the listener thread
    demoReady = Signal(object)  # DemoFiles for "Try it now", from its worker thread
    demoFailed = Signal(str)

    def __init__(self, store: SettingsStore, loaded: LoadResult, bridge: EngineBridge, speaker_factory=Speaker) -> None:
        super().__init__()
        self.setWindowTitle("LiveCC Desk")
        self.setObjectName("mainWindow")
        self.store, self.settings, self.bridge = store, loaded.settings, bridge
        self._speaker_factory = speaker_factory
        self.speaker: Speaker | None = None
        self._start_when_ready = False
        self._banner_cause = ""  # what the shown banner is about, so it can go when that is gone
        self._preparing_demo = False
        self._region_selector: RegionSelector | None = None
        self.review = None  # the ReviewView, built when the Review tab is first opened
        self._review_save = QTimer(self, singleShot=True, interval=400)
        self._review_save.timeout.connect(self.save_settings)
        self._build()
        self._connect()
        self.overlay = OverlayWindow(self.settings.overlay)
        self.overlay.geometrySaved.connect(self._overlay_moved)
        self.overlay.hideRequested.connect(lambda: self.set_overlay_visible(False))
        self.overlay.resetRequested.connect(self.reset_overlay_position)
        self.overlay.clickThroughChanged.connect(self._set_click_through_from_overlay)
        # The model never sees our own windows: excluded by the OS, or blanked in each grab (X11).
        self.own_windows = OwnWindows()
        self.capture_guard = CaptureGuard(self.own_windows, self)
        self.capture_guard.track(self)
        self.capture_guard.track(self.overlay)
        self.hotkeys: GlobalHotkeys | None = None
        self.hotkeyPressed.connect(self._hotkey)
        self._start_hotkeys()
        self.outputs: LiveOutputs | None = None  # the outputs for OBS (Settings › OBS)
        self.obs_label = QLabel(objectName="obsStatus")
        self.obs_label.hide()
        self.status.addPermanentWidget(self.obs_label)
        self.obsStatus.connect(self._show_obs_status)
        self._start_outputs()
        self.source.load_settings(self.settings.capture)
        self.query.setText(self.settings.commentary.query)
        self.model_panel.refresh(self._local_choice())
        self.voice_action.setChecked(self.settings.voice.enabled)
        self.click_through_action.setChecked(self.settings.overlay.click_through)
        for warning in loaded.warnings:
            self.show_banner(warning, "warn")
        self._set_running(False)

    def _connect(self) -> None:
        br = self.bridge
        br.engineState.connect(self._engine_state)
        br.loaded.connect(self._loaded)
        br.engineError.connect(self._engine_error)
        br.engineDied.connect(self._engine_died)
        br.engineEvent.connect(self._engine_event)
        br.stats.connect(self.status.show_stats)
        br.preview.connect(self._show_preview)
        br.warning.connect(lambda text: self.show_banner(text, "warn"))
        br.sessionFinished.connect(self._session_finished)
        self.model_panel.loadRequested.connect(self.load_model)
        self.model_panel.restartRequested.connect(br.restart)
        self.model_panel.tryRequested.connect(self.try_now)
        self.model_panel.models.currentIndexChanged.connect(self._model_chosen)
        self.demoReady.connect(self._demo_ready)
        self.demoFailed.connect(self._demo_failed)
        self.source.drawRegionRequested.connect(self._draw_region)
        self.query.returnPressed.connect(self._query_changed)
        self.question.returnPressed.connect(self._ask)
        self.speechProblem.connect(self._speech_problem)

    # -- engine --------------------------------------------------------------------------

    def _local_choice(self) -> ModelChoice | None:
        m = self.settings.model
        if not m.model_path:
            return None
        label = TINY_LABEL if is_demo_model(m.model_path) else Path(m.model_path).stem
        return ModelChoice(label, m.model_path, m.mmproj_path, m.catalog_id)

    def load_model(self, choice: ModelChoice | None = None) -> None:
        """Load ``choice`` (kept as the chosen pair), or, with Settings › Engine › Remote server,
        connect to that llama-server: it has the model, so no local pair is needed."""
        if choice is not None:
            self.settings = self.settings.replace(
                "model", model_path=choice.text_path, mmproj_path=choice.mmproj_path, catalog_id=choice.catalog_id
            )
            self.save_settings()
        elif not self.settings.engine.remote:
            return
        self.banner_box.hide()
        try:
            request = engine_load(self.settings, self.current_query())
        except LiveCCError as exc:  # a server URL that is no address
            self._start_when_ready = False
            self.show_banner(str(exc), "error", cause="load_failed")
            return
        self.bridge.load(request)

    def _loaded_is_stale(self, loaded: Load, choice: ModelChoice | None) -> bool:
        """True when the engine runs something other than what the settings and the picker ask for."""
        if self.settings.engine.remote:
            try:
                return loaded.server != remote_target(self.settings)
            except LiveCCError:
                return True
        if loaded.server is not None:
            return True
        return choice is not None and loaded.model_path != choice.text_path

    def current_query(self) -> str:
        return self.query.text().strip() or self.settings.commentary.query

    # -- review -----------------------------------------------------------------------

    def _load_for_review(self) -> bool:
        """Load the chosen model for the Review tab; false when none is chosen."""
        choice = self.model_panel.current() or self._local_choice()
        if choice is None and not self.settings.engine.remote:
            return False
        if self.bridge.state is not EngineState.LOADING:
            self.load_model(choice)
        return True

    def _tab_changed(self, index: int) -> None:
        reviewing = self.tabs.widget(index) is self.review_holder
        if reviewing:
            self.ensure_review()
        # The Live tab's toolbar and status line are about live commentary: out of Review's way.
        toolbar = self.findChild(QToolBar, "mainToolbar")
        if toolbar is not None:
            toolbar.setVisible(not reviewing)
        self.status.setVisible(not reviewing)

    def ensure_review(self):
        """The review view, built on first use."""
        if self.review is None:
            from ui.review.view import ReviewView

            self.review = ReviewView(
                self.bridge,
                load_model=self._load_for_review,
                query=self.current_query,
                max_pixels=self.settings.model.max_pixels,
            )
            self.review.apply_review_settings(self.settings.review)
            self.review.prefs.changed.connect(self._review_settings_changed)
            self.review_holder.layout().addWidget(self.review)
            self.review.show()  # a child added to a shown window stays hidden until shown
        return self.review

    def _review_settings_changed(self, review: ReviewSettings) -> None:
        """The Review tab's player controls changed: keep them for the next time (written to disk
        once the volume slider rests, not at every step of a drag; closing saves them too)."""
        self.settings = dataclasses.replace(self.settings, review=review)
        self._review_save.start()

    def _review_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Review a video", "", "Videos (*.mp4 *.mkv *.mov *.avi *.webm);;All files (*)"
        )
        if path:
            self.tabs.setCurrentWidget(self.review_holder)
            self.ensure_review().open_video(path)

    def _engine_state(self, state: EngineState, detail: str) -> None:
        self.model_panel.show_engine_state(state, detail)
        if state is EngineState.LOADING:
            what = "Connecting to" if detail.startswith("llama-server") else "Loading model"
            self.status.set_state(f"{what} {detail}…", "busy")
        elif state is EngineState.READY and not self.running:
            self.status.set_state("Ready: press Start (F5)", "idle")
        self.start_action.setEnabled(state is not EngineState.LOADING or self.running)

    def _loaded(self, loaded: Loaded) -> None:
        self.clear_banner("no_model", "load_failed", "engine_died")
        remote = self.bridge.host.last_load is not None and self.bridge.host.last_load.server is not None
        # A server's device is its own business: say where it is, not "CPU".
        self.status.set_device(loaded.device, None if remote else loaded.gpu)
        if self._start_when_ready:
            self._start_when_ready = False
            self.start()

    def _engine_error(self, failed: EngineFailed) -> None:
        self._start_when_ready = False
        self.show_banner(
            failed.message,
            "error",
            restart=failed.during == "load",
            cause="load_failed" if failed.during == "load" else "",
        )
        if failed.during == "load":
            self.status.set_state("The model could not be loaded", "error")

    def _engine_died(self, died: EngineDied) -> None:
        self._start_when_ready = False
        detail = f"\n{died.log_tail}" if died.log_tail else ""
        self.show_banner(
            f"The engine stopped: {died.reason}. The transcript is kept; restart the engine to go on.{detail}",
            "error",
            restart=True,
            cause="engine_died",
        )
        self.status.set_state("Engine stopped", "error")

    # -- running ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        session = self.bridge.session
        return session is not None and session.running

    def toggle_running(self) -> None:
        self.stop() if self.running else self.start()

    def start(self) -> None:
        if self.running:
            return
        choice = self.model_panel.current()
        remote = self.settings.engine.remote
        loaded = self.bridge.host.last_load
        if (
            self.bridge.state is EngineState.READY
            and loaded is not None
            and (choice is not None or remote)
            and self._loaded_is_stale(loaded, choice)
        ):
            self._start_when_ready = True  # another model or server was chosen since: load it first
            self.load_model(choice)
            return
        if self.bridge.state is not EngineState.READY:
            if choice is None and not remote:
                self.show_banner(
                    "Choose a model first: open a GGUF pair, download one, or press Try it now "
                    "(a tiny test model, no download).",
                    "warn",
                    cause="no_model",
                )
                return
            self._start_when_ready = True
            if self.bridge.state is not EngineState.LOADING:
                self.load_model(choice)
            return
        try:
            source = self.source.build_source(self.settings.capture.capture_fps)
            if isinstance(source, LiveSource):
                source.own_windows = self.own_windows
            folder = transcripts_folder(self.settings.capture)
            folder.mkdir(parents=True, exist_ok=True)
            name = f"{dt.datetime.now():%Y-%m-%d_%H-%M-%S}_{self.source.current_kind}.jsonl"
            session = self.bridge.start_session(
                source,
                query=self.query.text().strip() or self.settings.commentary.query,
                transcript_path=folder / name,
                max_pixels=self.settings.model.max_pixels,
            )
        except (LiveCCError, OSError) as exc:
            self.show_banner(str(exc), "error")
            return
        self.banner_box.hide()
        self.settings = self.settings.replace("capture", **self.source.to_settings(self.settings.capture))
        self.save_settings()
        self.transcript.begin_session(f"— {dt.datetime.now():%H:%M:%S} · {self.source.describe()} —")
        self.status.reset_stats()
        self.status.set_state(
            f"● Live · {self.source.describe()}" if source.is_live else f"● Commentating {self.source.describe()}",
            "live",
        )
        self._session_file = session.transcript_path
        self._set_running(True)

    def stop(self) -> None:
        self._start_when_ready = False
        self.bridge.stop_session()
        if self.speaker is not None:
            self.speaker.clear()

    def _set_running(self, running: bool) -> None:
        self.start_action.setText("Stop" if running else "Start")
        self.start_action.setProperty("running", running)
        self.start_button.setProperty("running", running)
        self.start_button.style().polish(self.start_button)
        self.source.setEnabled(not running)
        self.model_panel.setEnabled(not running)

    def _session_finished(self, ended: SessionEnded) -> None:
        self._set_running(False)
        self.preview.set_idle()
        if ended.reason in ("source_failed", "error"):
            self.show_banner(ended.message, "error")
        resume_at = self.transcript.session_position  # None: this session finished no second
        if ended.reason == "engine_died" and self.source.current_kind == "file" and resume_at is not None:
            self.source.start_at.setValue(resume_at)
        saved = f" · transcript saved: {ended.transcript_path.name}" if ended.transcript_path else ""
        kind = "error" if ended.reason in ("source_failed", "error", "engine_died") else "idle"
        self.status.set_state(f"{ended.message}{saved}", kind)

    def _engine_event(self, event: object) -> None:
        self.transcript.handle_event(event)
        self.overlay.handle_event(event)
        if self.outputs is not None:
            try:
                self.outputs.handle(event)
            except LiveCCError as exc:  # the captions file could not be written; the rest go on
                self.show_banner(str(exc), "error")
        if isinstance(event, ChunkDone) and not event.silent and self.speaker is not None:
            self.speaker.say(event.text)

    def _show_preview(self, image, t: float) -> None:
        self.preview.show_image(image, clock(t))
        self.bridge.preview_shown()

    def _query_changed(self) -> None:
        query = self.query.text().strip()
        if query:
            self.bridge.set_query(query)
            self.settings = self.settings.replace("commentary", query=query)
            self.save_settings()
            self.status.showMessage("The next second is commentated with the new instruction.", 4000)

    def _ask(self) -> None:
        question = self.question.text().strip()
        if question and self.bridge.ask(question):
            self.transcript.add_note(f"Q: {question}")
            self.question.clear()
        elif question:
            self.status.showMessage("Load a model first to ask questions.", 4000)

    # -- settings ------------------------------------------------------------------------

    def open_settings(self) -> None:
        voices = [(v.id, v.name) for v in self.speaker.voices()] if self.speaker is not None else []
        from app.device_probe import probe_gpus

        dialog = SettingsDialog(self.settings, voices, self, gpus=probe_gpus())
        if dialog.exec():
            self.apply_settings(dialog.result_settings())

    def apply_settings(self, settings: Settings) -> None:
        previous = self.settings
        self.settings = settings
        if settings.hotkeys != previous.hotkeys:
            self._start_hotkeys()
        self.overlay.apply_settings(settings.overlay)
        if settings.obs != previous.obs or (settings.overlay.lines != previous.overlay.lines):
            self._start_outputs()
        elif self.outputs is not None:
            self.outputs.set_style(settings.overlay)
        self.click_through_action.setChecked(settings.overlay.click_through)
        v = settings.voice
        if self.speaker is not None:
            self.speaker.configure(
                rate=v.rate,
                volume=v.volume,
                voice_id=v.voice_id,
                max_delay_s=v.max_delay_s,
                output_device=v.output_device,
            )
        if self.voice_action.isChecked() != v.enabled:
            self.voice_action.setChecked(v.enabled)
            self._set_voice(v.enabled)
        self.save_settings()

    def save_settings(self) -> None:
        try:
            self.store.save(self.settings)
        except OSError as exc:
            self.status.showMessage(f"Settings could not be saved: {exc}", 6000)

    # -- misc ------------------------------------------------------------------------------

    def show_banner(self, text: str, level: str = "warn", restart: bool = False, cause: str = "") -> None:
        """Show ``text`` above the preview; ``cause`` names what it is about, for :meth:`clear_banner`."""
        (log.error if level == "error" else log.warning)("banner: %s", text)
        self._banner_cause = cause
        self.banner.setText(text)
        self.banner_box.setProperty("level", level)
        self.banner_box.style().polish(self.banner_box)
        self.banner_restart.setVisible(restart)
        self.banner_box.show()

    def clear_banner(self, *causes: str) -> None:
        """Hide the banner if it is about one of ``causes`` (its cause is gone)."""
        if self._banner_cause and self._banner_cause in causes:
            self._banner_cause = ""
            self.banner_box.hide()

    def _model_chosen(self) -> None:
        if self.model_panel.current() is not None:
            self.clear_banner("no_model")

    # -- try it now ------------------------------------------------------------------------

    def try_now(self) -> None:
        """Make the tiny model and a sample clip (a worker thread), then load them and commentate the clip."""
        if self.running or self._preparing_demo:
            return
        self._preparing_demo = True
        self.model_panel.try_button.setEnabled(False)
        self.status.set_state("Making a tiny test model and a sample clip…", "busy")

        def work() -> None:
            try:
                files = demo_files()
            except Exception as exc:  # a full disk or a read-only cache: said in a banner
                log.exception("Try it now failed")
                self.demoFailed.emit(str(exc) or type(exc).__name__)
            else:
                self.demoReady.emit(files)

        threading.Thread(target=work, name="try-it-now", daemon=True).start()

    def _demo_ready(self, files: DemoFiles) -> None:
        self._preparing_demo = False
        self.model_panel.try_button.setEnabled(True)
        self.model_panel.select(ModelChoice(TINY_LABEL, str(files.text_path), str(files.mmproj_path)))
        self.source.set_kind("file")
        self.source.file_path.setText(str(files.clip))
        self.source.start_at.setValue(0.0)
        self.transcript.add_note(
            f"{NOISE_NOTICE} For real commentary, pick LiveCC under the model list and press Download."
        )
        self.start()

    def _demo_failed(self, message: str) -> None:
        self._preparing_demo = False
        self.model_panel.try_button.setEnabled(True)
        self.status.set_state("Try it now failed", "error")
        self.show_banner(
            f"The tiny test model could not be made: {message}. Check that the cache folder "
            "has space and can be written, then press Try it now again.",
            "error",
        )

    def _draw_region(self) -> None:
        self._region_selector = RegionSelector(self)
        self._region_selector.selected.connect(self.source.set_region)
        self._region_selector.start()

    def _open_video(self) -> None:
        self.source.set_kind("file")
        self.source.choose_file()

    def _show_transcripts_folder(self) -> None:
        folder = transcripts_folder(self.settings.capture)
        QMessageBox.information(self, "Transcripts", f"Transcripts are saved continuously in\n{folder}")

    def export(self, fmt: str) -> Path | None:
        if not self.transcript.chunks:
            self.status.showMessage("Nothing to export yet.", 4000)
            return None
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export the transcript as {fmt.upper()}", f"commentary.{fmt}", f"{fmt.upper()} (*.{fmt})"
        )
        if not path:
            return None
        try:
            out = export_transcript(self.transcript.chunks, path, fmt)
        except LiveCCError as exc:
            self.show_banner(str(exc), "error")
            return None
        self.status.showMessage(f"Exported {out}", 6000)
        return out

    def clear_transcript(self) -> None:
        self.transcript.clear_all()
        self.overlay.clear()
        if self.outputs is not None:
            self.outputs.clear()

    def closeEvent(self, event) -> None:
        if self.hotkeys is not None:
            self.hotkeys.stop()
            self.hotkeys = None
        self.settings = self.settings.replace(
            "commentary", query=self.query.text().strip() or self.settings.commentary.query
        )
        self.save_settings()
        self.overlay.close()
        if self.outputs is not None:
            self.outputs.close()
            self.outputs = None
        if self.speaker is not None:
            self.speaker.close()
        if self.review is not None:
            self.review.shutdown()
        self.bridge.shutdown()
        super().closeEvent(event)
