"""Watch what an engine asks llama.cpp to tokenize, without changing what it does."""

from __future__ import annotations


def spy_prompts(engine) -> list[tuple[str, int]]:
    """Record (text, number of frames) of every prompt part the engine tokenizes from now on.

    The real tokenizer still runs: llama.cpp sees exactly what it would have.
    """
    seen: list[tuple[str, int]] = []
    real = engine.runtime.tokenize_part

    def tokenize_part(text, frames=()):
        seen.append((text, len(frames)))
        return real(text, frames)

    engine.runtime.tokenize_part = tokenize_part
    return seen
