"""The overlay server over real HTTP: the page, the event stream, the token and Host rules."""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from app.errors import StreamOutputError
from app.sinks.overlay_page import PageStyle, render_page
from app.sinks.overlay_server import OverlayServer, overlay_url, parse_listen_address
from models.engine.records import ChunkDone, ChunkStarted, CommentaryDelta

TOKEN = "s3cret-token-42"


def get(port: int, path: str, host: str | None = None, address: str = "127.0.0.1") -> tuple[int, bytes, dict]:
    conn = http.client.HTTPConnection(address, port, timeout=10)
    headers = {"Host": host} if host is not None else {}
    conn.request("GET", path, headers=headers)
    reply = conn.getresponse()
    body = reply.read()
    conn.close()
    return reply.status, body, dict(reply.getheaders())


class EventStream:
    """A reader of ``/events``: one JSON message per :meth:`next`."""

    def __init__(self, port: int, query: str = "") -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.conn.request("GET", "/events" + query)
        self.reply = self.conn.getresponse()

    def next(self) -> dict:
        while True:
            line = self.reply.readline()
            assert line, "the stream ended"
            if line.startswith(b"data: "):
                return json.loads(line[6:])

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def server():
    with OverlayServer(port=0) as s:
        yield s


def test_the_page_is_one_self_contained_document(server):
    status, body, headers = get(server.port, "/overlay")
    page = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "background: transparent" in page and "EventSource" in page
    for external in ("http://", "https://", "<link", "src="):  # nothing loaded from anywhere else
        assert external not in page
    assert get(server.port, "/")[0] == 302 and get(server.port, "/nothing")[0] == 404


def test_the_style_defaults_come_from_settings_and_cannot_break_out_of_the_script():
    page = render_page(PageStyle(font_family="</script><script>alert(1)</script>", lines=5)).decode()
    assert "</script><script>" not in page
    assert '"lines": 5' in page


def test_the_event_stream_delivers_a_snapshot_then_each_delta_and_finished_line(server):
    server.handle(ChunkDone(0, 0.0, 3.0, " Kick off"))
    stream = EventStream(server.port)
    try:
        first = stream.next()
        assert first["type"] == "snapshot" and first["words"] == ["Kick", "off"]
        server.handle(ChunkStarted(1, 3.0, 4.0))
        server.handle(CommentaryDelta(3.0, 4.0, " and"))
        server.handle(CommentaryDelta(3.0, 4.0, " away"))
        server.handle(ChunkDone(1, 3.0, 4.0, " and away"))
        server.handle(ChunkDone(2, 4.0, 5.0, " ..."))  # silence shows nothing
        server.clear()
        got = [stream.next() for _ in range(6)]
        assert got == [
            {"type": "start"},
            {"type": "delta", "text": " and"},
            {"type": "delta", "text": " away"},
            {"type": "done", "text": " and away"},
            {"type": "done", "text": ""},
            {"type": "clear"},
        ]
    finally:
        stream.close()


def test_a_page_that_stops_reading_gets_a_snapshot_instead_of_an_unbounded_backlog(server):
    stream = EventStream(server.port)
    try:
        assert stream.next()["type"] == "snapshot"
        client = next(iter(server._hub._clients))
        for i in range(5000):
            server._hub.publish({"type": "done", "text": f" w{i}"})
            assert client.qsize() <= 256
    finally:
        stream.close()


def test_a_request_naming_a_foreign_host_is_refused(server):
    # DNS rebinding: a web page at evil.example resolved to 127.0.0.1 sends its own name.
    assert get(server.port, "/overlay", host="evil.example")[0] == 403
    assert get(server.port, "/events", host=f"evil.example:{server.port}")[0] == 403
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}", "localhost"):
        assert get(server.port, "/overlay", host=host)[0] == 200


def test_listening_off_loopback_needs_a_token():
    with pytest.raises(StreamOutputError, match="token"):
        OverlayServer("0.0.0.0", 0)
    with pytest.raises(StreamOutputError, match="at least 8"):
        OverlayServer("0.0.0.0", 0, token="short")


def test_off_loopback_every_request_must_carry_the_token():
    with OverlayServer("0.0.0.0", 0, token=TOKEN) as server:
        port = server.port
        assert get(port, "/overlay")[0] == 403
        assert get(port, "/overlay?token=wrong-token-00")[0] == 403
        assert get(port, "/events")[0] == 403
        status, body, _ = get(port, f"/overlay?token={TOKEN}&lines=3", host="studio-pc.lan")
        assert status == 200 and b"EventSource" in body
        assert server.url.endswith(f"/overlay?token={TOKEN}")
        server.handle(ChunkDone(0, 0, 3, " Corner"))
        stream = EventStream(port, f"?token={TOKEN}")
        try:
            assert stream.next()["words"] == ["Corner"]
        finally:
            stream.close()


def test_a_port_in_use_is_one_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StreamOutputError, match=f"port {port} is already in use"):
            OverlayServer(port=port).start()


def test_close_ends_open_event_streams(server):
    stream = EventStream(server.port)
    assert stream.next()["type"] == "snapshot"
    server.close()
    assert stream.reply.read().strip() == b""  # the stream ends: the browser will reconnect later
    stream.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("18765", ("127.0.0.1", 18765)),
        ("0.0.0.0:9000", ("0.0.0.0", 9000)),
        ("[::1]:9000", ("::1", 9000)),
        (":9000", ("127.0.0.1", 9000)),
    ],
)
def test_listen_addresses(text, expected):
    assert parse_listen_address(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "127.0.0.1:99999", "host:"])
def test_bad_listen_addresses_are_one_clear_error(text):
    with pytest.raises(StreamOutputError, match=r"\[HOST:\]PORT"):
        parse_listen_address(text)


def test_the_url_for_every_interface_names_this_machine():
    assert overlay_url("0.0.0.0", 18765, TOKEN) == f"http://127.0.0.1:18765/overlay?token={TOKEN}"
    assert overlay_url("::1", 5) == "http://[::1]:5/overlay"
