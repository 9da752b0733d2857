"""The offline review of one video: commentary, marks, notes and answers on one timeline.

A coach opens a recorded game, lets the model commentate it ahead of playback,
marks moments, writes notes, asks about plays, and shares the result. This
module is that session without any GUI: the timeline records, the crash-safe
store (a :class:`~app.review_journal.Journal` beside the video, or in the user
data folder when the video's folder is read-only), offline commentary (:func:`commentate_file`: every
chunk, none dropped) and "ask about a moment" (:func:`ask_at`: a context
rebuilt from the seconds before the moment). Exports live in
:mod:`app.review_export`. Call a session from one thread.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.atomic_files import os_failure
from app.commentate import stream_file
from app.errors import VideoOpenError
from app.records import AnswerDelta, AnswerDone, ChunkDone, VideoChunk
from app.review_journal import Journal, read_journal
from app.sampling import MAX_PIXELS
from app.sources.file_source import FileSource

DEFAULT_WINDOW_S = 15.0  # seconds of footage the model sees before answering a question
JOURNAL_VERSION = 1


@dataclass(frozen=True)
class Commentary:
    """The model's words for one chunk, ``t0``..``t1`` seconds (``""``: silent)."""

    id: str
    t0: float
    t1: float
    text: str

    @property
    def t(self) -> float:
        return self.t0


@dataclass(frozen=True)
class Note:
    """The coach's note at ``t``; an empty ``text`` is a bare mark."""

    id: str
    t: float
    text: str = ""


@dataclass(frozen=True)
class QA:
    """A question asked at ``t`` and the model's answer from the ``window_s`` seconds before it."""

    id: str
    t: float
    question: str
    answer: str
    window_s: float = DEFAULT_WINDOW_S


TimelineItem = Commentary | Note | QA
_KINDS: dict[str, type] = {"commentary": Commentary, "note": Note, "qa": QA}
_KIND_OF = {cls: kind for kind, cls in _KINDS.items()}
_EDITABLE = {Commentary: {"text"}, Note: {"t", "text"}, QA: {"t", "question", "answer"}}


def item_to_dict(item: TimelineItem) -> dict:
    return {"kind": _KIND_OF[type(item)], **dataclasses.asdict(item)}


def item_from_dict(data: dict) -> TimelineItem:
    cls = _KINDS[data["kind"]]
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class CommentaryProgress:
    """One engine event of an offline run, with how far the run got (``fraction``: None if unknown)."""

    event: object
    position: float
    fraction: float | None


# -- the model: offline commentary and questions -----------------------------------------


def commentate_file(engine, video: str | Path, *, max_pixels: int = MAX_PIXELS, start: float = 0.0,
                    end: float | None = None) -> Iterator[CommentaryProgress]:
    """Commentate ``video`` from ``start`` on a fresh context: every chunk, as fast as possible.

    Stop early by closing the generator (or just not pulling).
    """
    source = FileSource(video, start=start, end=end)
    source.open()
    last = end if end is not None else source.duration_hint
    span = (last - start) if last else None
    engine.reset()
    for event in stream_file(engine, source, max_pixels=max_pixels):
        position = event.t1 if isinstance(event, ChunkDone) else getattr(event, "t0", start)
        fraction = min(1.0, max(0.0, (position - start) / span)) if span else None
        yield CommentaryProgress(event, position, fraction)


def file_chunks(video: str | Path, *, start: float = 0.0, end: float | None = None,
                max_pixels: int = MAX_PIXELS) -> Iterator[VideoChunk]:
    """The LiveCC chunks of a span of ``video``, decoded as they are pulled.

    For drivers that feed an engine in another process (the GUI's); in-process
    callers use :func:`commentate_file`.
    """
    from app.chunking import LiveCCChunker
    from app.sampling import FrameSampler

    with FileSource(video, start=start, end=end) as source:
        yield from LiveCCChunker().chunks(FrameSampler(max_pixels=max_pixels).sample(source.frames()))


def window_span(t: float, window_s: float = DEFAULT_WINDOW_S) -> tuple[float, float]:
    """The span the model watches to answer about ``t``: ``window_s`` before it, at least 1 s."""
    start = max(0.0, t - window_s)
    return start, max(t, start + 1.0)


