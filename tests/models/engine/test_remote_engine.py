"""RemoteEngine against a real llama-server built from the pinned llama.cpp, with the tiny model.

The server binary comes from ``scripts/build_llama_server.sh`` (cached under
``~/.cache/livecc-desk/llama-server/``); the first build takes minutes. Without a
compiler the tests skip with the reason, except under CI (``CI`` set), where a
missing server is a failure.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import http.server
import json
import os
import socket
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.engine import llama_runtime
from models.engine.livecc_engine import EngineOptions, LiveCCEngine
from models.engine.llama_runtime import RuntimeOptions
from models.engine.llama_server import LlamaServerProcess, ServerSettings, find_llama_server, free_port
from models.engine.prompt_cache_policy import PromptCachePolicy
from models.engine.records import ChunkDone, Frame, VideoChunk
from models.engine.remote import RemoteEngine, RemoteOptions
from models.engine.server_client import LlamaServerClient
from models.engine.streaming_policy import StreamingWindowSettings
from models.engine.token_sampler import SamplingOptions
from models.errors import ServerError, ServerModelError

ROOT = Path(__file__).resolve().parents[3]
N_CTX = 512
WINDOW = StreamingWindowSettings(vision_chunks=64, text_tokens=96, reprime_vision_chunks=1)


@pytest.fixture(scope="session")
def server_binary() -> Path:
    found = find_llama_server()
    if found is not None:
        return found
    try:
        out = subprocess.run(
            ["bash", str(ROOT / "scripts" / "build_llama_server.sh")],
            capture_output=True,
            text=True,
            timeout=3600,
            check=True,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        reason = f"llama-server could not be built: {exc}; {getattr(exc, 'stderr', '')[-500:]}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return Path(out.stdout.strip().splitlines()[-1])


def start(binary: Path, tmp: Path, model: Path, mmproj: Path | None, **kw) -> LlamaServerProcess:
    settings = ServerSettings(
        model=model, mmproj=mmproj, port=free_port(), n_ctx=N_CTX, n_gpu_layers=0, threads=2, **kw
    )
    return LlamaServerProcess(binary, settings, log_path=tmp / f"server-{settings.port}.log").wait_ready(60)


@pytest.fixture(scope="module")
def server(server_binary, tiny_model, tmp_path_factory):
    with start(server_binary, tmp_path_factory.mktemp("server"), tiny_model.text_path, tiny_model.mmproj_path) as s:
        yield s


def frame(i: int, h: int = 84, w: int = 112) -> np.ndarray:
    """A picture that changes with ``i``: a gradient and a box that moves."""
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([(x * 2 + i * 37) % 256, (y * 3 + i * 11) % 256, ((x + y) * i) % 256], -1).astype(np.uint8)
    r, c = (i * 7) % (h - 20), (i * 13) % (w - 20)
    rgb[r : r + 20, c : c + 20] = (255 - 20 * (i % 12), 40 * (i % 6), 255)
    return rgb


def chunks(n: int, *, repeat_pairs: bool = False, first_picture: int = 0) -> list[VideoChunk]:
    """LiveCC chunks of footage that moves: 6 frames, then 2 per second. With ``repeat_pairs``, both
    frames of each pair are one picture (what a stock llama-server can take; see the parity test)."""

    def pic(t: int) -> np.ndarray:
        return frame(first_picture + (t // 2 if repeat_pairs else t))

    out = [VideoChunk(0, tuple(Frame(t * 0.5, pic(t)) for t in range(6)), 0.0, 3.0)]
    for k in range(1, n):
        t = 2.0 + k
        out.append(VideoChunk(k, (Frame(t, pic(4 + 2 * k)), Frame(t + 0.5, pic(5 + 2 * k))), t, t + 1.0))
    return out


def record_tokens(engine, method: str) -> list[list[int]]:
    """Spy on the (token, text) generator of an engine: the generated ids, per turn."""
    seen: list[list[int]] = []
    real = getattr(engine, method)

    def spy(*args, **kw):
        seen.append([])
        for token, text in real(*args, **kw):
            seen[-1].append(token)
            yield token, text

    setattr(engine, method, spy)
    return seen


@pytest.mark.parametrize("frame_pairs", [True, False], ids=["frame-pairs", "stock-server"])
def test_greedy_parity_and_prompt_n_per_chunk(server, tiny_model, monkeypatch, frame_pairs):
    """Our llama-server takes each frame pair as one temporal patch and a chunk's patches as one
    vision segment, as the local engine does (``frame-pairs``, on footage whose every frame
    differs): every generated token must be the local engine's, through a re-prime.

    A stock one takes one still picture per pair, which equals the local 2-frame patch only when
    both frames are the same, and makes the opening chunk's three pairs three vision segments
    (each at t = 0) where the local engine writes one segment of three temporal groups
    (``stock-server``, on such footage; the engine is told the server is stock, and the local
    engine is run with mtmd's own segmenting for the opening chunk)."""
    if not frame_pairs:
        monkeypatch.setattr(llama_runtime.mtmd_cpp, "mtmd_decode_use_mrope", lambda ctx: False)
    options = EngineOptions(runtime=RuntimeOptions(n_ctx=N_CTX, n_threads=2), sampling=SamplingOptions(greedy=True))
    stream = chunks(16, repeat_pairs=not frame_pairs)
    local = LiveCCEngine(tiny_model.text_path, tiny_model.mmproj_path, options, policy=PromptCachePolicy(WINDOW))
    try:
        local_tokens = record_tokens(local, "_generate")
        local_done = [local.process(c) for c in stream]
        local_reprimes = local.reprime_count
    finally:
        local.close()
    remote = RemoteEngine(RemoteOptions(url=server.url, sampling=SamplingOptions(greedy=True), window=WINDOW))
    try:
        assert remote.n_ctx == N_CTX
        assert remote.frame_pairs, "make server builds llama-server with packaging/llama-server/livecc.patch"
        remote.frame_pairs = frame_pairs
        remote_tokens = record_tokens(remote, "_complete")
        remote_done = [remote.process(c) for c in stream]
        figures = list(remote.server_figures)
    finally:
        remote.close()

    assert local_reprimes >= 1 and remote.reprime_count == local_reprimes
    assert remote_tokens == local_tokens
    assert [d.text for d in remote_done] == [d.text for d in local_done]
    assert [d.stats.prompt_tokens for d in remote_done] == [d.stats.prompt_tokens for d in local_done]
    assert any(any(t) for t in remote_tokens[1:]), "the tiny model said nothing: parity would prove little"

    # O(new tokens): the server evaluated exactly each new turn, except when the prompt was rebuilt.
    assert figures[0].prompt_n + figures[0].cache_n == figures[0].prompt_tokens
    reprimed = [i for i, f in enumerate(figures) if f.reprimed]
    assert len(reprimed) == local_reprimes
    for i, f in enumerate(figures[1:], start=1):
        if f.reprimed:
            assert f.prompt_n > f.new_tokens
        else:
            assert f.prompt_n == f.new_tokens, (i, f)
            assert f.cache_n == f.prompt_tokens - f.new_tokens


def test_a_pair_is_known_by_both_frames(server):
    """The server's cache must not take a pair (A, C) for a cached (A, B): mtmd named a merged pair
    after its first frame only, which our patch fixes. Three opening chunks in a row on one slot:
    the same one again is taken from the cache; one whose first pair differs in its second frame
    only is evaluated from that pair on."""
    opening = chunks(1)[0]
    changed = replace(opening, frames=(opening.frames[0], Frame(0.5, frame(99)), *opening.frames[2:]))

    def first_request(chunk: VideoChunk):
        with RemoteEngine(RemoteOptions(url=server.url, sampling=SamplingOptions(greedy=True), window=WINDOW)) as eng:
            eng.process(chunk)
            return eng.server_figures[-1]

    first_request(opening)
    same = first_request(opening)
    other = first_request(changed)
    vision_tokens = 3 * (_grid_tokens(frame(0)) + 2)
    assert same.cache_n >= vision_tokens  # the cache holds the pictures (and does not refuse a match)
    assert other.cache_n <= same.cache_n - vision_tokens  # no picture of the changed chunk came from it
    assert other.prompt_n == other.prompt_tokens - other.cache_n


def _grid_tokens(rgb: np.ndarray) -> int:
    return round(rgb.shape[0] / 28) * round(rgb.shape[1] / 28)


def requests_sent(engine: RemoteEngine) -> list[dict]:
    """Spy on the ``/completion`` bodies an engine sends (whether or not they succeed)."""
    sent: list[dict] = []
    real = engine.client.stream

    def spy(path: str, body: bytes):
        sent.append(json.loads(body))
        return real(path, body)

    engine.client.stream = spy  # type: ignore[method-assign]
    return sent


def pictures(body: dict) -> tuple[list[str], list[str]]:
    """(the pictures sent whole, the ``sha256:`` names) of a request body."""
    data = body["prompt"]["multimodal_data"]
    return [p for p in data if not p.startswith("sha256:")], [p for p in data if p.startswith("sha256:")]


def test_pictures_the_server_holds_go_by_name(server):
    """Each request carries only the new chunk's pictures whole; the rest of the context's go by the
    SHA-256 of a picture sent before, and the commentary is the one the whole pictures give."""
    stream = chunks(12)
    options = RemoteOptions(url=server.url, sampling=SamplingOptions(greedy=True), window=WINDOW)
    with RemoteEngine(options) as engine:
        engine.picture_refs = False
        reference = [engine.process(c).text for c in stream]
    with RemoteEngine(options) as engine:
        assert engine.picture_refs, "make server builds llama-server with packaging/llama-server/livecc.patch"
        sent = requests_sent(engine)
        texts = [engine.process(c).text for c in stream]
        reprimes = engine.reprime_count
    assert texts == reference
    assert reprimes >= 1
    whole, names = pictures(sent[0])
    assert len(whole) == 6 and not names
    seen = {"sha256:" + hashlib.sha256(base64.b64decode(p)).hexdigest() for p in whole}
    for body in sent[1:]:
        whole, names = pictures(body)
        assert len(whole) == 2  # the new pair, even in a re-primed prompt
        assert names and set(names) <= seen
        seen |= {"sha256:" + hashlib.sha256(base64.b64decode(p)).hexdigest() for p in whole}


def test_a_picture_the_server_no_longer_holds_is_sent_again(server):
    stream = chunks(3, first_picture=500)  # pictures no other test sends
    options = RemoteOptions(url=server.url, sampling=SamplingOptions(greedy=True), window=WINDOW)
    with RemoteEngine(options) as engine:
        sent = requests_sent(engine)
        texts = [engine.process(stream[0]).text]
        # Name the next chunk's own pictures, which the server has never seen: it refuses the request.
        engine._server_has |= {engine._encode(f.rgb).ref for f in stream[1].frames}
        texts += [engine.process(c).text for c in stream[1:]]
    with RemoteEngine(options) as engine:
        assert texts == [engine.process(c).text for c in stream]
    refused, again = sent[1], sent[2]
    assert len(pictures(refused)[1]) == 8 and not pictures(again)[1]  # then everything whole, once
    assert len(pictures(sent[3])[0]) == 2


def test_a_request_holds_its_pictures_until_they_are_encoded(server_binary, tiny_model, tmp_path, monkeypatch):
    """A picture the memo knows becomes a placeholder, made real only when it is encoded. With a
    1 MB memo, the request's own later pictures push it out of the memo before that: the request
    holds it (before, the server failed the request: "failed to process mtmd chunk")."""
    rng = np.random.default_rng(3)
    noisy = [rng.integers(0, 256, (168, 224, 3), dtype=np.uint8) for _ in range(6)]  # ~150 KB PNGs
    encoded = []
    for rgb in noisy:
        ok, buf = cv2.imencode(".png", rgb)
        assert ok
        encoded.append(base64.b64encode(buf.tobytes()).decode())
    monkeypatch.setenv("LLAMA_PICTURE_MEMO_MB", "1")
    with start(server_binary, tmp_path, tiny_model.text_path, tiny_model.mmproj_path) as small:
        client = LlamaServerClient(small.url)
        marker = client.get("/props")["media_marker"]

        def complete(text: str, pictures: list[str]) -> dict:
            prompt = {"prompt_string": text + marker * len(pictures), "multimodal_data": pictures}
            return client.post("/completion", {"prompt": prompt, "n_predict": 1, "cache_prompt": True})

        complete("First:", encoded[:1])  # the memo now holds picture 0
        # Another text first, so that picture 0 is not in the slot's cache and must be encoded again,
        # after pictures 1-5 (new, ~1.3 MB in the memo) have pushed it out of the memo.
        answer = complete("Second:", encoded)
        client.close()
    assert answer["timings"]["prompt_n"] == answer["tokens_evaluated"]  # all of it evaluated, picture 0 too


def test_a_server_without_a_picture_memo_gets_every_picture(server_binary, tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("LLAMA_PICTURE_MEMO_MB", "0")
    with (
        start(server_binary, tmp_path, tiny_model.text_path, tiny_model.mmproj_path) as plain,
        RemoteEngine(RemoteOptions(url=plain.url, window=WINDOW)) as engine,
    ):
        assert not engine.picture_refs and engine.frame_pairs
        sent = requests_sent(engine)
        for c in chunks(3):
            engine.process(c)
    assert [len(pictures(b)[0]) for b in sent] == [6, 8, 10] and not any(pictures(b)[1] for b in sent)


def test_ask_answers_on_the_same_context(server):
    with RemoteEngine(RemoteOptions(url=server.url, sampling=SamplingOptions(greedy=True), window=WINDOW)) as engine:
        for c in chunks(3):
            engine.process(c)
        *deltas, done = list(engine.ask("What happened?", max_new_tokens=8))
        assert done.text == "".join(d.text for d in deltas).strip()
        assert engine.server_figures[-1].prompt_n == engine.server_figures[-1].new_tokens


def test_seeded_sampling_is_reproducible(server):
    def run(seed: int) -> list[str]:
        sampling = SamplingOptions(greedy=False, temperature=1.0, seed=seed)
        with RemoteEngine(RemoteOptions(url=server.url, sampling=sampling, window=WINDOW)) as engine:
            return [engine.process(c).text for c in chunks(4)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_nothing_listening_is_one_clear_error():
    with pytest.raises(ServerError, match=r"Nothing is listening at http://127\.0\.0\.1:\d+ \(connection refused\)"):
        RemoteEngine(RemoteOptions(url=f"http://127.0.0.1:{free_port()}", timeout_s=5))


def test_a_url_that_is_not_a_llama_server(server):
    with pytest.raises(ServerError, match="404.*is it a llama-server"):
        RemoteEngine(RemoteOptions(url=server.url + "/not-here", timeout_s=5))
    with pytest.raises(ServerError, match="not a server address"):
        RemoteEngine(RemoteOptions(url="ftp://example"))


def test_another_model_is_refused_before_any_frame(server, server_binary, tiny_model, tmp_path):
    with pytest.raises(ServerModelError, match="serves tiny-qwen2vl, not livecc-7b"):
        RemoteEngine(RemoteOptions(url=server.url, expected_model="/models/livecc-7b.gguf"))
    with (
        start(server_binary, tmp_path, tiny_model.text_path, None) as text_only,
        pytest.raises(ServerModelError, match="without a vision projector"),
    ):
        RemoteEngine(RemoteOptions(url=text_only.url))


def test_api_key(server_binary, tiny_model, tmp_path):
    with start(server_binary, tmp_path, tiny_model.text_path, tiny_model.mmproj_path, api_key="s3cret") as keyed:
        for key in (None, "wrong"):
            with pytest.raises(ServerError, match=r"refused the API key \(401\)"):
                RemoteEngine(RemoteOptions(url=keyed.url, api_key=key))
        with RemoteEngine(RemoteOptions(url=keyed.url, api_key="s3cret", window=WINDOW)) as engine:
            assert isinstance(engine.process(chunks(1)[0]), ChunkDone)


def test_a_public_address_needs_an_api_key(tiny_model):
    with pytest.raises(ServerError, match="without an API key"):
        ServerSettings(model=tiny_model.text_path, mmproj=tiny_model.mmproj_path, host="0.0.0.0").check()
    ServerSettings(model=tiny_model.text_path, mmproj=tiny_model.mmproj_path, host="0.0.0.0", api_key="k").check()


def test_server_killed_between_chunks(server_binary, tiny_model, tmp_path):
    proc = start(server_binary, tmp_path, tiny_model.text_path, tiny_model.mmproj_path)
    try:
        engine = RemoteEngine(RemoteOptions(url=proc.url, window=WINDOW, timeout_s=10))
        stream = chunks(2)
        engine.process(stream[0])
        proc.process.kill()
        proc.process.wait()
        with pytest.raises(ServerError, match="connection refused|closed the connection"):
            engine.process(stream[1])
    finally:
        proc.stop()


def test_server_restarted_mid_stream_reconnects_and_goes_on(server_binary, tiny_model, tmp_path):
    stream = chunks(4)
    options = RemoteOptions(sampling=SamplingOptions(greedy=True), window=WINDOW, timeout_s=10)
    first = start(server_binary, tmp_path, tiny_model.text_path, tiny_model.mmproj_path)
    port = first.settings.port
    try:
        with RemoteEngine(replace(options, url=first.url)) as engine:
            reference = [engine.process(c).text for c in stream]
        engine = RemoteEngine(replace(options, url=first.url, reconnect_s=60))
        texts = [engine.process(stream[0]).text]
        first.process.kill()
        first.process.wait()
        restarted: list[LlamaServerProcess] = []

        def restart() -> None:
            settings = replace(first.settings, port=port)
            restarted.append(LlamaServerProcess(server_binary, settings, log_path=tmp_path / "restarted.log"))

        timer = threading.Timer(0.5, restart)
        timer.start()
        try:
            texts += [engine.process(c).text for c in stream[1:]]
        finally:
            timer.join()
            for proc in restarted:
                proc.stop()
        figures = list(engine.server_figures)
        engine.close()
    finally:
        first.stop()
    assert texts == reference  # no chunk lost, the same words
    assert figures[1].reconnected and figures[1].cache_n == 0
    assert figures[1].prompt_n == figures[1].prompt_tokens  # the restarted server evaluated the whole prompt
    assert figures[2].prompt_n == figures[2].new_tokens  # and from there on only the new turn


class _CuttingProxy(http.server.ThreadingHTTPServer):
    """Forwards to the real server, but cuts every /completion after its first event."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.split("://", 1)[1]
        super().__init__(("127.0.0.1", 0), _CuttingHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class _CuttingHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _forward(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else None
        host, port = self.server.upstream.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request(method, self.path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        if self.path == "/completion":
            first = b""
            while not first.startswith(b"data:"):
                first = resp.readline()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(first + b"\n")
            self.wfile.flush()
            conn.close()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = resp.read()
        self.send_response(resp.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    def do_GET(self) -> None:
        self._forward("GET")

    def do_POST(self) -> None:
        self._forward("POST")


def test_connection_lost_mid_stream(server):
    proxy = _CuttingProxy(server.url)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        engine = RemoteEngine(RemoteOptions(url=proxy.url, window=WINDOW, timeout_s=10))
        with pytest.raises(ServerError, match="closed the connection mid-chunk") as err:
            engine.process(chunks(1)[0])
        assert "\n" not in str(err.value)
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_stalled_connection_times_out():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)  # accepts connections (the kernel does), never answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(ServerError, match=r"did not answer within 0\.5 s"):
            RemoteEngine(RemoteOptions(url=url, timeout_s=0.5))
    finally:
        listener.close()
