"""The outputs a streamer turns on for OBS, started and fed as one: page, OBS text source, captions file.

The desktop app (Settings › OBS) and the CLI (``--overlay-server``, ``--obs``,
``--captions-file``) describe them with the same :class:`app.settings.ObsSettings`;
this module starts what is switched on, feeds each engine record to all of
them, and stops them. Nothing here blocks the caller for long: the page is
served from its own threads and OBS is spoken to from the sink's own thread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from app.errors import OutputError

from .captions_file import CaptionsFile
from .obs import ObsSink, ObsState
from .overlay_page import PageStyle
from .overlay_server import LOOPBACK, OverlayServer

if TYPE_CHECKING:
    from app.settings import ObsSettings, OverlaySettings

ALL_INTERFACES = "0.0.0.0"


class LiveOutputs:
    """The switched-on outputs of ``obs``; feed with :meth:`handle`, end with :meth:`close`.

    Args:
        obs: what to start.
        overlay: the overlay window's look, used by the page and for the number of lines.
        overlay_host: the page's interface, when the CLI names one (else loopback, or every
            interface with ``obs.lan_access``).
        on_obs_status: called from the OBS sink's thread whenever its state changes.

    Raises :class:`app.errors.StreamOutputError` / ``OutputError`` with one line when an output
    cannot start (port in use, no token for LAN access, bad OBS address, captions folder missing);
    whatever had started is stopped again.
    """

    def __init__(
        self,
        obs: ObsSettings,
        overlay: OverlaySettings,
        *,
        overlay_host: str | None = None,
        on_obs_status: Callable[[ObsState], None] | None = None,
    ) -> None:
        self.server: OverlayServer | None = None
        self.obs: ObsSink | None = None
        self.captions: CaptionsFile | None = None
        try:
            if obs.overlay_server:
                host = overlay_host or (ALL_INTERFACES if obs.lan_access else LOOPBACK)
                self.server = OverlayServer(
                    host, obs.overlay_port, obs.lan_token or None, PageStyle.from_settings(overlay)
                ).start()
            if obs.captions_file:
                self.captions = CaptionsFile(Path(obs.captions_file), lines=overlay.lines)
            if obs.websocket:
                self.obs = ObsSink(
                    obs.url,
                    obs.password,
                    obs.source_name,
                    create_source=obs.create_source,
                    captions=obs.stream_captions,
                    lines=overlay.lines,
                    on_status=on_obs_status,
                ).start()
        except BaseException:
            self.close()
            raise

    @property
    def active(self) -> bool:
        return any((self.server, self.obs, self.captions))

    def handle(self, event: object) -> None:
        """Give one engine record to every output (returns at once; OBS is fed from its own thread)."""
        if self.server is not None:
            self.server.handle(event)
        if self.obs is not None:
            self.obs.handle(event)
        if self.captions is not None:
            try:
                self.captions.handle(event)
            except OutputError:
                self.captions = None  # reported once (disk full, file removed); the rest go on
                raise

    def clear(self) -> None:
        for output in (self.server, self.obs, self.captions):
            if output is not None:
                output.clear()

    def set_style(self, overlay: OverlaySettings) -> None:
        if self.server is not None:
            self.server.set_style(PageStyle.from_settings(overlay))

    def close(self) -> None:
        if self.obs is not None:
            self.obs.close()
        if self.server is not None:
            self.server.close()
        self.server = self.obs = self.captions = None
