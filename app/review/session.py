"""The offline review of one video: commentary, marks, notes and answers on one timeline.

A coach opens a recorded game, lets the model commentate it ahead of playback,
marks moments, writes notes, asks about plays, and shares the result. This
module is that timeline without any GUI: its records (a drawing on the frame is
one too, :mod:`app.review.drawings`) and its crash-safe store
(a :class:`~app.review.journal.Journal` beside the video, or in the user data
folder when the video's folder is read-only). The engine's jobs that fill it
(commentary ahead, questions about a moment) are in :mod:`app.review.jobs`,
exports in :mod:`app.review.export`. A session may be used from several
threads (the engine's results are saved from its reader thread).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from app.atomic_files import os_failure
from app.errors import OutputError
from app.review.drawings import DEFAULT_HOLD_S, Drawing, Shape, drawing_from_dict, drawing_to_dict, shape_to_dict
from app.review.journal import Journal, read_journal
from models.engine.records import ChunkDone

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
    """The coach's mark at ``t``: a moment, or the range ``t``..``t_out`` (in and out points).

    ``label`` names it ("Press after the kick-off"), ``tag`` files it under one
    of the session's :attr:`ReviewSession.tags`, ``text`` is the coach's note; a
    mark with none of them is a bare mark. Journals written before labels, tags
    and ranges existed load as untagged point marks.
    """

    id: str
    t: float
    text: str = ""
    label: str = ""
    tag: str = ""
    t_out: float | None = None

    @property
    def is_range(self) -> bool:
        return self.t_out is not None and self.t_out > self.t

    @property
    def end(self) -> float:
        """Where the mark ends: its out point, or its own time for a point."""
        return self.t_out if self.t_out is not None and self.t_out > self.t else self.t


@dataclass(frozen=True)
class QA:
    """A question asked at ``t`` and the model's answer from the ``window_s`` seconds before it."""

    id: str
    t: float
    question: str
    answer: str
    window_s: float = DEFAULT_WINDOW_S


TimelineItem = Commentary | Note | QA | Drawing
_KINDS: dict[str, type] = {"commentary": Commentary, "note": Note, "qa": QA, "drawing": Drawing}
_KIND_OF = {cls: kind for kind, cls in _KINDS.items()}
_EDITABLE = {
    Commentary: {"text"},
    Note: {"t", "text", "label", "tag", "t_out"},
    QA: {"t", "question", "answer"},
    Drawing: {"t", "shapes", "hold_s"},
}
DEFAULT_TAGS = ("attack", "defence", "set piece", "transition")


def _clean_tags(tags: list[str]) -> list[str]:
    if not isinstance(tags, list):
        raise TypeError("tags must be a list")
    cleaned = [str(t).strip() for t in tags]
    return list(dict.fromkeys(t for t in cleaned if t))


def commentary_id(done: ChunkDone) -> str:
    """The timeline id of a chunk's commentary: one per start time, so a re-run replaces it."""
    return f"c{round(done.t0 * 1000)}"


_UNSET_MARK_FIELDS = {"label": "", "tag": "", "t_out": None}


def item_to_dict(item: TimelineItem) -> dict:
    """The item as a journal record; a mark's label, tag and out point only when set, so a
    plain note is written as versions before them wrote it (and read it)."""
    if isinstance(item, Drawing):
        return drawing_to_dict(item)
    data = {"kind": _KIND_OF[type(item)], **dataclasses.asdict(item)}
    return {k: v for k, v in data.items() if k not in _UNSET_MARK_FIELDS or v != _UNSET_MARK_FIELDS[k]}


def item_from_dict(data: dict) -> TimelineItem:
    """The item of a journal record; KeyError, TypeError or ValueError when it is malformed."""
    cls = _KINDS[data["kind"]]
    if cls is Drawing:
        return drawing_from_dict(data)
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


# -- the model's view of a moment ------------------------------------------------------


def window_span(t: float, window_s: float = DEFAULT_WINDOW_S) -> tuple[float, float]:
    """The span the model watches to answer about ``t``: ``window_s`` before it, at least 1 s."""
    start = max(0.0, t - window_s)
    return start, max(t, start + 1.0)


