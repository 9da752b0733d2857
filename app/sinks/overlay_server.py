"""A local web server for OBS's Browser Source: the overlay page and its live event stream.

``GET /overlay`` is the page (:mod:`app.sinks.overlay_page`); ``GET /events`` is a
Server-Sent Events stream of what it shows: a snapshot on connect (so a source
that OBS reloads mid-stream shows the current text at once), then each decoded
delta, finished chunk and clear. SSE rather than WebSocket: it is plain HTTP,
the standard library serves it, and the browser's ``EventSource`` reconnects by
itself. The standard library's threading server is enough for the few clients
(OBS, a preview browser) one streamer has; nothing new to depend on.

Safety: it listens on 127.0.0.1 unless told otherwise. Loopback requests must
name a loopback host in their ``Host`` header, so a web page cannot reach the
server through DNS rebinding. Listening on any other interface (a second PC
running OBS) needs a token, which every request must carry as ``?token=``;
anything without it gets 403. Memory is bounded: each client has a bounded
queue, and a client too slow to drain it gets a fresh snapshot instead.

:meth:`OverlayServer.handle` is thread-safe and never blocks on a client.
"""

from __future__ import annotations

import errno
import hmac
import ipaddress
import json
import queue
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from app.errors import StreamOutputError
from models.engine.records import ChunkDone, ChunkStarted, CommentaryDelta

from .overlay_page import PageStyle, render_page
from .voice import is_silence

DEFAULT_PORT = 18765  # below every OS's ephemeral range; no common streaming tool uses it
LOOPBACK = "127.0.0.1"
MIN_TOKEN_CHARS = 8
MAX_CLIENTS = 32
CLIENT_QUEUE = 256  # messages waiting for one client before it is resynced with a snapshot
SNAPSHOT_WORDS = 200
KEEPALIVE_S = 15.0  # an SSE comment this often finds closed connections and keeps proxies open


def parse_listen_address(text: str) -> tuple[str, int]:
    """``"[HOST:]PORT"`` (``"8765"``, ``"0.0.0.0:8765"``, ``"[::1]:8765"``) as ``(host, port)``."""
    text = text.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = LOOPBACK, text
    host = host.strip("[]") or LOOPBACK
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise StreamOutputError(f"Bad overlay server address {text!r}: give [HOST:]PORT, e.g. 18765 or 0.0.0.0:18765.")
    return host, port


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def event_message(event: object) -> dict | None:
    """The page's message for one engine record (``None``: nothing to send)."""
    if isinstance(event, ChunkStarted):
        return {"type": "start"}
    if isinstance(event, CommentaryDelta):
        return {"type": "delta", "text": event.text}
    if isinstance(event, ChunkDone):
        return {"type": "done", "text": "" if is_silence(event.text) else event.text}
    return None


def _sse(message: dict) -> bytes:
    return b"data: " + json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n\n"


class _Hub:
    """What the page shows, and one bounded queue per connected page."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._words: deque[str] = deque(maxlen=SNAPSHOT_WORDS)
        self._current = ""
        self._changed = time.monotonic()
        self._clients: set[queue.Queue[bytes | None]] = set()
        self.closed = False

    def _snapshot(self) -> bytes:
        return _sse(
            {
                "type": "snapshot",
                "words": list(self._words),
                "current": self._current,
                "age": round(time.monotonic() - self._changed, 3),
            }
        )

    def subscribe(self) -> queue.Queue[bytes | None] | None:
        with self._lock:
            if self.closed or len(self._clients) >= MAX_CLIENTS:
                return None
            client: queue.Queue[bytes | None] = queue.Queue(CLIENT_QUEUE)
            client.put_nowait(self._snapshot())
            self._clients.add(client)
            return client

    def unsubscribe(self, client: queue.Queue[bytes | None]) -> None:
        with self._lock:
            self._clients.discard(client)

    @property
    def client_count(self) -> int:
        with self._lock:
            return len(self._clients)

    def publish(self, message: dict) -> None:
        with self._lock:
            kind = message["type"]
            if kind == "start":
                self._current = ""
            elif kind == "delta":
                self._current += message["text"]
            elif kind == "done":
                self._current = ""
                self._words.extend(message["text"].split())
            elif kind == "clear":
                self._current = ""
                self._words.clear()
            self._changed = time.monotonic()
            data = _sse(message)
            for client in self._clients:
                try:
                    client.put_nowait(data)
                except queue.Full:  # a stalled page: drop its backlog, send it the state instead
                    _drain(client)
                    client.put_nowait(self._snapshot())

    def close(self) -> None:
        with self._lock:
            self.closed = True
            for client in self._clients:
                _drain(client)
                client.put_nowait(None)


def _drain(client: queue.Queue) -> None:
    while True:
        try:
            client.get_nowait()
        except queue.Empty:
            return


class OverlayServer:
    """Serves the overlay page and streams commentary to it.

    Args:
        host: the interface to listen on; 127.0.0.1 unless a second machine must reach it.
        port: the TCP port (0 picks a free one: see :attr:`port`).
        token: required when ``host`` is not loopback; every request must then carry ``?token=``.
        style: the page's default look (URL parameters override it per source).

    :meth:`start` raises :class:`app.errors.StreamOutputError` with one clear line when the
    address is refused (port in use, no such interface, no token).
    """

    def __init__(
        self, host: str = LOOPBACK, port: int = DEFAULT_PORT, token: str | None = None, style: PageStyle | None = None
    ) -> None:
        token = token or None
        if not is_loopback(host) and token is None:
            raise StreamOutputError(
                f"Listening on {host} lets other machines see the overlay: set a token "
                f"(--overlay-token, or the LAN token in Settings › OBS)."
            )
        if token is not None and (len(token) < MIN_TOKEN_CHARS or not token.isprintable() or " " in token):
            raise StreamOutputError(f"The overlay token must be at least {MIN_TOKEN_CHARS} characters, without spaces.")
        self.host, self.token = host, token
        self._requested_port = port
        self._page = render_page(style or PageStyle())
        self._hub = _Hub()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> OverlayServer:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        server_class = type("_Server", (_HTTPServer,), {"address_family": family})
        try:
            httpd = server_class((self.host, self._requested_port), _Handler)
        except OSError as exc:
            raise StreamOutputError(_bind_failure(self.host, self._requested_port, exc)) from exc
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="overlay-server", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; open event streams end, and the browser source waits to reconnect."""
        self._hub.close()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OverlayServer:
        return self.start() if self._httpd is None else self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- feeding ---------------------------------------------------------------------------

    def handle(self, event: object) -> None:
        """Send one engine record to every connected page (thread-safe, never blocks on a page)."""
        message = event_message(event)
        if message is not None:
            self._hub.publish(message)

    def clear(self) -> None:
        self._hub.publish({"type": "clear"})

    def set_style(self, style: PageStyle) -> None:
        """The look new page loads get (open pages keep theirs until OBS reloads them)."""
        self._page = render_page(style)

    # -- facts -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd is not None else self._requested_port

    @property
    def client_count(self) -> int:
        """Pages connected to the event stream now."""
        return self._hub.client_count

    @property
    def url(self) -> str:
        """The address to give OBS's Browser Source (with the token when one is needed)."""
        return overlay_url(self.host, self.port, self.token)


