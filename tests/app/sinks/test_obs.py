"""The OBS sink against a real OBS Studio (Debian's obs-studio, obs-websocket 5) under Xvfb."""

from __future__ import annotations

import threading
import time

import pytest

from app.errors import StreamOutputError
from app.sinks.obs import ObsSink, ObsState, ObsStatus, parse_obs_url, text_source_kind
from models.engine.records import ChunkDone, ChunkStarted, CommentaryDelta
from tests.real_programs import ObsStudio, free_port, require

PASSWORD = "livecc-test-pw"
SOURCE = "Commentary test"


@pytest.fixture(scope="module")
def obs(tmp_path_factory):
    require("obs", "Xvfb")
    studio = ObsStudio(tmp_path_factory.mktemp("obs"), PASSWORD)
    try:
        studio.start()
    except RuntimeError as exc:
        studio.stop()
        pytest.fail(f"OBS did not start: {exc}")
    yield studio
    studio.stop()


def wait_until(condition, what: str, timeout_s: float = 60.0, detail=lambda: ""):
    """Poll ``condition`` until truthy (a guard against hanging, not a timing assertion);
    ``detail()`` is added to the failure, to tell what was going on."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}; {detail()}")


def speak(sink: ObsSink, index: int, text: str) -> None:
    t0, t1 = float(index), index + 1.0
    sink.handle(ChunkStarted(index, t0, t1))
    for word in text.split():
        sink.handle(CommentaryDelta(t0, t1, f" {word}"))
    sink.handle(ChunkDone(index, t0, t1, f" {text}"))


def test_commentary_reaches_a_text_source_it_creates(obs):
    states: list[ObsState] = []
    with ObsSink(obs.url, PASSWORD, SOURCE, lines=2, width=30, on_status=states.append) as sink:
        assert sink.wait_first_attempt(10).status is ObsStatus.CONNECTED
        speak(sink, 0, "The striker turns")
        wait_until(lambda: obs.input_text(SOURCE) == "The striker turns", "the text in OBS")
        speak(sink, 1, "and shoots from far out")
        wait_until(
            lambda: obs.input_text(SOURCE) == "The striker turns and shoots\nfrom far out",
            "the second line in OBS",
            detail=lambda: f"OBS shows {obs.input_text(SOURCE)!r}; the sink's states: {states}",
        )
    client = obs.client()
    try:
        kind = client.send("GetInputSettings", {"inputName": SOURCE}, raw=True)["inputKind"]
    finally:
        client.disconnect()
    assert kind == text_source_kind() == "text_ft2_source_v2"
    assert states[-1].status is ObsStatus.STOPPED


def test_stream_captions_while_not_streaming_are_not_an_error(obs):
    with ObsSink(obs.url, PASSWORD, SOURCE, captions=True) as sink:
        assert sink.wait_first_attempt(10).status is ObsStatus.CONNECTED
        speak(sink, 0, "Captions go nowhere offline")
        wait_until(lambda: obs.input_text(SOURCE) == "Captions go nowhere offline", "the text in OBS")
        assert sink.state == ObsState(ObsStatus.CONNECTED)


def test_a_wrong_password_is_one_clear_message(obs):
    with ObsSink(obs.url, "not-the-password", SOURCE) as sink:
        state = sink.wait_first_attempt(10)
    assert state.status is ObsStatus.WRONG_PASSWORD
    assert "refused the password" in state.message and "WebSocket Server Settings" in state.message
    with ObsSink(obs.url, "", SOURCE) as sink:
        assert "asks for a password" in sink.wait_first_attempt(10).message


def test_an_unreachable_obs_is_one_clear_message_and_never_blocks_the_engine():
    port = free_port()
    with ObsSink(f"ws://127.0.0.1:{port}", PASSWORD, SOURCE) as sink:
        state = sink.wait_first_attempt(10)
        assert state.status is ObsStatus.UNREACHABLE
        assert f"not reachable at ws://127.0.0.1:{port}" in state.message
        for i in range(2000):  # the engine's path only drops text into a mailbox
            speak(sink, i, "words nobody receives")


@pytest.mark.parametrize(
    "url",
    ["wss://127.0.0.1:4455", "http://127.0.0.1:4455", "ws://:4455", "ws://h:0", "ws://h:99999", "ws://h:4455/path"],
)
def test_a_malformed_obs_address_is_refused_at_once(url):
    with pytest.raises(StreamOutputError, match="Bad OBS address"):
        ObsSink(url, PASSWORD)


def test_obs_addresses():
    assert parse_obs_url("ws://127.0.0.1:4455") == ("127.0.0.1", 4455)
    assert parse_obs_url("studio-pc") == ("studio-pc", 4455)
    assert text_source_kind("Windows") == "text_gdiplus_v3"
    assert text_source_kind("Darwin") == "text_ft2_source_v2"


def test_obs_killed_and_restarted_mid_stream_gets_the_commentary_again(obs):
    source = "Commentary restart"
    seen: list[ObsStatus] = []
    stop = threading.Event()
    with ObsSink(obs.url, PASSWORD, source, lines=1, width=60, on_status=lambda s: seen.append(s.status)) as sink:
        assert sink.wait_first_attempt(10).status is ObsStatus.CONNECTED

        def commentate() -> None:  # the engine goes on talking whatever happens to OBS
            i = 0
            while not stop.is_set():
                speak(sink, i, f"chunk {i}")
                i += 1
                time.sleep(0.05)

        talker = threading.Thread(target=commentate)
        talker.start()
        try:
            wait_until(lambda: (obs.input_text(source) or "").startswith("chunk"), "commentary before the crash")
            obs.kill()
            wait_until(lambda: sink.state.status is not ObsStatus.CONNECTED, "the sink to notice")
            obs.start()
            wait_until(lambda: sink.state.status is ObsStatus.CONNECTED, "the sink to reconnect", 90)
            # The restarted OBS (its scene collection not saved before the kill) gets the source
            # again and the newest commentary, not the text from before the crash.
            before = int(sink._lines.text.split()[1])
            wait_until(
                lambda: int(((obs.input_text(source) or "chunk -1").split() or ["", "-1"])[-1]) > before,
                "new commentary after the restart",
            )
        finally:
            stop.set()
            talker.join()
    assert ObsStatus.CONNECTED in seen and seen.count(ObsStatus.CONNECTED) >= 2