# -- the session ----------------------------------------------------------------------


def _data_dir() -> Path:
    from app.paths import data_dir

    return data_dir() / "reviews"


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
        self._lock = threading.RLock()  # the engine's results are saved from its reader thread
        self._closed = False
        self._next = 1
        self._tags: list[str] = list(DEFAULT_TAGS)
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
            self.warnings.append(
                f"{self.video.name} changed since its review was saved; the old review was kept as {kept.name}."
            )
            ops = []
        for op in ops:
            self._apply(op)
        journal = Journal(self.store)
        if not ops:
            journal.append(header)
        elif len(ops) > 2 * len(self._items) + 50:  # mostly superseded lines: compact
            tags = [] if self._tags == list(DEFAULT_TAGS) else [{"op": "tags", "tags": self._tags}]
            journal.rewrite([header, *tags, *({"op": "add", "item": item_to_dict(i)} for i in self._items.values())])
        return journal

    def _apply(self, op: dict) -> None:
        """Replay one journal operation; a malformed one is skipped with a warning."""
        try:
            kind = op["op"]
            if kind in ("add", "chunk"):
                self._reserve_id(op["item"])
                item = item_from_dict(op["item"])
                self._items[item.id] = item
            elif kind == "edit":
                self._items[op["id"]] = self._edited(self._items[op["id"]], op["fields"])
            elif kind == "remove":
                self._items.pop(op["id"], None)
            elif kind == "tags":
                self._tags = _clean_tags(op["tags"])
            elif kind == "clear_commentary":
                self._items = {k: v for k, v in self._items.items() if not isinstance(v, Commentary)}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self.warnings.append(f"{self.store.name}: skipped an unreadable change ({exc}).")

    def _reserve_id(self, data: object) -> None:
        """New ids go on after a record's id, even a record that cannot be read (a newer version's)."""
        item_id = data.get("id") if isinstance(data, dict) else None
        if isinstance(item_id, str) and item_id.startswith("n") and item_id[1:].isdigit():
            self._next = max(self._next, int(item_id[1:]) + 1)

    def _record(self, op: dict) -> None:
        with self._lock:
            if self._closed:
                raise OutputError(f"The review of {self.video.name} is closed; open it again to change it.")
            self._journal.append(op)
            self._apply(op)

    def _snapshot(self) -> list[TimelineItem]:
        with self._lock:
            return list(self._items.values())

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._journal.close()

    def __enter__(self) -> ReviewSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the timeline ------------------------------------------------------------------
    def items(self, *, include_silent: bool = False) -> list[TimelineItem]:
        """Everything on the timeline in time order (silent chunks only if asked)."""
        chosen = [
            i for i in self._snapshot() if include_silent or not (isinstance(i, Commentary) and not i.text.strip())
        ]
        return sorted(chosen, key=lambda i: (i.t, list(_KINDS).index(_KIND_OF[type(i)])))

    def get(self, item_id: str) -> TimelineItem:
        with self._lock:
            return self._items[item_id]

    def commentary(self) -> list[Commentary]:
        """Every commentated chunk, silent ones included, in time order."""
        return sorted((i for i in self._snapshot() if isinstance(i, Commentary)), key=lambda c: c.t0)

    def chunks(self) -> list[ChunkDone]:
        return [ChunkDone(n, c.t0, c.t1, c.text) for n, c in enumerate(self.commentary())]

    @property
    def commentary_end(self) -> float:
        """Where commentary stops: offline runs resume here."""
        return max((c.t1 for c in self.commentary()), default=0.0)

    def add_chunk(self, done: ChunkDone) -> Commentary:
        item = Commentary(commentary_id(done), done.t0, done.t1, "" if done.silent else done.text.strip())
        self._record({"op": "chunk", "item": item_to_dict(item)})
        return item

    def _new_id(self) -> str:
        self._next += 1
        return f"n{self._next - 1}"

    def add_note(self, t: float, text: str = "") -> Note:
        with self._lock:
            item = Note(self._new_id(), max(0.0, float(t)), text.strip())
            self._record({"op": "add", "item": item_to_dict(item)})
        return item

    def add_qa(self, t: float, question: str, answer: str, window_s: float = DEFAULT_WINDOW_S) -> QA:
        with self._lock:
            item = QA(self._new_id(), max(0.0, float(t)), question.strip(), answer.strip(), float(window_s))
            self._record({"op": "add", "item": item_to_dict(item)})
        return item

    def add_mark(self, t: float, *, t_out: float | None = None, tag: str = "", label: str = "", text: str = "") -> Note:
        """Mark the moment ``t``, or the range ``t``..``t_out`` (swapped if given backwards)."""
        t = max(0.0, float(t))
        if t_out is not None:
            t, t_out = sorted((t, max(0.0, float(t_out))))
        with self._lock:
            item = Note(self._new_id(), t, text.strip(), label.strip(), tag.strip(), t_out)
            self._record({"op": "add", "item": item_to_dict(item)})
        return item

    def add_drawing(self, t: float, shapes: Iterable[Shape], hold_s: float = DEFAULT_HOLD_S) -> Drawing:
        """Keep ``shapes`` drawn on the frame at ``t``, shown for ``hold_s`` seconds from there.

        ValueError (before anything is saved) when a shape or the hold time is wrong.
        """
        with self._lock:
            item = Drawing(self._new_id(), max(0.0, float(t)), tuple(shapes), hold_s)
            self._record({"op": "add", "item": item_to_dict(item)})
        return item

    def drawings(self) -> list[Drawing]:
        """The drawings on the frame, in time order."""
        return sorted((i for i in self._snapshot() if isinstance(i, Drawing)), key=lambda d: (d.t, d.id))

    def marks(self, tag: str | None = None) -> list[Note]:
        """The marks and notes in time order; with ``tag``, only those filed under it."""
        return [i for i in self.items() if isinstance(i, Note) and (tag is None or i.tag == tag)]

    # -- tags ------------------------------------------------------------------------------
    @property
    def tags(self) -> list[str]:
        """The coach's list of tags, kept in the journal (a tag in use stays listed)."""
        with self._lock:
            used = [m.tag for m in self._items.values() if isinstance(m, Note) and m.tag]
            return self._tags + sorted(set(used) - set(self._tags))

    def set_tags(self, tags: list[str]) -> list[str]:
        """Replace the tag list (blank and repeated names dropped); marks keep their tags."""
        self._record({"op": "tags", "tags": _clean_tags(tags)})
        return self.tags

    @staticmethod
    def _edited(item: TimelineItem, fields: dict) -> TimelineItem:
        wrong = set(fields) - _EDITABLE[type(item)]
        if wrong:
            raise ValueError(f"cannot edit {sorted(wrong)} of a {_KIND_OF[type(item)]}")
        edited = dataclasses.replace(item, **fields)
        if isinstance(edited, Note) and edited.t_out is not None and edited.t_out < edited.t:
            raise ValueError(f"a mark's out point ({edited.t_out:g} s) is before its in point ({edited.t:g} s)")
        return edited

    def edit(self, item_id: str, **fields) -> TimelineItem:
        """Change ``fields`` of an item: commentary's text; a mark's time, out point, label, tag
        and text; a Q&A's time, question and answer; a drawing's time, shapes and hold time."""
        with self._lock:
            edited = self._edited(self._items[item_id], fields)  # validate before it is journalled
            if isinstance(edited, Drawing):  # as the journal keeps them (checked, plain data)
                fields = {k: self._drawing_field(edited, k) for k in fields}
            self._record({"op": "edit", "id": item_id, "fields": fields})
            return self._items[item_id]

    @staticmethod
    def _drawing_field(drawing: Drawing, name: str) -> object:
        if name == "shapes":
            return [shape_to_dict(s) for s in drawing.shapes]
        return getattr(drawing, name)

    def remove(self, item_id: str) -> None:
        with self._lock:
            if item_id not in self._items:
                raise KeyError(item_id)
            self._record({"op": "remove", "id": item_id})

    def clear_commentary(self) -> None:
        """Forget all commentary (to run it again with another model or query)."""
        self._record({"op": "clear_commentary"})
