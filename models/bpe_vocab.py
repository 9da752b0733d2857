"""GPT-2-style byte-level BPE vocabularies, in the form llama.cpp reads from a GGUF.

One record, ``Vocab``, serves two producers: the tiny test model, whose
vocabulary is built here from a word list so that random output still reads as
words, and the Hugging Face converter, which reads Qwen2-VL's ``tokenizer.json``.
Both end in ``Vocab.add_to_gguf``, so the tokenizer keys are written one way.

Qwen-specific facts kept here: the pre-tokenizer is llama.cpp's ``qwen2``, no BOS
is added, EOS is ``<|im_end|>``, and the added ``<|...|>`` tokens are CONTROL
tokens (parsed as one token only with ``parse_special``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import gguf

from models.errors import ModelError

# Qwen2-VL's added tokens, in its id order (they follow the BPE tokens).
QWEN2VL_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# Qwen2-VL-Instruct's chat template, as its tokenizer config ships it.
QWEN2VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Pieces the tiny vocabulary makes into single tokens. Words carry the leading
# space the Qwen2 pre-tokenizer keeps on them; " ..." is LiveCC's "nothing to say".
COMMENTARY_PIECES: tuple[str, ...] = tuple(
    " " + w
    for w in """
    the a an and or but of to in on at by for with from into over under up down out off
    is are was were be been has have had do does did can will would could should may
    it its he she they we you his her their our this that these those there here
    what who when where why how not no yes all one two three four five ten first last
    ball player players team teams shot shots goal goals pass passes left right wing
    centre center midfield defender defenders keeper goalkeeper striker forward back
    cross corner kick free penalty box area line post bar net header save saves tackle
    foul card yellow red referee whistle half time minute minutes score scores scored
    lead leads game match season league cup final fans crowd stadium pitch field court
    run runs running moves move fast quick slow great good nice big huge close near far
    long short high low wide open space chance chances attack attacks defence defense
    press pressure counter break through behind ahead again now still just only well
    takes take gets get goes go comes come looks look keeps keep plays play played
    great brilliant superb what easy hard end start second third point points basket
    three rebound dunk court serve ace set rally racket lap car driver turn race track
    camera screen window video frame scene person man woman people hand hands head
    standing walking sitting holding shows showing see seen watch watching
    """.split()
) + (
    " ...",
    "...",
    " -",
    " (",
    ")",
    "'s",
    ".\n",
    ",",
    "The",
    "He",
    "She",
    "They",
    "It",
    "What",
    "And",
    "Now",
    "That",
    "This",
    "A",
)

# Words of the chat template and the LiveCC prompt, so prompts tokenize compactly.
PROMPT_PIECES: tuple[str, ...] = ("system", "user", "assistant", "You", " helpful", "Time")


@cache
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte → printable character table that byte-level BPE tokens are spelled in."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def to_byte_level(text: str) -> str:
    """Spell ``text`` the way byte-level BPE tokens are stored (space → ``Ġ``, newline → ``Ċ``)."""
    table = bytes_to_unicode()
    return "".join(table[b] for b in text.encode("utf-8"))


def bpe_merge(symbols: Sequence[str], ranks: Mapping[tuple[str, str], int]) -> list[str]:
    """Apply BPE merges to one pre-tokenized piece: lowest rank first, leftmost on ties.

    This is the rule both Hugging Face and llama.cpp follow, used here to check that
    every word of a built vocabulary really becomes one token.
    """
    parts = list(symbols)
    while len(parts) > 1:
        best = min(range(len(parts) - 1), key=lambda i: ranks.get((parts[i], parts[i + 1]), 1 << 62))
        if (parts[best], parts[best + 1]) not in ranks:
            break
        parts[best : best + 2] = [parts[best] + parts[best + 1]]
    return parts


@dataclass(frozen=True)
class Vocab:
    """A complete tokenizer for a GGUF: tokens by id, their types, merges by rank.

    ``tokens`` are in byte-level spelling; ``token_types`` hold ``gguf.TokenType``
    values; ``merges`` are ``"left right"`` strings, highest priority first.
    """

    tokens: tuple[str, ...]
    token_types: tuple[int, ...]
    merges: tuple[str, ...]
    eos_id: int
    bos_id: int | None = None
    pad_id: int | None = None
    add_bos: bool = False
    pre: str = "qwen2"
    chat_template: str | None = None

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.token_types):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.token_types)} token types")
        for tid in (self.eos_id, self.bos_id, self.pad_id):
            if tid is not None and not 0 <= tid < len(self.tokens):
                raise ValueError(f"special token id {tid} outside the vocabulary of {len(self.tokens)}")

    def __len__(self) -> int:
        return len(self.tokens)

    @cached_property
    def _ids(self) -> dict[str, int]:
        return {tok: i for i, tok in enumerate(self.tokens)}

    def token_id(self, token: str) -> int:
        """Id of a token given in stored (byte-level) spelling; KeyError if absent."""
        return self._ids[token]

    def padded(self, size: int) -> Vocab:
        """The same vocabulary grown to ``size`` with unused ``[PADn]`` tokens.

        llama.cpp takes the vocabulary size from the token list, and it must equal the
        embedding matrix's rows (Qwen2-VL-7B: 152,064 rows for 151,657 real tokens).
        """
        if size < len(self.tokens):
            raise ValueError(f"cannot pad a vocabulary of {len(self.tokens)} down to {size}")
        n = len(self.tokens)
        return replace(
            self,
            tokens=self.tokens + tuple(f"[PAD{i}]" for i in range(n, size)),
            token_types=self.token_types + (int(gguf.TokenType.UNUSED),) * (size - n),
        )

    def add_to_gguf(self, writer: gguf.GGUFWriter) -> None:
        """Write the ``tokenizer.*`` keys of a text GGUF."""
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre(self.pre)
        writer.add_token_list(list(self.tokens))
        writer.add_token_types(list(self.token_types))
        writer.add_token_merges(list(self.merges))
        writer.add_eos_token_id(self.eos_id)
        if self.bos_id is not None:
            writer.add_bos_token_id(self.bos_id)
        if self.pad_id is not None:
            writer.add_pad_token_id(self.pad_id)
        # llama.cpp's default for BPE vocabularies differs per pre-tokenizer: state it.
        writer.add_add_bos_token(self.add_bos)
        writer.add_add_eos_token(False)
        if self.chat_template:
            writer.add_chat_template(self.chat_template)

    @classmethod
    def from_hf_tokenizer_json(
        cls,
        path: str | Path,
        tokenizer_config: Mapping[str, Any] | None = None,
        model_config: Mapping[str, Any] | None = None,
    ) -> Vocab:
        """Read a Hugging Face fast tokenizer (``tokenizer.json``) and its config.

        ``tokenizer_config`` defaults to ``tokenizer_config.json`` beside ``path``; the chat
        template falls back to ``chat_template.json`` / ``chat_template.jinja`` there.
        ``model_config`` (``config.json``) supplies ``bos_token_id`` when the tokenizer has
        none, as Qwen's does, and ``vocab_size``, to which the list is padded.
        """
        path = Path(path)
        folder = path.parent
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if tokenizer_config is None:
                cfg_path = folder / "tokenizer_config.json"
                tokenizer_config = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
        except (OSError, ValueError) as exc:
            raise ModelError(f"Cannot read the tokenizer {path}: {exc}. Download the model folder again.") from exc
        model = data.get("model") or {}
        if model.get("type") != "BPE" or not isinstance(model.get("vocab"), dict):
            raise ModelError(f"{path} is not a byte-level BPE tokenizer; LiveCC needs Qwen2-VL's tokenizer.json.")

        by_id: dict[int, str] = {int(i): tok for tok, i in model["vocab"].items()}
        types: dict[int, int] = {i: int(gguf.TokenType.NORMAL) for i in by_id}
        for added in data.get("added_tokens") or []:
            tid, content = int(added["id"]), added["content"]
            by_id[tid] = content
            looks_special = content.startswith("<|") and content.endswith("|>")
            special = added.get("special", False) or looks_special
            types[tid] = int(gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED)

        size = max(by_id) + 1
        if model_config and "vocab_size" in model_config:
            size = max(size, int(model_config["vocab_size"]))
        tokens = tuple(by_id.get(i, f"[PAD{i}]") for i in range(size))
        token_types = tuple(types.get(i, int(gguf.TokenType.UNUSED)) for i in range(size))
        merges = tuple(m if isinstance(m, str) else " ".join(m) for m in model.get("merges") or [])

        ids = {tok: i for i, tok in enumerate(tokens)}

        def special_id(key: str) -> int | None:
            value = tokenizer_config.get(key)
            if isinstance(value, Mapping):
                value = value.get("content")
            if isinstance(value, str) and value in ids:
                return ids[value]
            fallback = (model_config or {}).get(f"{key}_id")
            return fallback if isinstance(fallback, int) else None

        eos_id = special_id("eos_token")
        if eos_id is None:
            raise ModelError(f"{folder} names no end-of-sequence token; the tokenizer files are incomplete.")
        return cls(
            tokens=tokens,
            token_types=token_types,
            merges=merges,
            eos_id=eos_id,
            bos_id=special_id("bos_token"),
            pad_id=special_id("pad_token"),
            add_bos=bool(tokenizer_config.get("add_bos_token", False)),
            chat_template=_chat_template(tokenizer_config, folder),
        )


def _chat_template(tokenizer_config: Mapping[str, Any], folder: Path) -> str | None:
    template = tokenizer_config.get("chat_template")
    if isinstance(template, str):
        return template
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    as_json = folder / "chat_template.json"
    if as_json.is_file():
        value = json.loads(as_json.read_text(encoding="utf-8")).get("chat_template")
        return value if isinstance(value, str) else None
    return None


def build_word_vocab(
    pieces: Iterable[str] = COMMENTARY_PIECES + PROMPT_PIECES,
    special_tokens: Sequence[str] = QWEN2VL_SPECIAL_TOKENS,
    chat_template: str | None = QWEN2VL_CHAT_TEMPLATE,
) -> Vocab:
    """Build a small real BPE vocabulary in which each of ``pieces`` is one token.

    Starts from the 256 byte tokens. For each piece, the merges so far are applied
    and, while more than one symbol is left, a merge of the first two symbols is
    appended at the lowest priority. A merge added last never fires while an older
    one applies, so pieces already made stay single tokens. Each piece must be what
    the Qwen2 pre-tokenizer yields as one unit (e.g. " ball", " ...", "'s").
    Special tokens follow as CONTROL tokens, Qwen's order and settings.
    """
    table = bytes_to_unicode()
    tokens: list[str] = list(table.values())  # GPT-2's order: printable bytes first
    known = set(tokens)
    merges: list[tuple[str, str]] = []
    ranks: dict[tuple[str, str], int] = {}
    for piece in dict.fromkeys(pieces):
        parts = bpe_merge(list(to_byte_level(piece)), ranks)
        while len(parts) > 1:
            pair = (parts[0], parts[1])
            ranks[pair] = len(merges)
            merges.append(pair)
            if pair[0] + pair[1] not in known:
                known.add(pair[0] + pair[1])
                tokens.append(pair[0] + pair[1])
            parts = bpe_merge(parts, ranks)
    n_normal = len(tokens)
    tokens.extend(special_tokens)
    types = [int(gguf.TokenType.NORMAL)] * n_normal + [int(gguf.TokenType.CONTROL)] * len(special_tokens)
    ids = {tok: i for i, tok in enumerate(tokens)}
    return Vocab(
        tokens=tuple(tokens),
        token_types=tuple(types),
        merges=tuple(f"{a} {b}" for a, b in merges),
        eos_id=ids.get("<|im_end|>", len(tokens) - 1),
        bos_id=ids.get("<|endoftext|>"),
        pad_id=ids.get("<|endoftext|>"),
        add_bos=False,
        chat_template=chat_template,
    )
