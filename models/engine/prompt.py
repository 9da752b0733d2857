"""The LiveCC streaming prompt, exactly as the official release writes it.

Pure string building, no model: the engine tokenizes what this module returns.
Each turn is split into *parts* so the engine can record where every part lands
in the KV cache (the context policy keeps the system prompt and the query and
may drop the rest). Vision is written as one media marker per frame; the
multimodal tokenizer replaces consecutive markers by the frames and wraps each
2-frame temporal patch in ``<|vision_start|>`` ... ``<|vision_end|>`` itself.

Reference: showlab/livecc ``demo/infer.py`` (``live_cc`` and ``video_qa``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

SYSTEM_PROMPT = "You are a helpful assistant."
DEFAULT_QUERY = "Please describe the video."
SILENCE = " ..."

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"


class PartKind(str, Enum):
    """What a span of the context holds; the context policy decides by kind."""

    SINK = "sink"  # system prompt and the opening of the first user turn
    TIME = "time"  # "<|im_end|>\n<|im_start|>user\nTime=a-bs" (opens a chunk turn)
    VISION = "vision"  # the frames of one chunk
    QUERY = "query"  # the user's query text
    HEADER = "header"  # "<|im_end|>\n<|im_start|>assistant\n"
    QUESTION = "question"  # a question turn in conversation mode
    REPLY = "reply"  # generated tokens kept in the cache


@dataclass(frozen=True)
class PromptPart:
    """One piece of a turn: text with ``n_frames`` media markers appended."""

    kind: PartKind
    text: str
    n_frames: int = 0


def format_span(t0: float, t1: float) -> str:
    """``Time=3.0-4.0s``: seconds with one decimal, as the model was trained."""
    return f"Time={t0:.1f}-{t1:.1f}s"


def chunk_turn(t0: float, t1: float, n_frames: int, query: str | None, *, first: bool, marker: str) -> list[PromptPart]:
    """The parts of one streaming turn.

    The first turn opens the chat with the system prompt; later turns start with
    ``<|im_end|>\\n``, which closes the previous assistant reply (its last token
    was never kept in the cache). ``query`` is given on the first turn and again
    whenever the user changes it, else ``None``.
    """
    parts: list[PromptPart] = []
    if first:
        parts.append(
            PromptPart(
                PartKind.SINK,
                f"{IM_START}system\n{SYSTEM_PROMPT}{IM_END}\n{IM_START}user\n",
            )
        )
        parts.append(PromptPart(PartKind.TIME, format_span(t0, t1)))
    else:
        parts.append(PromptPart(PartKind.TIME, f"{IM_END}\n{IM_START}user\n{format_span(t0, t1)}"))
    parts.append(PromptPart(PartKind.VISION, marker * n_frames, n_frames))
    if query:
        parts.append(PromptPart(PartKind.QUERY, query))
    parts.append(PromptPart(PartKind.HEADER, f"{IM_END}\n{IM_START}assistant\n"))
    return parts


def question_turn(question: str, *, first: bool) -> list[PromptPart]:
    """A conversation-mode turn: the user's question, then the assistant header."""
    opening = f"{IM_START}system\n{SYSTEM_PROMPT}{IM_END}\n{IM_START}user\n" if first else f"{IM_END}\n{IM_START}user\n"
    return [
        PromptPart(PartKind.SINK if first else PartKind.QUESTION, opening),
        PromptPart(PartKind.QUESTION, question),
        PromptPart(PartKind.HEADER, f"{IM_END}\n{IM_START}assistant\n"),
    ]


def render(parts: list[PromptPart], vision_text: str = "<|vision_start|>VIDEO<|vision_end|>") -> str:
    """The turn as one string, each frame group shown as ``vision_text``.

    For tests and logs: it is the prompt the reference implementation builds.
    """
    out = []
    for part in parts:
        out.append(vision_text if part.kind is PartKind.VISION else part.text)
    return "".join(out)
