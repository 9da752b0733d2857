"""Commentary pushed into OBS Studio over obs-websocket v5: a text source, and stream captions.

OBS 28 and later carry obs-websocket 5. The protocol is spoken by ``obsws-python``
(a maintained, synchronous client), from one background thread that owns the
connection: the engine's event path only drops the newest text into a one-slot
mailbox and returns, so a slow, dead or restarting OBS never delays commentary.
When the worker gets to it, OBS receives the newest text; intermediate texts
are skipped (a text source shows only the latest anyway).

What is sent:
- the last lines of commentary as the ``text`` of a text source (``SetInputSettings``);
  when asked, the source is created in the current scene (``CreateInput``) with the
  platform's text kind;
- optionally each finished chunk as a CEA-608 caption (``SendStreamCaption``), which
  OBS accepts only while streaming: "not streaming" is expected, not an error.

The connection is retried with back-off (0.5 s doubling to 10 s) for as long as
the sink runs; after a reconnect the current text is sent again, so an OBS that
was restarted catches up. :attr:`ObsSink.state` says where it stands, for a
status indicator, with one clear message for a refused password and for an OBS
that cannot be reached.
"""

from __future__ import annotations

import enum
import logging
import platform
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from app.errors import StreamOutputError
from models.engine.records import ChunkDone

from .caption_lines import CaptionLines
from .voice import is_silence

DEFAULT_URL = "ws://127.0.0.1:4455"  # obs-websocket's default address
DEFAULT_SOURCE = "LiveCC commentary"
BACKOFF_S = (0.5, 10.0)  # first retry, longest wait between retries
REFUSED_RETRY_S = 1.0  # seconds before the text OBS refused is sent again
IDLE_PING_S = 5.0  # with nothing to send, check OBS is still there this often
MAX_CAPTION_CHARS = 200  # CEA-608 shows 32 characters a row; older pending caption text is dropped

# obsws-python logs every failed attempt with a traceback (and its connection parameters,
# password included, at INFO): the sink reports problems through its state instead.
logging.getLogger("obsws_python").setLevel(logging.CRITICAL)

_NOT_FOUND = 600  # obs-websocket RequestStatus::ResourceNotFound
_NOT_RUNNING = 501  # RequestStatus::OutputNotRunning: SendStreamCaption while not streaming


def text_source_kind(system: str | None = None) -> str:
    """OBS's text source kind on ``system`` (this one by default): GDI+ on Windows, FreeType 2 elsewhere."""
    return "text_gdiplus_v3" if (system or platform.system()) == "Windows" else "text_ft2_source_v2"