def window_chunks(video: str | Path, t: float, window_s: float = DEFAULT_WINDOW_S, *,
                  max_pixels: int = MAX_PIXELS) -> list[VideoChunk]:
    """The LiveCC chunks of :func:`window_span`."""
    start, end = window_span(t, window_s)
    return list(file_chunks(video, start=start, end=end, max_pixels=max_pixels))


def ask_at(engine, video: str | Path, t: float, question: str, *, window_s: float = DEFAULT_WINDOW_S,
           max_pixels: int = MAX_PIXELS) -> Iterator[AnswerDelta | AnswerDone]:
    """Answer ``question`` about the moment ``t`` of ``video``, streaming.

    The engine is reset and watches the ``window_s`` seconds before ``t`` as it
    would live (commentary included: that is the context LiveCC's conversation
    mode answers from), then answers. The engine's context is left holding that
    window; reset it before commentating again.
    """
    chunks = window_chunks(video, t, window_s, max_pixels=max_pixels)
    engine.reset()
    for chunk in chunks:
        for _event in engine.feed(chunk):
            pass
    yield from engine.ask(question)


# -- the session ----------------------------------------------------------------------


def _data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("livecc-desk")) / "reviews"


def review_store_for(video: str | Path) -> Path:
    """Where the review of ``video`` is kept: beside it, or in the user data folder.

    Beside the video it travels with the file; a read-only folder (a network
    share, a card) falls back to a per-user file named after the video's path.
    """
    video = Path(video).resolve()
    beside = video.with_name(video.name + ".review.jsonl")
    digest = hashlib.sha1(str(video).encode("utf-8")).hexdigest()[:12]
    elsewhere = _data_dir() / f"{video.stem}-{digest}.review.jsonl"
    if beside.exists():
        return beside
    if elsewhere.exists() or not os.access(video.parent, os.W_OK):
        return elsewhere
    return beside


