"""A small HTTP/1.1 client for llama.cpp's ``llama-server``: JSON calls and server-sent events.

The standard library only (no HTTP package in the engine's dependencies); every
failure becomes one user-facing :class:`~models.errors.ServerError` line that
says what went wrong and what to do (wrong URL, wrong key, not a llama-server,
a connection cut mid-stream, a stalled server). Used by
:class:`~models.engine.remote.RemoteEngine`.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.parse
from collections.abc import Iterator

from models.errors import ServerError

#: Seconds to wait for a connection and for each read (a re-prime on a CPU server can take long).
DEFAULT_TIMEOUT_S = 120.0


class LlamaServerClient:
    """A small HTTP/1.1 client for llama-server: JSON calls and server-sent events.

    One persistent connection; every failure becomes a one-line ``ServerError``.
    """

    def __init__(self, url: str, api_key: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        raw = url.strip().rstrip("/")
        parsed = urllib.parse.urlsplit(raw if "://" in raw else "http://" + raw)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ServerError(f"{url!r} is not a server address; give one like http://192.168.1.20:8080.")
        self.url = f"{parsed.scheme}://{parsed.netloc}{parsed.path}"
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname
        self._port = parsed.port or (443 if self._https else 80)
        self._prefix = parsed.path
        self.api_key = api_key
        self.timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self.timeout_s, context=ssl.create_default_context()
                )
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout_s)
        return self._conn

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _send(self, method: str, path: str, body: dict | bytes | None) -> http.client.HTTPResponse:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, self._prefix + path, body=data, headers=self._headers())
                response = conn.getresponse()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                # A kept-alive connection the server closed meanwhile: reconnect once.
                self.close()
                if attempt:
                    raise self._error(exc, path) from exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise self._error(exc, path) from exc
        if response.status != 200:
            detail = self._error_detail(response)
            self.close()
            raise self._status_error(response.status, path, detail)
        return response

    def get(self, path: str) -> dict:
        return self._json("GET", path, None)

    def post(self, path: str, body: dict) -> dict:
        return self._json("POST", path, body)

    def _json(self, method: str, path: str, body: dict | None) -> dict:
        response = self._send(method, path, body)
        try:
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise self._error(exc, path) from exc
        try:
            return json.loads(payload)
        except ValueError as exc:
            raise ServerError(f"{self.url}{path} did not answer with JSON: is it a llama-server?") from exc

    def stream(self, path: str, body: dict | bytes) -> Iterator[dict]:
        """POST ``body`` (a dict, or JSON already serialised) and yield each server-sent event's JSON
        until the server ends it."""
        response = self._send("POST", path, body)
        finished = False
        try:
            while True:
                try:
                    line = response.readline()
                except (OSError, http.client.HTTPException) as exc:
                    raise self._error(exc, path, midstream=True) from exc
                if not line:
                    break
                line = line.strip()
                if line.startswith(b"error:"):
                    raise ServerError(f"The server at {self.url} failed: {self._message(line[6:])}")
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    break
                try:
                    event = json.loads(payload)
                except ValueError as exc:
                    raise ServerError(f"The server at {self.url} sent a damaged event mid-chunk.") from exc
                if "error" in event:
                    raise ServerError(f"The server at {self.url} failed: {self._message(payload)}")
                yield event
                if event.get("stop"):
                    finished = True
                    response.read()  # the rest of the chunked body, so the connection can be reused
                    break
            if not finished:
                raise ServerError(
                    f"The server at {self.url} closed the connection mid-chunk (it may have crashed or been "
                    "restarted); the chunk was not commentated."
                )
        finally:
            if not finished:
                self.close()

    # ------------------------------------------------------------ errors
    def _error(self, exc: BaseException, path: str, midstream: bool = False) -> ServerError:
        where = self.url
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return ServerError(
                f"The server at {where} did not answer within {self.timeout_s:g} s (stalled connection or an "
                "overloaded server); check it, or raise the timeout."
            )
        if isinstance(exc, ConnectionRefusedError):
            return ServerError(
                f"Nothing is listening at {where} (connection refused): start the server "
                "(`livecc-desk serve …`) or check the address and port."
            )
        if isinstance(exc, socket.gaierror):
            return ServerError(f"Cannot find the host of {where} ({exc.strerror}); check the address.")
        if isinstance(exc, ssl.SSLError):
            return ServerError(f"The TLS connection to {where} failed ({exc.reason}); check the certificate.")
        if midstream or isinstance(
            exc, (http.client.RemoteDisconnected, ConnectionResetError, http.client.IncompleteRead, BrokenPipeError)
        ):
            return ServerError(
                f"The server at {where} closed the connection mid-chunk (it may have crashed or been "
                "restarted); the chunk was not commentated."
            )
        return ServerError(f"Cannot talk to the server at {where} ({type(exc).__name__}: {exc}).")

    def _status_error(self, status: int, path: str, detail: str) -> ServerError:
        if status == 401:
            return ServerError(
                f"The server at {self.url} refused the API key (401): give the key it was started with "
                "(--api-key-env VAR)."
            )
        if status == 404:
            return ServerError(f"{self.url} has no {path} endpoint (404): is it a llama-server?")
        if status == 503:
            return ServerError(f"The server at {self.url} is not ready (503: {detail or 'loading the model'}).")
        return ServerError(f"The server at {self.url} answered {status} to {path}: {detail}")

    @staticmethod
    def _message(raw: bytes) -> str:
        try:
            body = json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace").strip()[:300]
        err = body.get("error", body) if isinstance(body, dict) else body
        if isinstance(err, dict):
            return str(err.get("message") or err)[:300]
        return str(err)[:300]

    def _error_detail(self, response: http.client.HTTPResponse) -> str:
        try:
            return self._message(response.read())
        except (OSError, http.client.HTTPException):
            return ""
