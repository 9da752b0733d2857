"""``commentate``'s outputs for OBS: its flags as :class:`app.settings.ObsSettings`, started before the model.

Everything a flag can get wrong (a port in use, a token missing, a malformed
OBS address, an unset password variable, a refused password) stops the run
with one line before minutes of model loading. An OBS that is simply not
running yet is a warning: the sink keeps retrying while the video runs.
"""

from __future__ import annotations

import os
import sys

from app.errors import StreamOutputError
from app.settings import ObsSettings, OverlaySettings
from app.sinks.live_outputs import LiveOutputs
from app.sinks.obs import ObsState, ObsStatus
from app.sinks.overlay_server import parse_listen_address

FIRST_CONTACT_S = 5.0  # how long to wait for OBS's answer before the model loads


def obs_settings_from_args(args) -> tuple[ObsSettings, str | None]:
    """The flags as settings, and the page's interface when ``--overlay-server`` names one."""
    host = None
    port = ObsSettings().overlay_port
    if args.overlay_server is not None:
        host, port = parse_listen_address(args.overlay_server)
    if args.overlay_token and args.overlay_server is None:
        raise StreamOutputError("--overlay-token needs --overlay-server.")
    password = ""
    if args.obs_password_env:
        if args.obs is None:
            raise StreamOutputError("--obs-password-env needs --obs.")
        if args.obs_password_env not in os.environ:
            raise StreamOutputError(f"--obs-password-env: the environment variable {args.obs_password_env} is not set.")
        password = os.environ[args.obs_password_env]
    settings = ObsSettings(
        overlay_server=args.overlay_server is not None,
        overlay_port=port,
        lan_token=args.overlay_token or "",
        websocket=args.obs is not None,
        url=args.obs or ObsSettings().url,
        password=password,
        source_name=args.obs_source,
        stream_captions=args.obs_captions,
        captions_file=str(args.captions_file) if args.captions_file else "",
    )
    return settings, host


def start_stream_outputs(args) -> LiveOutputs | None:
    """The outputs the flags ask for, started (``None`` when none is asked for)."""
    settings, host = obs_settings_from_args(args)
    if not (settings.overlay_server or settings.websocket or settings.captions_file):
        return None
    reporter = _Reporter()
    outputs = LiveOutputs(settings, OverlaySettings(), overlay_host=host, on_obs_status=reporter)
    try:
        if outputs.server is not None:
            print(f"overlay: {outputs.server.url} (add it to OBS as a Browser Source)", file=sys.stderr)
        if outputs.obs is not None:
            state = outputs.obs.wait_first_attempt(FIRST_CONTACT_S)
            if state.status is ObsStatus.WRONG_PASSWORD:
                raise StreamOutputError(state.message)
            reporter.first_contact_done = True
    except BaseException:
        outputs.close()
        raise
    return outputs


class _Reporter:
    """One stderr line per change of the OBS connection (called from the sink's thread).

    Retries alternate "connecting" and the failure; only a change of outcome is printed. A
    refused password at first contact is the run's error line, so it is not printed here too.
    """

    def __init__(self) -> None:
        self.first_contact_done = False
        self._last: ObsStatus | None = None

    def __call__(self, state: ObsState) -> None:
        status = state.status
        lost = status is ObsStatus.CONNECTING and state.message.startswith("Lost")
        if status is ObsStatus.STOPPED or (status is ObsStatus.CONNECTING and not lost) or status is self._last:
            return
        if status is ObsStatus.WRONG_PASSWORD and not self.first_contact_done:
            return
        self._last = status
        if status is ObsStatus.CONNECTED:
            print("obs: connected" + (f"; {state.message}" if state.message else ""), file=sys.stderr)
        else:
            print(f"warning: {state.message}", file=sys.stderr)