def overlay_url(host: str, port: int, token: str | None = None) -> str:
    """The browser-source URL for a server on ``host:port``. A wildcard host is shown as this
    machine's loopback address: the other PC must replace it with this PC's LAN address."""
    shown = LOOPBACK if host in ("", "0.0.0.0") else ("[::1]" if host == "::" else host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/overlay" + (f"?token={token}" if token else "")


def _bind_failure(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"Cannot start the overlay server: port {port} is already in use on {host} "
            "(another LiveCC Desk, or another program). Choose another port."
        )
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(exc, socket.gaierror):
        return f"Cannot start the overlay server on {host}: this machine has no such address."
    if exc.errno == errno.EACCES:
        return f"Cannot start the overlay server on port {port}: permission denied (use a port above 1023)."
    return f"Cannot start the overlay server on {host}:{port}: {(exc.strerror or str(exc)).lower()}."


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # event streams end on their own once the hub closes
    owner: OverlayServer


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "LiveCCDesk"
    sys_version = ""
    timeout = 60  # a write to a page that stopped reading gives up after this

    def setup(self) -> None:
        super().setup()
        # Deltas are a few bytes each: without this, Nagle's algorithm holds them back.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # a browser source polling would fill the terminal

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    def _route(self, head: bool) -> None:
        owner = self.server.owner
        url = urlsplit(self.path)
        if not self._allowed(owner, url.query):
            self._reply(
                403,
                b"Forbidden: this overlay needs its token (?token=...) and a local address.\n",
                "text/plain; charset=utf-8",
                head,
            )
        elif url.path in ("/", ""):
            self.send_response(302)
            self.send_header("Location", "/overlay" + (f"?{url.query}" if url.query else ""))
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path == "/overlay":
            self._reply(200, owner._page, "text/html; charset=utf-8", head)
        elif url.path == "/events":
            self._events(owner, head)
        else:
            self._reply(404, b"Not found. The overlay page is /overlay.\n", "text/plain; charset=utf-8", head)

    def _allowed(self, owner: OverlayServer, query: str) -> bool:
        if owner.token is not None:
            given = parse_qs(query).get("token", [""])[0]
            return hmac.compare_digest(given.encode(), owner.token.encode())
        # Loopback without a token: refuse any Host a rebinding web page could send.
        host = (self.headers.get("Host") or "").strip()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return is_loopback(name.strip("[]"))

    def _reply(self, code: int, body: bytes, content_type: str, head: bool) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _events(self, owner: OverlayServer, head: bool) -> None:
        client = None if head else owner._hub.subscribe()
        if client is None:
            code = 200 if head else 503
            self._reply(code, b"" if head else b"Too many overlay pages connected.\n", "text/plain", head)
            return
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(b"retry: 1000\n\n")  # the page reconnects a second after the app comes back
            while True:
                try:
                    data = client.get(timeout=KEEPALIVE_S)
                except queue.Empty:
                    data = b": keep-alive\n\n"
                if data is None:
                    return
                self.wfile.write(data)
        except OSError:
            pass  # the page went away
        finally:
            owner._hub.unsubscribe(client)
            self.close_connection = True
