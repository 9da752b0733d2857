"""Ours against what a user would write instead: the chat-completion loop.

The obvious way to commentate a stream with llama-cpp-python is its
OpenAI-style API with a multimodal chat handler (``Qwen25VLChatHandler``,
whose chat template is Qwen2-VL's): after every chunk, append a user message
with the chunk's frames (as JPEG data URLs) and its ``Time=a-bs`` label, call
``create_chat_completion`` with the whole conversation, append the reply. The
handler clears the cache and evaluates the conversation again on every call,
every frame re-encoded, so a chunk costs more the longer the stream runs.

Both loops get the same chunks, interleaved (alternating which goes first),
with 16 new tokens at most per chunk (greedy, repetition penalty 1.05). The
script prints the per-chunk time of each around chunk 30 and chunk 60 (median
of the 5 chunks ending there) and the ratios.

    .venv/bin/python bench/naive_chat.py [--chunks 61] [--threads 1]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import os
import time

import cv2
from common import generated_chunks, load_average, median, tiny_model

from models.engine.livecc_engine import EngineOptions, LiveCCEngine
from models.engine.llama_runtime import RuntimeOptions
from models.engine.prompt import DEFAULT_QUERY, format_span
from models.engine.records import VideoChunk
from models.engine.streaming_policy import StreamingWindowPolicy
from models.engine.token_sampler import SamplingOptions


def data_url(rgb) -> str:
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return "data:image/jpeg;base64," + base64.b64encode(jpg.tobytes()).decode()


class NaiveChatLoop:
    """The growing-conversation loop through ``Llama.create_chat_completion``."""

    def __init__(self, text_path, mmproj_path, n_ctx: int, threads: int) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Qwen25VLChatHandler

        with contextlib.redirect_stderr(io.StringIO()):
            handler = Qwen25VLChatHandler(clip_model_path=str(mmproj_path), verbose=False)
            self.llm = Llama(
                model_path=str(text_path),
                chat_handler=handler,
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                n_batch=2048,
                n_ubatch=512,
                verbose=False,
            )
        self.messages: list[dict] = []

    def feed(self, chunk: VideoChunk) -> str:
        content = [{"type": "text", "text": format_span(chunk.t0, chunk.t1)}]
        content += [{"type": "image_url", "image_url": {"url": data_url(f.rgb)}} for f in chunk.frames]
        if not self.messages:
            content.append({"type": "text", "text": DEFAULT_QUERY})
        self.messages.append({"role": "user", "content": content})
        out = self.llm.create_chat_completion(
            messages=self.messages, max_tokens=16, temperature=0.0, repeat_penalty=1.05
        )
        reply = out["choices"][0]["message"]["content"] or ""
        self.messages.append({"role": "assistant", "content": reply})
        return reply

    def close(self) -> None:
        self.llm.close()


def around(times: list[float], n: int) -> float:
    """Median of the 5 chunk times ending at chunk ``n`` (1-based)."""
    return median(times[max(0, n - 5) : n])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=61)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--source", default="1920x1080")
    ap.add_argument("--n-ctx", type=int, default=8192, help="our engine's context")
    args = ap.parse_args()
    tiny = tiny_model()
    seconds = 3 + (args.chunks - 1)
    chunks = list(generated_chunks(seconds, args.source))[: args.chunks]
    ours = LiveCCEngine(
        tiny.text_path,
        tiny.mmproj_path,
        EngineOptions(
            runtime=RuntimeOptions(n_ctx=args.n_ctx, n_threads=args.threads), sampling=SamplingOptions(greedy=True)
        ),
        policy=StreamingWindowPolicy(),
    )
    # The conversation keeps every frame: ~2 x 370 tokens per chunk (each frame is its own image).
    naive = NaiveChatLoop(tiny.text_path, tiny.mmproj_path, n_ctx=4096 + 800 * args.chunks, threads=args.threads)
    print(
        f"tiny model, {len(chunks)} chunks, frames {chunks[1].frames[0].width}x{chunks[1].frames[0].height}, "
        f"{args.threads} thread(s), load average {load_average()}"
    )
    t_ours: list[float] = []
    t_naive: list[float] = []
    for chunk in chunks:
        for who in ("ours", "naive") if chunk.index % 2 else ("naive", "ours"):
            t = time.perf_counter()
            if who == "ours":
                ours.process(chunk)
            else:
                naive.feed(chunk)
            (t_ours if who == "ours" else t_naive).append(time.perf_counter() - t)
        if chunk.index % 10 == 0:
            print(
                f"  chunk {chunk.index:3d}: ours {t_ours[-1] * 1e3:7.1f} ms, chat loop {t_naive[-1] * 1e3:8.1f} ms, "
                f"load {load_average()}",
                flush=True,
            )
    ours.close()
    naive.close()
    for n in (30, 60):
        if n <= len(chunks):
            o, c = around(t_ours, n), around(t_naive, n)
            print(
                f"after {n} chunks: ours {o * 1e3:.1f} ms per chunk, chat-completion loop {c * 1e3:.1f} ms "
                f"-> {c / o:.1f}x"
            )
    if len(chunks) >= 60:
        print(
            f"growth from chunk 30 to 60: ours {around(t_ours, 60) / around(t_ours, 30):.2f}x, "
            f"chat loop {around(t_naive, 60) / around(t_naive, 30):.2f}x"
        )
    print(
        f"total for {len(chunks)} chunks: ours {sum(t_ours):.1f} s, chat loop {sum(t_naive):.1f} s "
        f"(load average now {load_average()})"
    )


if __name__ == "__main__":
    os.environ.setdefault("LLAMA_LOG_LEVEL", "error")
    main()
