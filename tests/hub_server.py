"""A local stand-in for the Hugging Face hub's file protocol, for download tests.

It speaks what ``huggingface_hub`` and ``models.download`` use, on 127.0.0.1 only:

- ``HEAD/GET /{owner}/{repo}/resolve/{revision}/{path}``: ``X-Repo-Commit``,
  ``ETag`` (git blob sha1 for small files, sha256 for "LFS" files),
  ``Content-Length``, ``Accept-Ranges``; LFS files answer with a 302 to a "CDN"
  URL on another origin (``localhost`` instead of ``127.0.0.1``) carrying
  ``X-Linked-Etag``/``X-Linked-Size``, as the hub does.
- ``GET /cdn/{sha256}``: the LFS content, with ``Range: bytes=N-`` -> 206.
- errors as the hub sends them: 401 ``RepoNotFound``, 401/403 ``GatedRepo``
  (gated repos need ``Authorization: Bearer <token>``), 404 ``EntryNotFound``,
  404 ``RevisionNotFound``.

Faults for tests: ``drop_after[file] = n`` closes the connection after ``n`` body
bytes (once per entry), ``corrupt`` serves flipped bytes under the right headers,
``ignore_range`` answers ranges with the whole file, ``delay_s`` slows each block,
``cdn_denials`` refuses that many CDN downloads with 403 (an expired signed link).
Every request is logged in ``requests``. Loops are bounded by the files' sizes.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

LFS_THRESHOLD = 1024
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
_CDN = re.compile(r"^/cdn/(?P<sha>[0-9a-f]{64})$")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Logged:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case


@dataclass
class HubState:
    repos: dict[str, dict[str, bytes]] = field(default_factory=dict)
    gated: dict[str, str] = field(default_factory=dict)  # repo -> token that may read it
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    drop_after: dict[str, int] = field(default_factory=dict)
    corrupt: set[str] = field(default_factory=set)
    ignore_range: bool = False
    delay_s: float = 0.0
    cdn_denials: int = 0  # CDN GETs still to refuse with 403, as an expired signed link is
    requests: list[Logged] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def blobs(self) -> dict[str, tuple[str, bytes]]:
        """sha256 -> (file name, content) of every LFS file."""
        return {
            hashlib.sha256(d).hexdigest(): (name, d)
            for files in self.repos.values()
            for name, d in files.items()
            if len(d) >= LFS_THRESHOLD
        }


class _Handler(BaseHTTPRequestHandler):
    server_version = "hub-stand-in/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args) -> None:  # keep test output clean
        pass

    @property
    def state(self) -> HubState:
        return self.server.state  # type: ignore[attr-defined]

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        path = unquote(self.path.split("?", 1)[0])
        with self.state.lock:
            self.state.requests.append(Logged(self.command, path, {k.lower(): v for k, v in self.headers.items()}))
        if m := _CDN.match(path):
            with self.state.lock:
                denied = self.state.cdn_denials > 0 and self.command == "GET"
                self.state.cdn_denials -= int(denied)
            if denied:
                return self._error(403, None, "Request has expired")
            blob = self.state.blobs().get(m["sha"])
            if blob is None:
                return self._error(404, "EntryNotFound", "no such blob")
            return self._content(blob[0], blob[1], m["sha"], body)
        m = _RESOLVE.match(path)
        if not m:
            return self._error(404, None, "not found")
        repo, rev, name = m["repo"], m["rev"], m["path"]
        files = self.state.repos.get(repo)
        if files is None:
            return self._error(401, "RepoNotFound", "Repository not found")
        if repo in self.state.gated and self.headers.get("Authorization") != f"Bearer {self.state.gated[repo]}":
            status = 403 if self.headers.get("Authorization") else 401
            return self._error(status, "GatedRepo", "Access to model is restricted.")
        if rev not in ("main", self.state.commit):
            return self._error(404, "RevisionNotFound", "Invalid rev id")
        if name not in files:
            return self._error(404, "EntryNotFound", f"{name} does not exist")
        data = files[name]
        if len(data) >= LFS_THRESHOLD:
            sha = hashlib.sha256(data).hexdigest()
            host, port = self.server.server_address[:2]  # type: ignore[misc]
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{port}/cdn/{sha}")
            self.send_header("ETag", f'"{git_blob_sha1(data)}"')
            self.send_header("X-Linked-Etag", f'"{sha}"')
            self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("X-Repo-Commit", self.state.commit)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._content(name, data, git_blob_sha1(data), body)

    def _content(self, name: str, data: bytes, etag: str, body: bool) -> None:
        start = 0
        rng = self.headers.get("Range")
        if rng and not self.state.ignore_range:
            m = re.match(r"bytes=(\d+)-(\d*)$", rng)
            if not m or int(m[1]) >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = int(m[1])
        payload = data[start:]
        if name in self.state.corrupt:
            payload = bytes(b ^ 0xFF for b in payload[:16]) + payload[16:]
        self.send_response(206 if start else 200)
        self.send_header("ETag", f'"{etag}"')
        self.send_header("X-Repo-Commit", self.state.commit)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(payload)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if not body:
            return
        with self.state.lock:
            cut = self.state.drop_after.pop(name, None)
        if cut is not None:
            self.wfile.write(payload[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        for i in range(0, len(payload), 64 << 10):
            if self.state.delay_s:
                time.sleep(self.state.delay_s)
            try:
                self.wfile.write(payload[i : i + (64 << 10)])
            except (BrokenPipeError, ConnectionResetError):
                return

    def _error(self, status: int, code: str | None, message: str) -> None:
        payload = f'{{"error": "{message}"}}'.encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # clients that hang up mid-transfer (cancel tests) are expected, not failures


class HubServer:
    """``with HubServer(repos) as hub:`` then point ``HF_ENDPOINT`` at ``hub.endpoint``."""

    def __init__(self, repos: dict[str, dict[str, bytes]] | None = None, **state) -> None:
        self.state = HubState(repos=dict(repos or {}), **state)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="hub-stand-in", daemon=True
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def gets(self, name: str) -> list[Logged]:
        """GET requests that fetched ``name``'s content (resolve or CDN)."""
        sha = {n: s for s, (n, _d) in self.state.blobs().items()}.get(name)
        return [
            r
            for r in self.state.requests
            if r.method == "GET" and (r.path.endswith("/" + name) or (sha is not None and r.path == f"/cdn/{sha}"))
        ]

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