class ReviewSession:
    """The timeline of one video, saved on every change.

    Args:
        video: the video file under review.
        store: the journal file; default :func:`review_store_for`.
    """

    def __init__(self, video: str | Path, store: str | Path | None = None) -> None:
        self.video = Path(video)
        self.store = Path(store) if store else review_store_for(self.video)
        try:
            self.store.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise os_failure(self.store, exc, "save the review in") from exc
        self.warnings: list[str] = []
        self._items: dict[str, TimelineItem] = {}
        self._next = 1
        self._journal = self._load()

    # -- loading and saving --------------------------------------------------------------
    def _header(self) -> dict:
        size = self.video.stat().st_size if self.video.exists() else None
        return {"op": "open", "version": JOURNAL_VERSION, "video": self.video.name, "size": size}

    def _load(self) -> Journal:
        ops, self.warnings = read_journal(self.store)
        header = self._header()
        if ops and ops[0].get("op") == "open" and ops[0].get("size") not in (None, header["size"]):
            kept = self.store.with_name(self.store.name + ".bak")
            os.replace(self.store, kept)
            self.warnings.append(f"{self.video.name} changed since its review was saved; "
                                 f"the old review was kept as {kept.name}.")
            ops = []
        for op in ops:
            self._apply(op)
        journal = Journal(self.store)
        if not ops:
            journal.append(header)
        elif len(ops) > 2 * len(self._items) + 50:  # mostly superseded lines: compact
            journal.rewrite([header, *({"op": "add", "item": item_to_dict(i)} for i in self._items.values())])
        return journal

    def _apply(self, op: dict) -> None:
        """Replay one journal operation; a malformed one is skipped with a warning."""
        try:
            kind = op["op"]
            if kind in ("add", "chunk"):
                item = item_from_dict(op["item"])
                self._items[item.id] = item
                if item.id.startswith("n") and item.id[1:].isdigit():
                    self._next = max(self._next, int(item.id[1:]) + 1)
            elif kind == "edit":
                self._items[op["id"]] = self._edited(self._items[op["id"]], op["fields"])
            elif kind == "remove":
                self._items.pop(op["id"], None)
            elif kind == "clear_commentary":
                self._items = {k: v for k, v in self._items.items() if not isinstance(v, Commentary)}
        except (KeyError, TypeError, ValueError) as exc:
            self.warnings.append(f"{self.store.name}: skipped an unreadable change ({exc}).")

    def _record(self, op: dict) -> None:
        self._journal.append(op)
        self._apply(op)

    def close(self) -> None:
        self._journal.close()

    def __enter__(self) -> ReviewSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the timeline ------------------------------------------------------------------
    def items(self, *, include_silent: bool = False) -> list[TimelineItem]:
        """Everything on the timeline in time order (silent chunks only if asked)."""
        chosen = [i for i in self._items.values()
                  if include_silent or not (isinstance(i, Commentary) and not i.text.strip())]
        return sorted(chosen, key=lambda i: (i.t, list(_KINDS).index(_KIND_OF[type(i)])))

    def get(self, item_id: str) -> TimelineItem:
        return self._items[item_id]

    def commentary(self) -> list[Commentary]:
        """Every commentated chunk, silent ones included, in time order."""
        return sorted((i for i in self._items.values() if isinstance(i, Commentary)), key=lambda c: c.t0)

    def chunks(self) -> list[ChunkDone]:
        return [ChunkDone(n, c.t0, c.t1, c.text) for n, c in enumerate(self.commentary())]

    @property
    def commentary_end(self) -> float:
        """Where commentary stops: offline runs resume here."""
        return max((c.t1 for c in self.commentary()), default=0.0)

    def add_chunk(self, done: ChunkDone) -> Commentary:
        item = Commentary(f"c{round(done.t0 * 1000)}", done.t0, done.t1, "" if done.silent else done.text.strip())
        self._record({"op": "chunk", "item": item_to_dict(item)})
        return item

    def _new_id(self) -> str:
        self._next += 1
        return f"n{self._next - 1}"

    def add_note(self, t: float, text: str = "") -> Note:
        item = Note(self._new_id(), max(0.0, float(t)), text.strip())
        self._record({"op": "add", "item": item_to_dict(item)})
        return item

    def add_qa(self, t: float, question: str, answer: str, window_s: float = DEFAULT_WINDOW_S) -> QA:
        item = QA(self._new_id(), max(0.0, float(t)), question.strip(), answer.strip(), float(window_s))
        self._record({"op": "add", "item": item_to_dict(item)})
        return item

    @staticmethod
    def _edited(item: TimelineItem, fields: dict) -> TimelineItem:
        wrong = set(fields) - _EDITABLE[type(item)]
        if wrong:
            raise ValueError(f"cannot edit {sorted(wrong)} of a {_KIND_OF[type(item)]}")
        return dataclasses.replace(item, **fields)

    def edit(self, item_id: str, **fields) -> TimelineItem:
        """Change ``fields`` of an item (text of commentary; time and text of notes and Q&A)."""
        self._edited(self._items[item_id], fields)  # validate before it is journalled
        self._record({"op": "edit", "id": item_id, "fields": fields})
        return self._items[item_id]

    def remove(self, item_id: str) -> None:
        if item_id not in self._items:
            raise KeyError(item_id)
        self._record({"op": "remove", "id": item_id})

    def clear_commentary(self) -> None:
        """Forget all commentary (to run it again with another model or query)."""
        self._record({"op": "clear_commentary"})

    # -- the model ----------------------------------------------------------------------
    def commentate(self, engine, *, max_pixels: int = MAX_PIXELS) -> Iterator[CommentaryProgress]:
        """Commentate the rest of the video (from :attr:`commentary_end`), saving every chunk."""
        resume = self.commentary_end
        started = False
        try:
            for progress in commentate_file(engine, self.video, max_pixels=max_pixels, start=resume):
                started = True
                if isinstance(progress.event, ChunkDone):
                    self.add_chunk(progress.event)
                yield progress
        except VideoOpenError:
            if started or resume == 0:
                raise
            # no frame after the last chunk: the video is fully commentated

    def ask(self, engine, t: float, question: str, *, window_s: float = DEFAULT_WINDOW_S,
            max_pixels: int = MAX_PIXELS) -> Iterator[AnswerDelta | AnswerDone]:
        """:func:`ask_at`, and the finished answer saved on the timeline."""
        for event in ask_at(engine, self.video, t, question, window_s=window_s, max_pixels=max_pixels):
            if isinstance(event, AnswerDone):
                self.add_qa(t, question, event.text, window_s)
            yield event
