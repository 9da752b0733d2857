"""LiveCC on another machine: the ``Engine`` protocol over llama.cpp's own ``llama-server``.

``RemoteEngine`` runs the same LiveCC streaming protocol as :class:`LiveCCEngine`,
but the model lives in a ``llama-server`` (built from the pinned llama.cpp:
``scripts/build_llama_server.sh``, started by ``livecc-desk serve``). Each chunk
is one ``POST /completion`` whose prompt is the WHOLE conversation so far
(``{"prompt_string": …, "multimodal_data": [base64 PNG, …]}``, one media marker
per picture) with ``cache_prompt``: between re-primes the prompt only grows, so
the server finds everything before the new turn in its cache and evaluates only
the new turn (its ``timings.prompt_n``; see :attr:`RemoteEngine.server_figures`).
The context is bounded by :class:`~models.engine.prompt_cache_policy.PromptCachePolicy`:
when the next turn would not fit, the prompt is rebuilt after the sink in one step.
The engine keeps the whole prompt (text and pictures), so a restarted server only costs
one full evaluation (``RemoteOptions.reconnect_s``).

What is the same as the local engine: the prompt text and time labels
(``models.engine.prompt``), the stop rules (at most ``max_new_tokens``; ``<|im_end|>``
ends a reply; the last generated token is not kept: the next turn starts with
``<|im_end|>\\n``), greedy or seeded sampling, and the repetition penalty over
every text token of the context (the server feeds the whole prompt to its
penalty sampler; ``repeat_last_n`` is set to the context size).

**Temporal patches.** Each LiveCC frame pair is one Qwen2-VL temporal patch, and a
chunk's patches one vision segment. The llama-server that ``make server`` builds carries
a small patch (``packaging/llama-server/livecc.patch``; its ``/props`` say
``multimodal_frame_pairs``): a prompt object with ``"multimodal_frame_pairs": true`` has
mtmd merge two adjacent media markers into one temporal patch and adjacent patches into
one segment at temporal positions 0, 1, 2 (the opening chunk), as the local engine
does, so greedy commentary is token for token the local engine's; and the server keeps
the pictures it has decoded (its "picture memo"), so a picture it holds goes as
``"sha256:<hex>"`` (``multimodal_picture_refs``): a request carries only the new chunk's
pictures, not every picture of the context again. A stock llama-server decodes
each picture as a still image that mtmd never merges with its neighbour; there the
engine sends ONE picture per pair (``pair_frame``: the later frame by default), a
temporal patch of that frame repeated, and logs that it does; there the opening chunk
becomes three vision segments, each at temporal position 0.

Deviations the server imposes (documented in the README):

* **Replies are sent back as text.** A multimodal prompt is a string, so the
  server tokenizes the kept reply again; where the model generated a
  non-canonical split of a word, the server's cache differs from the generated
  ids from that token on (it then evaluates the reply again: slightly more
  ``prompt_n``).
* **Sampling.** Seeded sampling is reproducible on the server, but its random
  stream is llama.cpp's, not the local sampler's; "talk more" is not available.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from models.engine import defaults
from models.engine.context import ContextLedger, ContextPolicy, RoomRequest, Span, Turn
from models.engine.engine_base import EngineBase
from models.engine.prompt import (
    DEFAULT_QUERY,
    IM_END,
    IM_START,
    SILENCE,
    PartKind,
    PromptPart,
    chunk_turn,
    question_turn,
)
from models.engine.prompt_cache_policy import PromptCachePolicy
from models.engine.protocol import EngineInfo
from models.engine.records import (
    AnswerDelta,
    AnswerDone,
    ChunkDone,
    ChunkStarted,
    ChunkStats,
    CommentaryDelta,
    VideoChunk,
)
from models.engine.reprime import turn_pieces
from models.engine.server_client import DEFAULT_TIMEOUT_S, LlamaServerClient
from models.engine.streaming_policy import StreamingWindowSettings
from models.engine.token_sampler import SamplingOptions
from models.errors import ServerError, ServerModelError

log = logging.getLogger(__name__)

#: Qwen2-VL merges 2x2 patches of 14 px: one vision token per 28x28 pixels.
_PATCH = 28
#: Where a picture goes in the prompt we keep; each request writes the server's own media marker
#: there (a server chooses its marker at start, so a restarted one may have another).
_MARK = "\x00picture\x00"
_QWEN_SPECIALS = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>")
#: Stands for the pictures in a request body serialised without them.
_PICTURES_SLOT = "\x00pictures\x00"
#: What our llama-server says of a ``sha256:`` reference to a picture it no longer holds.
_MEMO_MISS = "not in the server's picture memo"


@dataclass(frozen=True)
class RemoteOptions:
    """How to reach the server and run the protocol on it.

    url: the server's address (``http://host:port``; ``https://`` behind a TLS proxy).
    api_key: sent as ``Authorization: Bearer``; ``None`` for a server without one.
    timeout_s: most seconds to wait to connect and for each read; a stalled
        server fails the chunk with a clear error after this.
    expected_model: a model name or file; when given, a server serving another
        model is refused before any frame is sent.
    id_slot: the server slot to use (-1: the server picks; with ``--parallel N`` it
        picks the slot whose cached prompt matches best).
    pair_frame: on a stock llama-server (no ``multimodal_frame_pairs``), which frame of
        each LiveCC pair is sent ("last" or "first").
    image_format: "png" (lossless: the server sees the frames exactly; the default) or "jpeg"
        (smaller, lossy: the commentary may differ from the local engine's).
    jpeg_quality: quality of JPEG pictures.
    window: sizes of what a re-prime keeps (``StreamingWindowSettings``); ``None``
        sizes it by the server's context.
    reconnect_s: when the server goes away mid-chunk (killed, restarted), wait this long
        for it to answer again and send the chunk again with the whole prompt (the
        restarted server evaluates it all); tokens already shown are not shown twice.
        0: fail the chunk at once.
    """

    url: str = "http://127.0.0.1:8080"
    api_key: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    expected_model: str | None = None
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    max_new_tokens: int = defaults.MAX_NEW_TOKENS
    answer_max_tokens: int = defaults.ANSWER_MAX_TOKENS
    id_slot: int = -1
    pair_frame: str = "last"
    image_format: str = "png"
    jpeg_quality: int = 95
    window: StreamingWindowSettings | None = None
    reconnect_s: float = 0.0


@dataclass(frozen=True)
class ServerFigures:
    """What the server reported for one request: the proof of O(new tokens) per chunk.

    prompt_n: prompt tokens the server evaluated; cache_n: prompt tokens it took
    from its cache; prompt_tokens: the prompt's length; new_tokens: the tokens of
    the new turn (what ``prompt_n`` should be); reprimed: the prompt was rebuilt.
    """

    prompt_n: int
    cache_n: int
    prompt_tokens: int
    new_tokens: int
    predicted_n: int
    prompt_ms: float
    predicted_ms: float
    reprimed: bool
    reconnected: bool = False


# ------------------------------------------------------------------- prompt
@dataclass(frozen=True)
class _Picture:
    """A frame as the server gets it: its encoded file in base64, and ``sha256:<hex>`` of that file,
    the name our llama-server knows it by once it has it. Encoded once, when its chunk arrives."""

    data: str
    ref: str


@dataclass
class _Piece:
    """One piece of the prompt: text, or a picture behind one media marker."""

    text: str = ""
    image: _Picture | None = None


@dataclass
class _Tokenized:
    """A prompt part's cells and positions as the server will count them."""

    text: str
    images: list[_Picture]
    n_tokens: int
    n_pos: int
    text_tokens: list[int]


class RemoteEngine(EngineBase):
    """The LiveCC streaming protocol on a llama-server (see the module docstring).

    server_figures: what the server reported for the last requests, newest last.
    reprime_count: rebuilds of the prompt so far.
    """

    def __init__(
        self, options: RemoteOptions, *, policy: ContextPolicy | None = None, query: str = DEFAULT_QUERY
    ) -> None:
        if options.pair_frame not in ("last", "first"):
            raise ValueError(f"pair_frame must be 'last' or 'first', got {options.pair_frame!r}")
        if options.image_format not in ("png", "jpeg"):
            raise ValueError(f"image_format must be 'png' or 'jpeg', got {options.image_format!r}")
        self.options = options
        self.client = LlamaServerClient(options.url, options.api_key, options.timeout_s)
        self.query = query.strip() or DEFAULT_QUERY
        self._query_sent: str | None = None
        self.ledger = ContextLedger()
        self.server_figures: deque[ServerFigures] = deque(maxlen=256)
        self.reprime_count = 0
        self.n_past = 0
        self._pieces: list[_Piece] = []
        self._sink_pieces = 0
        self._framed: deque[Turn] = deque()
        self._images: dict[int, list[_Picture]] = {}  # Turn.index -> its pictures, for re-priming
        self._server_has: set[str] = set()  # refs of the pictures the server holds (picture memo)
        self._reply_text: dict[int, str] = {}  # Turn.index -> the kept reply, as text
        self._token_cache: dict[str, list[int]] = {}
        self._reconnected = False
        # A chunk's pictures are encoded side by side (OpenCV and hashlib let go of the GIL): a pair
        # of noisy 616x448 frames takes ~18 ms instead of ~35 ms before the request can go.
        self._encoder = ThreadPoolExecutor(max_workers=2, thread_name_prefix="remote-encode")
        try:
            self._connect()
        except BaseException:
            self.close()
            raise
        window = options.window or StreamingWindowSettings.for_context(self.n_ctx)
        self.policy = policy or PromptCachePolicy(window)

    # ---------------------------------------------------------- connection
    def _connect(self) -> None:
        """Check the server before any frame is sent: reachable, our key, a LiveCC pair."""
        client = self.client
        health = client.get("/health")
        if health.get("status") not in (None, "ok"):
            raise ServerError(f"The server at {client.url} is not ready: {health}")
        props = client.get("/props")
        self.props = props
        model_path = str(props.get("model_path") or props.get("model_alias") or "")
        self.model_name = _model_name(model_path) or "llama-server model"
        modalities = props.get("modalities") or {}
        if not modalities.get("vision"):
            raise ServerModelError(
                f"The server at {client.url} serves {self.model_name or 'a model'} without a vision projector: "
                "LiveCC needs the model's mmproj (`livecc-desk serve --model … --mmproj …`)."
            )
        expected = self.options.expected_model
        names = {self.model_name.lower(), str(props.get("model_alias") or "").lower()}
        if expected and _model_name(expected).lower() not in names:
            raise ServerModelError(
                f"The server at {client.url} serves {self.model_name}, not {_model_name(expected)}: start it with "
                "that model, or point to the right server."
            )
        settings = props.get("default_generation_settings") or {}
        self.n_ctx = int(settings.get("n_ctx") or 0)
        if self.n_ctx <= 0:
            raise ServerError(f"The server at {client.url} did not report its context size (/props).")
        self.total_slots = int(props.get("total_slots") or 1)
        self.marker = str(props.get("media_marker") or "<__media__>")
        self.build_info = str(props.get("build_info") or "")
        self.frame_pairs = bool(props.get("multimodal_frame_pairs"))
        self.picture_refs = bool(props.get("multimodal_picture_refs"))
        if not self.frame_pairs:
            log.warning(
                "The server at %s is a stock llama-server: it cannot take two frames as one temporal patch, so "
                "each frame pair goes as its %s frame. `livecc-desk serve` (make server) runs one that can.",
                client.url,
                self.options.pair_frame,
            )
        self.n_ctx_train = self._trained_context()
        # Protected endpoint: a wrong API key fails here, before any frame.
        probe = client.post("/tokenize", {"content": "".join(_QWEN_SPECIALS), "parse_special": True})
        ids = _ids(probe)
        if len(ids) != len(_QWEN_SPECIALS):
            raise ServerModelError(
                f"The server at {client.url} serves {self.model_name}, which is not a Qwen2-VL/LiveCC model "
                "(its vocabulary lacks the Qwen chat and vision tokens)."
            )
        self.im_end = ids[1]
        eos = client.post("/tokenize", {"content": "<|endoftext|>", "parse_special": True})
        self._eog = {self.im_end} | set(_ids(eos)[:1] if len(_ids(eos)) == 1 else [])
        silence = self._tokens(SILENCE)
        self.silence_token = silence[0] if len(silence) == 1 else None

    def _trained_context(self) -> int:
        try:
            models = self.client.get("/v1/models")
            meta = (models.get("data") or [{}])[0].get("meta") or {}
            return int(meta.get("n_ctx_train") or 32768)
        except (ServerError, AttributeError, IndexError, TypeError, ValueError):
            return 32768

    def info(self) -> EngineInfo:
        slots = f", {self.total_slots} slots" if self.total_slots > 1 else ""
        stock = "" if self.frame_pairs else "; stock server: one frame per pair"
        return EngineInfo(
            self.model_name, f"llama-server at {self.client.url} ({self.n_ctx}-token context{slots}{stock})", False
        )

    def close(self) -> None:
        self.client.close()
        self._encoder.shutdown(wait=True)

    def reset(self) -> None:
        """Forget the stream; the server's cache is simply not matched by the next prompt."""
        self.ledger.clear()
        self._pieces.clear()
        self._sink_pieces = 0
        self._framed.clear()
        self._images.clear()
        self._server_has.clear()
        self._reply_text.clear()
        self._query_sent = None
        self.n_past = 0

    # ---------------------------------------------------------- streaming
    def feed(self, chunk: VideoChunk) -> Iterator[ChunkStarted | CommentaryDelta | ChunkDone]:
        """Run one LiveCC turn on ``chunk`` on the server; yields events as tokens arrive."""
        started = time.perf_counter()
        yield ChunkStarted(chunk.index, chunk.t0, chunk.t1)
        query = self.query if self.query != self._query_sent else None
        frames = self._pictures_to_send([f.rgb for f in chunk.frames])
        images = list(self._encoder.map(self._encode, frames))
        parts = chunk_turn(chunk.t0, chunk.t1, len(images), query, first=not self.ledger.turns_started, marker=_MARK)
        turn, evicted, new_tokens, reprimed = self._append_turn(
            parts,
            images,
            self._group_sizes(frames),
            has_query=query is not None,
            reserve=self.options.max_new_tokens,
            t0=chunk.t0,
            t1=chunk.t1,
        )
        self._keep_frames(turn, frames, images)
        if query is not None:
            self._query_sent = query
        pieces: list[str] = []
        held = ""
        n_generated = 0
        first_token_at = None
        for token, text in self._complete(
            turn, self.options.max_new_tokens, self.options.sampling, new_tokens, reprimed
        ):
            if first_token_at is None:
                first_token_at = time.perf_counter()
            n_generated += 1
            if n_generated == 1 and token == self.silence_token:
                held = text
                continue
            text, held = held + text, ""
            pieces.append(text)
            if text:
                yield CommentaryDelta(chunk.t0, chunk.t1, text)
        reply = "".join(pieces)
        stats = self._stats(new_tokens, n_generated, evicted, started, first_token_at)
        yield ChunkDone(chunk.index, chunk.t0, chunk.t1, reply if reply.strip() else "", stats)

    def ask(self, question: str, max_new_tokens: int | None = None) -> Iterator[AnswerDelta | AnswerDone]:
        """Answer a question about what the server has seen, on the same context (greedy)."""
        started = time.perf_counter()
        limit = max_new_tokens or self.options.answer_max_tokens
        parts = question_turn(question.strip(), first=not self.ledger.turns_started)
        turn, evicted, new_tokens, reprimed = self._append_turn(
            parts, [], [], has_query=False, reserve=limit, question=question.strip()
        )
        sampling = SamplingOptions(greedy=True, repetition_penalty=self.options.sampling.repetition_penalty)
        pieces: list[str] = []
        first_token_at = None
        for _token, text in self._complete(turn, limit, sampling, new_tokens, reprimed):
            first_token_at = first_token_at or time.perf_counter()
            pieces.append(text)
            if text:
                yield AnswerDelta(text)
        stats = self._stats(new_tokens, len(pieces), evicted, started, first_token_at)
        yield AnswerDone(question, "".join(pieces).strip(), stats)

    # ---------------------------------------------------------- internals
    def _pictures_to_send(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The pictures sent for a chunk's frames: all of them, which the server merges pair by pair;
        on a stock server, one per LiveCC frame pair (a still image is a temporal patch of itself)."""
        if self.frame_pairs:
            return list(frames)
        pick = 1 if self.options.pair_frame == "last" else 0
        return [frames[min(i + pick, len(frames) - 1)] for i in range(0, len(frames), 2)]

    def _group_sizes(self, pictures: Sequence[np.ndarray]) -> list[tuple[int, int]]:
        """(height, width) of each temporal group the pictures become: one per pair (or odd last frame)."""
        step = 2 if self.frame_pairs else 1
        return [(int(f.shape[0]), int(f.shape[1])) for f in pictures[::step]]

    def _encode(self, rgb: np.ndarray) -> _Picture:
        """The picture as the server gets it: a PNG (or JPEG) file in base64."""
        import cv2

        bgr = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2BGR)
        if self.options.image_format == "jpeg":
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.options.jpeg_quality])
        else:
            ok, buf = cv2.imencode(".png", bgr, _png_params())
        if not ok:
            raise ServerError(f"Could not encode a {rgb.shape[1]}x{rgb.shape[0]} frame for the server.")
        data = buf.tobytes()
        return _Picture(base64.b64encode(data).decode("ascii"), "sha256:" + hashlib.sha256(data).hexdigest())

    def _tokens(self, text: str, cache: bool = True) -> list[int]:
        """The server's token ids of ``text`` (special tokens parsed), cached."""
        cached = self._token_cache.get(text) if cache else None
        if cached is None:
            if len(self._token_cache) > 4096:
                self._token_cache.clear()
            body = {"content": text, "parse_special": True}
            try:
                cached = _ids(self.client.post("/tokenize", body))
            except ServerError:
                if not self.options.reconnect_s or not self._await_server():
                    raise
                cached = _ids(self.client.post("/tokenize", body))
            self._token_cache[text] = cached
        return cached

    def _tokenize(self, text: str, images: Sequence[_Picture], groups_hw: Sequence[tuple[int, int]]) -> _Tokenized:
        """Cells and positions of a part, as mtmd counts them. Each temporal group (a frame pair, or
        a still picture) of h x w pixels is (h/28)(w/28) tokens. On our server the groups of a chunk
        form ONE vision segment, as locally: ``<|vision_start|>``, the groups at temporal positions
        0, 1, ..., ``<|vision_end|>``, max(groups, h/28, w/28) positions in all; on a stock server
        each group is a segment of its own."""
        if not images:
            tokens = self._tokens(text) if text else []
            return _Tokenized(text, [], len(tokens), len(tokens), tokens)
        vs_ve = self._tokens("<|vision_start|><|vision_end|>")
        n_tokens = n_pos = 0
        text_tokens: list[int] = []
        for (h, w), n_groups in _segments(groups_hw, join=self.frame_pairs):
            gh, gw = _grid(h), _grid(w)
            n_tokens += n_groups * gh * gw + 2
            n_pos += max(n_groups, gh, gw) + 2
            text_tokens += vs_ve
        return _Tokenized(text, list(images), n_tokens, n_pos, text_tokens)

    def _append_turn(
        self,
        parts: list[PromptPart],
        images: list[_Picture],
        hw: list[tuple[int, int]],
        *,
        has_query: bool,
        reserve: int,
        t0: float | None = None,
        t1: float | None = None,
        question: str | None = None,
    ) -> tuple[Turn, int, int, bool]:
        tokenized = [
            self._tokenize(p.text, images if p.kind is PartKind.VISION else [], hw if p.kind is PartKind.VISION else [])
            for p in parts
        ]
        new_tokens = sum(t.n_tokens for t in tokenized)
        evicted, reprimed = self._make_room(new_tokens + reserve)
        turn = self.ledger.new_turn(has_query, t0=t0, t1=t1, question=question)
        for part, tok in zip(parts, tokenized):
            p0 = self.n_past
            self.n_past += tok.n_pos
            self.ledger.add(turn, Span(part.kind, p0, self.n_past, tok.n_tokens, list(tok.text_tokens)))
            self._add_text_and_images(part.text, tok.images, sink=part.kind is PartKind.SINK)
        return turn, evicted, new_tokens, reprimed

    def _add_text_and_images(self, text: str, images: Sequence[_Picture], *, sink: bool = False) -> None:
        """Append ``text`` whose markers stand for ``images`` to the prompt."""
        segments = text.split(_MARK)
        if len(segments) - 1 != len(images):
            raise AssertionError("one media marker per picture")
        for i, segment in enumerate(segments):
            if segment:
                self._pieces.append(_Piece(segment))
            if i < len(images):
                self._pieces.append(_Piece(image=images[i]))
        if sink:
            self._sink_pieces = len(self._pieces)

    def _make_room(self, needed: int) -> tuple[int, bool]:
        request = RoomRequest(needed, self.n_ctx, self.n_past, self.n_ctx_train)
        plan = self.policy.reprime(self.ledger, request)
        evicted = 0
        reprimed = False
        if plan is not None:
            evicted = self._reprime(plan)
            reprimed = True
        if self.policy.plan(self.ledger, needed, self.n_ctx):
            # The prompt-cache policy never plans removals; another policy's would break the cache prefix.
            raise AssertionError(f"{self.policy.name} removes spans; a remote engine needs PromptCachePolicy")
        return evicted, reprimed

    def _reprime(self, plan) -> int:
        """Rebuild the prompt after the sink in one step (what ``rebuild_after_sink`` does locally)."""
        sink = self.ledger.sink
        assert sink is not None
        cells_before = self.ledger.used
        del self._pieces[self._sink_pieces :]
        for turn in self.ledger.truncate_to_sink():
            turn.has_query = False
        self.n_past = sink.p1
        query = self._query_sent or self.query
        for i, turn in enumerate(plan.turns):
            turn.has_query = i == 0
            self.ledger.restore(turn)
            with_frames = turn.index in plan.with_frames
            for piece in turn_pieces(turn, first=i == 0, with_frames=with_frames, query=query, marker=_MARK):
                p0 = self.n_past
                if piece.tokens is not None:  # a kept reply: its ids, written as its text
                    text = self._reply_text.get(turn.index, "")
                    self.n_past += len(piece.tokens)
                    self.ledger.add(turn, Span(PartKind.REPLY, p0, self.n_past, len(piece.tokens), piece.tokens))
                    self._add_text_and_images(text, [])
                    continue
                images = self._images.get(turn.index, []) if piece.frames else []
                tok = self._tokenize(piece.text, images, self._group_sizes(piece.frames))
                self.n_past += tok.n_pos
                self.ledger.add(turn, Span(piece.kind, p0, self.n_past, tok.n_tokens, list(tok.text_tokens)))
                self._add_text_and_images(piece.text, images)
        kept = {t.index for t in plan.turns}
        self._reply_text = {i: text for i, text in self._reply_text.items() if i in kept}
        self.reprime_count += 1
        return max(0, cells_before - self.ledger.used)

    def _keep_frames(self, turn: Turn, frames: list[np.ndarray], images: list[_Picture]) -> None:
        if self.policy.keep_frames <= 0 or not frames:
            return
        turn.frames = tuple(frames)
        self._images[turn.index] = images
        self._framed.append(turn)
        while len(self._framed) > self.policy.keep_frames:
            old = self._framed.popleft()
            old.frames = None
            self._images.pop(old.index, None)

    def _request(self, limit: int, sampling: SamplingOptions) -> bytes:
        """The ``/completion`` body, serialised; the pictures are spliced in as the strings they already are:
        a picture the server holds by its ``sha256:`` name, any other one whole."""
        text = "".join(self.marker if p.image is not None else p.text for p in self._pieces)
        held = self._server_has
        images = [p.image.ref if p.image.ref in held else p.image.data for p in self._pieces if p.image is not None]
        body = self._settings(limit, sampling)
        if not images:
            return json.dumps({"prompt": text, **body}).encode()
        prompt: dict = {"prompt_string": text, "multimodal_data": _PICTURES_SLOT}
        if self.frame_pairs:
            prompt["multimodal_frame_pairs"] = True
        head, slot, tail = json.dumps({"prompt": prompt, **body}).rpartition(json.dumps(_PICTURES_SLOT))
        assert slot, "the pictures' place in the body"
        return "".join((head, '["', '","'.join(images), '"]', tail)).encode()

    def _settings(self, limit: int, sampling: SamplingOptions) -> dict:
        """What a ``/completion`` asks besides the prompt: the LiveCC stop and sampling rules."""
        body: dict = {
            "n_predict": limit,
            "cache_prompt": True,
            "stream": True,
            "return_tokens": True,
            "id_slot": self.options.id_slot,
            "repeat_penalty": sampling.repetition_penalty,
            "repeat_last_n": self.n_ctx,
            "frequency_penalty": 0.0,
            "presence_penalty": 0.0,
            "seed": sampling.seed,
            "n_probs": 0,
        }
        if sampling.greedy or sampling.temperature <= 0:
            body.update(temperature=0.0, samplers=["penalties", "temperature"])
        else:
            body.update(
                temperature=sampling.temperature,
                top_k=sampling.top_k,
                top_p=sampling.top_p,
                min_p=0.0,
                samplers=["penalties", "temperature", "top_k", "top_p"],
            )
        return body

    def _complete(
        self, turn: Turn, limit: int, sampling: SamplingOptions, new_tokens: int, reprimed: bool
    ) -> Iterator[tuple[int, str]]:
        """Stream the reply: yield (token, text) per generated token; then keep all
        but the last token (or all before ``<|im_end|>``), as the local engine does."""
        ids: list[int] = []
        texts: list[str] = []
        last: dict = {}
        shown: list[int] = []  # tokens already yielded (a reconnected request's first ones come again)
        reconnected = False
        while True:
            ids, texts, last = [], [], {}
            try:
                for event in self.client.stream("/completion", self._request(limit, sampling)):
                    last = event
                    content = str(event.get("content") or "")
                    spoken = [int(t) for t in event.get("tokens") or [] if int(t) not in self._eog]
                    if not spoken:
                        if content and texts:
                            texts[-1] += content
                        continue
                    # One event per token; a token that ends inside a UTF-8 character is not streamed
                    # (its bytes come with the next token's event), which the count below detects.
                    for j, token in enumerate(spoken):
                        piece = content if j == len(spoken) - 1 else ""
                        ids.append(token)
                        texts.append(piece)
                        if len(ids) <= len(shown):
                            if token != shown[len(ids) - 1]:
                                raise ServerError(
                                    f"The server at {self.client.url} came back but answered this chunk "
                                    "differently; its commentary is incomplete."
                                )
                            continue
                        shown.append(token)
                        yield token, piece
                break
            except ServerError as exc:
                if _MEMO_MISS in str(exc) and self._server_has and not ids:
                    log.info("%s no longer holds a picture: sending them all again", self.client.url)
                    self._server_has.clear()
                    continue
                self._server_has.clear()
                if reconnected or not self.options.reconnect_s or not self._await_server():
                    raise
                reconnected = True  # the whole prompt goes again: a restarted server evaluates all of it
        if self.picture_refs:  # the pictures of this prompt (older ones are never sent again)
            self._server_has = {p.image.ref for p in self._pieces if p.image is not None}
        eos = last.get("stop_type") == "eos"
        predicted = int(last.get("tokens_predicted", len(ids) + eos))
        every_id = len(ids) + eos == predicted
        if eos:  # everything before <|im_end|> was evaluated into the server's cache
            kept_text = "".join(texts)
            kept = ids if every_id else self._tokens(kept_text, cache=False)
        elif every_id:  # the limit: the last token was generated but not evaluated
            kept = ids[:-1]
            kept_text = "".join(texts[:-1]) if all(texts) else self._detokenize(kept)
        else:  # rare: a token was not streamed; drop the last event's text, the server re-reads the rest
            kept_text = "".join(texts[:-1])
            kept = self._tokens(kept_text, cache=False) if kept_text else []
        if kept:
            reply = Span(PartKind.REPLY, self.n_past, self.n_past + len(kept), len(kept), list(kept))
            self.ledger.add(turn, reply)
            turn.reply = reply.tokens
            self.n_past += len(kept)
            self._reply_text[turn.index] = kept_text
            self._add_text_and_images(kept_text, [])
        self._record(last, new_tokens, reprimed, reconnected)

    def _await_server(self) -> bool:
        """Wait up to ``reconnect_s`` for the server to answer again with the same model and context."""
        deadline = time.monotonic() + self.options.reconnect_s
        while time.monotonic() < deadline:
            try:
                self.client.close()
                if self.client.get("/health").get("status", "ok") == "ok":
                    props = self.client.get("/props")
                    settings = props.get("default_generation_settings") or {}
                    if (
                        _model_name(str(props.get("model_path") or "")) != self.model_name
                        or int(settings.get("n_ctx") or 0) != self.n_ctx
                        or bool(props.get("multimodal_frame_pairs")) != self.frame_pairs
                    ):
                        raise ServerModelError(
                            f"The server at {self.client.url} came back with another model, context size or "
                            "llama-server build."
                        )
                    self.marker = str(props.get("media_marker") or self.marker)
                    self._reconnected = True
                    log.warning("reconnected to %s; the prompt is evaluated again", self.client.url)
                    return True
            except ServerError:
                pass
            time.sleep(0.25)
        return False

    def _detokenize(self, kept: list[int]) -> str:
        return str(self.client.post("/detokenize", {"tokens": kept}).get("content", ""))

    def _record(self, event: dict, new_tokens: int, reprimed: bool, reconnected: bool = False) -> None:
        timings = event.get("timings") or {}
        figures = ServerFigures(
            prompt_n=int(timings.get("prompt_n", -1)),
            cache_n=int(timings.get("cache_n", event.get("tokens_cached", -1))),
            prompt_tokens=int(event.get("tokens_evaluated", -1)),
            new_tokens=new_tokens,
            predicted_n=int(timings.get("predicted_n", -1)),
            prompt_ms=float(timings.get("prompt_ms", 0.0)),
            predicted_ms=float(timings.get("predicted_ms", 0.0)),
            reprimed=reprimed,
            reconnected=reconnected or self._reconnected,
        )
        self._reconnected = False
        self.server_figures.append(figures)
        self._server_seconds = (figures.prompt_ms + figures.predicted_ms) / 1000.0

    def _stats(
        self, new_tokens: int, n_generated: int, evicted: int, started: float, first_token_at: float | None
    ) -> ChunkStats:
        now = time.perf_counter()
        prefilled = first_token_at or now
        return ChunkStats(
            prompt_tokens=new_tokens,
            generated_tokens=n_generated,
            evicted_tokens=evicted,
            kv_tokens=self.ledger.used,
            n_past=self.n_past,
            prefill_s=prefilled - started,
            generate_s=now - prefilled,
            wall_s=now - started,
            llama_s=getattr(self, "_server_seconds", 0.0),
        )


def _png_params() -> list[int]:
    """Fast lossless PNG: zlib level 1 and one fixed row filter ("up"): cheap for us to encode and for
    the server to decode (each picture once on our server, on every request on a stock one: OpenCV's
    default adaptive filter, mostly Paeth, costs it more; BENCHMARKS.md section 7). Same pixels."""
    import cv2

    params = [cv2.IMWRITE_PNG_COMPRESSION, 1]
    if hasattr(cv2, "IMWRITE_PNG_FILTER"):  # OpenCV 4.11+
        params += [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]
    return params


def _segments(groups_hw: Sequence[tuple[int, int]], *, join: bool) -> list[tuple[tuple[int, int], int]]:
    """((height, width), number of groups) of each vision segment: with ``join``, each run of adjacent
    groups of one size is one segment (what mtmd does for frames marked as one video segment)."""
    out: list[tuple[tuple[int, int], int]] = []
    for hw in groups_hw:
        if join and out and out[-1][0] == hw:
            out[-1] = (hw, out[-1][1] + 1)
        else:
            out.append((hw, 1))
    return out


def _grid(side: int) -> int:
    """Merged-patch count along a side of a frame already resized to multiples of 28."""
    return max(1, round(side / _PATCH))


def _ids(payload: dict) -> list[int]:
    return [int(t["id"]) if isinstance(t, dict) else int(t) for t in payload.get("tokens") or []]


def _model_name(path_or_name: str) -> str:
    """``tiny-qwen2vl`` for ``/models/tiny-qwen2vl.gguf`` (a name stays a name)."""
    name = path_or_name.replace("\\", "/").rsplit("/", 1)[-1]
    return name[:-5] if name.lower().endswith(".gguf") else name


__all__ = ["LlamaServerClient", "RemoteEngine", "RemoteOptions", "ServerFigures", "IM_END", "IM_START"]
