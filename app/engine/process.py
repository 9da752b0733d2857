"""The engine in a child process, behind a small message protocol.

llama.cpp aborts the whole process on some faults (a bad model, out of memory,
a failed assertion), so the GUI runs the engine in a child process, as Ollama
and LM Studio do: a crash there costs a restart, never the user's window or
transcript. The child is started with the ``spawn`` method (a fresh
interpreter: no Qt, no threads inherited from the parent) and talks through two
queues of frozen dataclasses:

    parent -> child   Load (a model pair, or a RemoteTarget) · Start · Chunk · SetQuery · Ask · Stop · Shutdown
    child  -> parent  Loaded · Output (engine records) · EngineFailed · Stopped

The child catches every Python exception and reports it; what it cannot catch
(abort, segfault, the kernel's OOM killer) the parent notices from the exit
code, and reports as :class:`EngineDied` with the last lines the child wrote to
its log (llama.cpp prints the failed assertion there).

:class:`EngineProcess` owns the child. A reader thread drains the child's
queue and hands every message to ``on_message`` (from that thread): callers
never block on the engine.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import re
import signal
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.engine.server_client import DEFAULT_TIMEOUT_S
from models.errors import LiveCCError

if TYPE_CHECKING:
    from models.engine.protocol import Engine

log = logging.getLogger(__name__)

# Lines of llama.cpp's log that explain a crash; its many warnings and notes do not.
_FAILURE_LINE = re.compile(r"error|fail|abort|assert|out of memory|cannot|unable|segmentation|exception", re.IGNORECASE)

# -- commands (parent -> child) ------------------------------------------------


@dataclass(frozen=True)
class RemoteTarget:
    """A ``llama-server`` that runs the model (``livecc-desk serve``) instead of llama.cpp in the child.

    url: ``http://host:port`` (``https://`` behind a TLS proxy); api_key: its key, ``None``
    for a server without one; timeout_s: most seconds to wait to connect and for each
    read (also how long a restarted server is waited for mid-stream).
    """

    url: str
    api_key: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    def __repr__(self) -> str:  # never write the key into a log or a traceback
        key = "set" if self.api_key else "none"
        return f"RemoteTarget(url={self.url!r}, api_key={key}, timeout_s={self.timeout_s})"


@dataclass(frozen=True)
class Load:
    """Load a model pair; ``options`` is a ``models.engine.livecc_engine.EngineOptions``.

    With ``server`` set the child connects to that llama-server instead (a ``RemoteEngine``,
    still in the child, so its faults stay there); the pair paths are then only an
    optional check of which model the server serves (``model_path``) and may be empty.
    """

    model_path: str
    mmproj_path: str
    options: Any
    query: str
    server: RemoteTarget | None = None

    def describe(self) -> str:
        """What is being loaded, in a few words: the model file's name, or the server's address."""
        if self.server is not None:
            return f"llama-server at {self.server.url}"
        return Path(self.model_path).name


@dataclass(frozen=True)
class Start:
    """A new stream begins: forget the old one; tag outputs with ``session``."""

    session: int
    query: str


@dataclass(frozen=True)
class Chunk:
    """Commentate one chunk of the stream ``session``."""

    session: int
    chunk: Any  # models.engine.records.VideoChunk


@dataclass(frozen=True)
class SetQuery:
    query: str


@dataclass(frozen=True)
class Ask:
    """Answer a question about what the engine has seen (conversation mode)."""

    session: int
    question: str


@dataclass(frozen=True)
class Stop:
    """The stream ``session`` ended; the child answers :class:`Stopped` once it is idle."""

    session: int


@dataclass(frozen=True)
class Shutdown:
    pass


# -- messages (child -> parent) ------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """The model is ready. ``device`` says where it runs (``DeviceReport.describe()``)."""

    model_name: str
    device: str
    gpu: bool


@dataclass(frozen=True)
class Output:
    """An engine record (ChunkStarted, CommentaryDelta, ChunkDone, AnswerDelta, AnswerDone)."""

    session: int
    event: Any


@dataclass(frozen=True)
class EngineFailed:
    """A command failed. ``fatal`` means the child gave up and is exiting.

    ``during`` names the command (``"load"``, ``"chunk"``, ...); ``user_error``
    is true for a ``LiveCCError`` (bad model file...), whose message is for the
    user, false for a bug, whose ``detail`` holds the traceback.
    """

    during: str
    message: str
    user_error: bool
    session: int | None = None
    detail: str = ""
    fatal: bool = False


@dataclass(frozen=True)
class Stopped:
    session: int


@dataclass(frozen=True)
class EngineDied:
    """The child ended without being asked (sent by the parent side)."""

    exitcode: int | None
    reason: str
    log_tail: str = ""


EngineMessage = Loaded | Output | EngineFailed | Stopped | EngineDied


def describe_exit(exitcode: int | None) -> str:
    """Say in words why a child ended with ``exitcode`` (negative: killed by that signal)."""
    if exitcode is None:
        return "it stopped responding"
    if exitcode < 0:
        sig = -exitcode
        if sig == getattr(signal, "SIGKILL", 9):
            return (
                "it was killed (SIGKILL); the usual cause is running out of memory: "
                "try a smaller model or context, or fewer GPU layers"
            )
        if sig == getattr(signal, "SIGABRT", 6):
            return "llama.cpp aborted (SIGABRT), for example on a failed check or out of GPU memory"
        if sig == getattr(signal, "SIGSEGV", 11):
            return "it crashed (segmentation fault)"
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return f"it was stopped by {name}"
    if exitcode in (3221225477, -1073741819):  # Windows access violation
        return "it crashed (access violation)"
    return f"it exited with code {exitcode}"


# -- the child ------------------------------------------------------------------


def _child_main(commands: mp.Queue, messages: mp.Queue, log_path: str | None) -> None:
    """Entry point of the engine process: serve commands until Shutdown."""
    if log_path:
        # llama.cpp writes to fd 2 directly; keep it for the crash report.
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 2)
        os.close(fd)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is for the parent
    server = _EngineServer(messages)
    while True:
        command = commands.get()
        if isinstance(command, Shutdown):
            server.close()
            return
        server.handle(command)


class _EngineServer:
    """Runs commands on the engine in the child; reports everything, raises nothing."""

    def __init__(self, messages: mp.Queue) -> None:
        self.messages = messages
        self.engine: Engine | None = None
        self.session: int | None = None

    def handle(self, command: object) -> None:
        name = type(command).__name__.lower()
        session = getattr(command, "session", None)
        try:
            if isinstance(command, Load):
                self._load(command)
            elif self.engine is None:
                raise _NotLoaded()
            elif isinstance(command, Start):
                self.engine.reset()
                self.engine.set_query(command.query)
                self.session = command.session
            elif isinstance(command, Chunk):
                if command.session == self.session:
                    for commentary in self.engine.feed(command.chunk):
                        self.messages.put(Output(command.session, commentary))
            elif isinstance(command, SetQuery):
                self.engine.set_query(command.query)
            elif isinstance(command, Ask):
                for answer in self.engine.ask(command.question):
                    self.messages.put(Output(command.session, answer))
            elif isinstance(command, Stop):
                self.messages.put(Stopped(command.session))
        except _NotLoaded:
            self.messages.put(EngineFailed(name, "No model is loaded: load a model first.", True, session))
        except Exception as exc:  # reported, never fatal: the next command may work
            user = isinstance(exc, LiveCCError)
            message = str(exc) if user else f"The engine failed ({type(exc).__name__}: {exc})."
            self.messages.put(EngineFailed(name, message, user, session, traceback.format_exc()))
            if isinstance(command, (Chunk, Ask)):
                self._forget_the_failed_turn()

    def _forget_the_failed_turn(self) -> None:
        """Start the context afresh after a turn failed half-way.

        A turn that failed part-way leaves the cache and the engine's record of it
        out of step (the next chunk would fail only because of that); the stream goes
        on from a new context, with the query sent again.
        """
        if self.engine is None:
            return
        try:
            self.engine.reset()
        except Exception:  # the engine is beyond repair: the next command reports it
            log.exception("resetting the engine after a failed turn failed")

    def _load(self, command: Load) -> None:
        self.close()
        if command.server is not None:
            self.engine = _remote_engine(command)
        else:
            from models.engine.livecc_engine import LiveCCEngine

            self.engine = LiveCCEngine(command.model_path, command.mmproj_path, command.options, query=command.query)
        info = self.engine.info()
        self.messages.put(Loaded(info.model_name, info.device, info.gpu))

    def close(self) -> None:
        if self.engine is not None:
            engine, self.engine = self.engine, None
            engine.close()


class _NotLoaded(Exception):
    pass


def _remote_engine(command: Load) -> Engine:
    """A ``RemoteEngine`` on ``command.server`` with the sampling and lengths of ``command.options``.

    It checks the server before returning (reachable, the key, a LiveCC pair with its
    vision projector): a wrong URL or key fails the load with one clear message.
    """
    from models.engine.remote import RemoteEngine, RemoteOptions

    target, options = command.server, command.options
    assert target is not None
    return RemoteEngine(
        RemoteOptions(
            url=target.url,
            api_key=target.api_key or None,
            timeout_s=target.timeout_s,
            reconnect_s=target.timeout_s,  # a restarted server: wait for it, send the prompt again, go on
            expected_model=command.model_path or None,
            sampling=options.sampling,
            max_new_tokens=options.max_new_tokens,
            answer_max_tokens=options.answer_max_tokens,
        ),
        query=command.query,
    )


# -- the parent side --------------------------------------------------------------


class EngineProcess:
    """A running engine child; every method returns at once.

    Args:
        on_message: called from the reader thread with each :data:`EngineMessage`.
        log_path: file that receives the child's stderr (llama.cpp's messages);
            its tail is attached to :class:`EngineDied`. ``None`` keeps stderr.
    """

    def __init__(self, on_message: Callable[[EngineMessage], None], log_path: str | Path | None = None) -> None:
        self.on_message = on_message
        self.log_path = str(log_path) if log_path else None
        ctx = mp.get_context("spawn")
        self._commands = ctx.Queue()
        self._messages = ctx.Queue()
        # Do not wait for queued frames to reach a dead child when we exit.
        self._commands.cancel_join_thread()
        self.process = ctx.Process(
            target=_child_main, name="livecc-engine", daemon=True, args=(self._commands, self._messages, self.log_path)
        )
        self._stopping = threading.Event()
        self._reader: threading.Thread | None = None
        self.died: EngineDied | None = None

    def start(self) -> None:
        self.process.start()
        self._reader = threading.Thread(target=self._read, name="engine-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.is_alive() and self.died is None

    def send(self, command: object) -> None:
        """Queue a command for the child (ignored once it has died)."""
        if self.died is None and not self._stopping.is_set():
            self._commands.put(command)

    def _read(self) -> None:
        """Drain the child's messages; notice when it dies without being asked."""
        while True:
            try:
                message = self._messages.get(timeout=0.2)
            except queue.Empty:
                if self.process.exitcode is None:
                    continue
                if self._stopping.is_set():
                    return
                self._report_death()
                return
            except (EOFError, OSError, ValueError):  # ValueError: the queue was closed by shutdown()
                if not self._stopping.is_set():
                    self._report_death()
                return
            self._deliver(message)

    def _deliver(self, message: EngineMessage) -> None:
        try:
            self.on_message(message)
        except Exception:  # a sink's bug must not stop the reader
            log.exception("engine message handler failed on %r", type(message).__name__)

    def _report_death(self) -> None:
        self.process.join(1.0)
        code = self.process.exitcode
        self.died = EngineDied(code, describe_exit(code), self._log_tail())
        self._deliver(self.died)

    def _log_tail(self, lines: int = 4) -> str:
        """The last lines of the child's log that say what went wrong (llama.cpp's warnings left out)."""
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 16384))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        failures = [line.strip() for line in text.splitlines() if _FAILURE_LINE.search(line)]
        return "\n".join(failures[-lines:])

    def shutdown(self, timeout: float = 5.0) -> None:
        """Ask the child to exit; kill it if it does not within ``timeout`` seconds (0: kill now)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self.process.pid is not None and self.process.exitcode is None:
            if timeout > 0:
                try:
                    self._commands.put(Shutdown())
                except (ValueError, OSError):
                    pass
                self.process.join(timeout)
            if self.process.exitcode is None:
                self.process.kill()
                self.process.join(2.0)
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(2.0)
        self._commands.close()
        if self._reader is None or not self._reader.is_alive():
            self._messages.close()