class ObsStatus(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    WRONG_PASSWORD = "wrong password"
    UNREACHABLE = "unreachable"
    STOPPED = "stopped"


@dataclass(frozen=True)
class ObsState:
    """Where the OBS connection stands; ``message`` is one line for the user (empty when all is well)."""

    status: ObsStatus
    message: str = ""


def parse_obs_url(url: str) -> tuple[str, int]:
    """``ws://HOST:PORT`` (or ``HOST:PORT``, ``HOST``) as ``(host, port)``; port 4455 when omitted."""
    text = url.strip()
    parts = urlsplit(text if "://" in text else f"ws://{text}")
    if parts.scheme == "wss":
        raise StreamOutputError(f"Bad OBS address {url!r}: OBS's WebSocket server has no TLS; use ws://.")
    try:
        port = 4455 if parts.port is None else parts.port
    except ValueError:
        port = -1
    if parts.scheme != "ws" or not parts.hostname or not 0 < port <= 65535 or parts.path not in ("", "/"):
        raise StreamOutputError(f"Bad OBS address {url!r}: give ws://HOST:PORT, e.g. {DEFAULT_URL}.")
    return parts.hostname, port


class ObsSink:
    """Keeps an OBS text source (and, optionally, the stream's captions) showing the commentary.

    Args:
        url: obs-websocket's address, ``ws://HOST:PORT``.
        password: the server password from OBS (Tools › WebSocket Server Settings); "" for none.
        source: the text source's name in OBS.
        create_source: create ``source`` in the current scene when OBS has no input of that name.
        captions: also send finished chunks as stream captions (while OBS is streaming).
        lines, width: how many lines of how many characters the text source shows.
        on_status: called (from the sink's thread) whenever :attr:`state` changes.
        timeout_s: how long one connection attempt or request may take.

    A malformed ``url`` raises :class:`app.errors.StreamOutputError` at once; everything
    later (OBS down, password refused) is reported through :attr:`state` while retrying.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        password: str = "",
        source: str = DEFAULT_SOURCE,
        *,
        create_source: bool = True,
        captions: bool = False,
        lines: int = 2,
        width: int = 42,
        on_status: Callable[[ObsState], None] | None = None,
        timeout_s: float = 3.0,
    ) -> None:
        self.host, self.port = parse_obs_url(url)
        self.url = f"ws://{self.host}:{self.port}"
        if not source.strip():
            raise StreamOutputError("The OBS text source needs a name.")
        self.password, self.source = password, source
        self.create_source, self.captions = create_source, captions
        self.timeout_s = timeout_s
        self._on_status = on_status
        self._lines = CaptionLines(lines, width)
        self._cond = threading.Condition()
        self._text: str | None = None  # newest text not yet sent (None: nothing new)
        self._caption = ""  # finished commentary not yet sent as captions
        self._stop = False
        self._state = ObsState(ObsStatus.CONNECTING, f"Connecting to OBS at {self.url}…")
        self._attempted = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None  # obsws_python.ReqClient while connected (the library is untyped)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ObsSink:
        self._thread = threading.Thread(target=self._run, name="obs-websocket", daemon=True)
        self._thread.start()
        return self

    def wait_first_attempt(self, timeout_s: float | None = None) -> ObsState:
        """The state after the first connection attempt (or now, if ``timeout_s`` passes first)."""
        self._attempted.wait(timeout_s)
        return self.state

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 2)
            self._thread = None
        self._set_state(ObsState(ObsStatus.STOPPED))

    def __enter__(self) -> ObsSink:
        return self.start() if self._thread is None else self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def state(self) -> ObsState:
        with self._cond:
            return self._state

    # -- feeding (engine thread) -----------------------------------------------------------

    def handle(self, event: object) -> None:
        """Take one engine record; returns at once (the newest text waits for the sink's thread)."""
        with self._cond:
            changed = self._lines.handle(event)
            if changed:
                self._text = self._lines.text
            if self.captions and isinstance(event, ChunkDone) and not is_silence(event.text):
                self._caption = f"{self._caption} {event.text.strip()}".strip()[-MAX_CAPTION_CHARS:]
                changed = True
            if changed:
                self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._lines.clear()
            self._text = ""
            self._cond.notify_all()

    # -- the sink's thread -----------------------------------------------------------------

    def _run(self) -> None:
        delay = BACKOFF_S[0]
        while True:  # leaves through the wait below, after sending the last text, or when offline
            if self._client is None:
                if self._stopped():
                    break
                if self._connect():
                    delay = BACKOFF_S[0]
                    with self._cond:
                        self._text = self._lines.text  # a restarted OBS gets the current text
                else:
                    self._attempted.set()
                    with self._cond:
                        self._cond.wait_for(lambda: self._stop, delay)
                    delay = min(delay * 2, BACKOFF_S[1])
                    continue
                self._attempted.set()
            with self._cond:
                self._cond.wait_for(lambda: self._stop or self._text is not None or bool(self._caption), IDLE_PING_S)
                stopping = self._stop
                text, caption = self._text, self._caption
                self._text, self._caption = None, ""
            if stopping:  # the run's last words still reach OBS
                try:
                    if text is not None:
                        self._set_text(text)
                    if caption:
                        self._send_caption(caption)
                except Exception:  # noqa: BLE001 - best effort on the way out
                    pass
                break
            try:
                if text is None and not caption:
                    self._client.send("GetVersion")  # idle: is OBS still there?
                if text is not None:
                    self._set_text(text)
                if caption:
                    self._send_caption(caption)
            except Exception as exc:  # noqa: BLE001 - any failure of the socket means reconnect
                if _request_code(exc) is not None:
                    # A refusal can be passing (a source OBS is still creating): keep the newest text
                    # for another try a moment later rather than leave OBS showing an old line.
                    self._set_state(ObsState(ObsStatus.CONNECTED, f"OBS refused the text: {exc}"))
                    with self._cond:
                        if self._text is None and text is not None:
                            self._text = text
                        self._cond.wait_for(lambda: self._stop, REFUSED_RETRY_S)
                    continue
                self._drop_client()
                with self._cond:
                    if self._text is None and text is not None:
                        self._text = text
                self._set_state(ObsState(ObsStatus.CONNECTING, f"Lost OBS at {self.url}; reconnecting…"))
        self._drop_client()

    def _connect(self) -> bool:
        import obsws_python as obs

        self._set_state(ObsState(ObsStatus.CONNECTING, f"Connecting to OBS at {self.url}…"))
        try:
            client = obs.ReqClient(host=self.host, port=self.port, password=self.password, timeout=self.timeout_s)
        except obs.error.OBSSDKError:
            # Raised only after OBS said hello: it asked for a password and closed on ours.
            what = "refused the password" if self.password else "asks for a password"
            self._set_state(
                ObsState(
                    ObsStatus.WRONG_PASSWORD,
                    (
                        f"OBS at {self.url} {what}: copy it from OBS's Tools › WebSocket Server Settings › "
                        "Show Connect Info."
                    ),
                )
            )
            return False
        except Exception:  # noqa: BLE001 - refused, timed out, not a WebSocket server: all "unreachable"
            self._set_state(
                ObsState(
                    ObsStatus.UNREACHABLE,
                    (
                        f"OBS is not reachable at {self.url}: start OBS and turn on Tools › WebSocket Server "
                        "Settings › Enable WebSocket server (retrying)."
                    ),
                )
            )
            return False
        self._client = client
        try:
            problem = self._ensure_source()
        except Exception:  # noqa: BLE001
            self._drop_client()
            self._set_state(ObsState(ObsStatus.CONNECTING, f"Lost OBS at {self.url}; reconnecting…"))
            return False
        self._set_state(ObsState(ObsStatus.CONNECTED, problem))
        return True

    def _ensure_source(self) -> str:
        """Find (or create) the text source; a message when it cannot show text, else ""."""
        try:
            found = self._client.send("GetInputSettings", {"inputName": self.source}, raw=True)
        except Exception as exc:
            if _request_code(exc) != _NOT_FOUND:
                raise
            if not self.create_source:
                return f"OBS has no source named {self.source!r}: add a Text source with that name."
            scene = self._client.send("GetCurrentProgramScene", raw=True)["currentProgramSceneName"]
            self._client.send(
                "CreateInput",
                {
                    "sceneName": scene,
                    "inputName": self.source,
                    "inputKind": text_source_kind(),
                    "inputSettings": {"text": self._lines.text},
                    "sceneItemEnabled": True,
                },
                raw=True,
            )
            return ""
        if not str(found.get("inputKind", "")).startswith("text_"):
            return f"The OBS source {self.source!r} is not a text source: choose a Text source's name."
        return ""

    def _set_text(self, text: str) -> None:
        self._client.send(
            "SetInputSettings", {"inputName": self.source, "inputSettings": {"text": text}, "overlay": True}, raw=True
        )

    def _send_caption(self, caption: str) -> None:
        try:
            self._client.send("SendStreamCaption", {"captionText": caption}, raw=True)
        except Exception as exc:
            if _request_code(exc) != _NOT_RUNNING:  # not streaming: captions have nowhere to go
                raise

    def _drop_client(self) -> None:
        if self._client is not None:
            _close_quietly(self._client.base_client)
            self._client = None

    def _stopped(self) -> bool:
        with self._cond:
            return self._stop

    def _set_state(self, state: ObsState) -> None:
        with self._cond:
            if state == self._state:
                return
            self._state = state
        if self._on_status is not None:
            self._on_status(state)


def _request_code(exc: BaseException) -> int | None:
    """obs-websocket's status code when ``exc`` is a refused request (the connection is fine)."""
    from obsws_python.error import OBSSDKRequestError

    return exc.code if isinstance(exc, OBSSDKRequestError) else None


def _close_quietly(base: object) -> None:
    try:
        base.ws.close(timeout=0.5)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001
        pass
