"""What runs beside a live session: the overlay, the voice, the outputs for OBS, the global hotkeys.

A part of the main window (a mixin, as ``ui/main_layout.py`` is): each of these
follows the settings, reports a problem as one banner line, and is switched by an
action the user can also reach with a global hotkey. Kept apart so the window
itself reads as: pick a source and a model, start, watch.
"""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication

from app.hotkeys import ACTIONS, GlobalHotkeys
from app.sinks.live_outputs import LiveOutputs
from app.sinks.obs import ObsState, ObsStatus
from models.errors import LiveCCError


class LiveCompanions:
    """Overlay, voice, OBS outputs and hotkeys; mixed into :class:`ui.main_window.MainWindow`."""

    def set_overlay_visible(self, visible: bool) -> None:
        """Switch the overlay on or off; on, it shows as soon as there is commentary."""
        self.overlay_action.setChecked(visible)
        if visible and not self.overlay.wanted:
            screen = self.screen() or self.overlay.screen()
            self.overlay.place_on(screen, self.settings.overlay.positions, avoid=self.frameGeometry())
        self.overlay.set_wanted(visible)
        self.settings = self.settings.replace("overlay", visible=visible)

    def reset_overlay_position(self) -> None:
        self.overlay.reset_position(avoid=self.frameGeometry())

    def _overlay_moved(self, screen_name: str, geometry: tuple) -> None:
        positions = dict(self.settings.overlay.positions)
        positions[screen_name] = tuple(geometry)
        self.settings = self.settings.replace("overlay", positions=positions)

    def _set_click_through_from_overlay(self, on: bool) -> None:
        self.click_through_action.setChecked(on)  # setChecked does not trigger the action
        self.settings = self.settings.replace("overlay", click_through=on)

    def _set_click_through(self, on: bool) -> None:
        if self.overlay.click_through != on:
            self.overlay.set_click_through(on, emit=False)
        self.settings = self.settings.replace("overlay", click_through=on)

    def _set_voice(self, on: bool) -> None:
        self.settings = self.settings.replace("voice", enabled=on)
        if on and self.speaker is not None and self.speaker.available is False:
            self.speaker.close()  # it gave up (no device): switching Voice on again tries afresh
            self.speaker = None
        if on and self.speaker is None:
            v = self.settings.voice
            self.speaker = self._speaker_factory(
                self.speechProblem.emit,
                rate=v.rate,
                volume=v.volume,
                voice_id=v.voice_id,
                max_delay_s=v.max_delay_s,
                output_device=v.output_device,
            )
        elif not on and self.speaker is not None:
            self.speaker.clear()

    def _speech_problem(self, text: str) -> None:
        self.show_banner(text, "warn")
        self.voice_action.setChecked(False)
        self.settings = self.settings.replace("voice", enabled=False)

    def _start_outputs(self) -> None:
        """(Re)start the outputs switched on in Settings › OBS; a problem is one banner line."""
        if self.outputs is not None:
            self.outputs.close()
            self.outputs = None
        self.obs_label.hide()
        try:
            outputs = LiveOutputs(self.settings.obs, self.settings.overlay, on_obs_status=self.obsStatus.emit)
        except LiveCCError as exc:
            self.show_banner(str(exc), "error")
            return
        self.outputs = outputs if outputs.active else None
        if outputs.server is not None:
            self.status.showMessage(f"Overlay page for OBS: {outputs.server.url}", 8000)

    def _show_obs_status(self, state: ObsState) -> None:
        if state.status is ObsStatus.STOPPED or self.outputs is None or self.outputs.obs is None:
            self.obs_label.hide()
            return
        self.obs_label.setText(f"OBS: {state.status.value}")
        self.obs_label.setToolTip(state.message)
        self.obs_label.show()

    def _start_hotkeys(self) -> None:
        """(Re)register the global hotkeys of Settings › Hotkeys; keys taken elsewhere are one banner."""
        if self.hotkeys is not None:
            self.hotkeys.stop()
            self.hotkeys = None
        h = self.settings.hotkeys
        # Only where the OS routes keys through a grab we can make: X11 (xcb) and Windows.
        if not h.enabled or QGuiApplication.platformName() not in ("xcb", "windows"):
            return
        self.hotkeys = GlobalHotkeys({name: getattr(h, name) for name in ACTIONS}, self.hotkeyPressed.emit)
        self.hotkeys.start()
        if self.hotkeys.problems:
            self.show_banner("Global hotkeys: " + "; ".join(self.hotkeys.problems), "warn")

    def _hotkey(self, name: str) -> None:
        action = {
            "start_stop": self.start_action,
            "overlay": self.overlay_action,
            "click_through": self.click_through_action,
            "voice": self.voice_action,
        }[name]
        if action.isEnabled():
            action.trigger()
