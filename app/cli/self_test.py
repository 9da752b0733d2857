"""``livecc-desk --self-test``: prove, headless and offline, that an install works.

A packaged app can be missing a shared library, a Qt plugin or a speech driver,
and nothing says so until a user clicks the button that needs it. This check
runs every layer once on generated inputs, in a temporary folder it removes:
llama.cpp loads (with the backends built in and the GPUs they find listed), a
tiny random-weight model is built and commentates a few chunks on the CPU, one
chunk on the GPU when there is one, and a chunk in the engine's child process
on the device the GUI would choose, a generated clip is decoded, sampled and chunked, the screen is
grabbed when there is a display, speech is synthesised into a file (silently),
and Qt starts (offscreen without a display) with every ``ui`` module imported.

Each check ends ``ok``, ``warn`` (works, with a limit worth knowing), ``skip``
(cannot run here: no display, no speech engine) or ``FAIL``. Only a failure
makes the exit status non-zero. The desktop parts (screen, speech, Qt) are
imported lazily: a source install may lack them (a skip), a bundle must not (a
failure: a packaging bug).
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import re
import shutil
import sys
import tempfile
import textwrap
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # imported lazily at run time: a check may find them missing
    from models.engine.records import VideoChunk
    from models.tiny_model import TinyModel

CLIP_SECONDS = 5.0  # 10 frames at 2 fps: chunks of 6, 2 and 2 frames
ENGINE_TIMEOUT_S = 120.0  # a cold child process on a slow machine, model load included
TTS_TIMEOUT_S = 20.0
REPORT_WIDTH = 100  # fits a default terminal window; 80-column ones wrap cleanly too

_qt_app = None


@dataclass(frozen=True)
class Check:
    """The outcome of one check: ``status`` is ``ok``, ``warn``, ``skip`` or ``FAIL``."""

    name: str
    status: str
    detail: str


class Skip(Exception):
    """The check cannot run in this environment; the message says why."""


class Warn(Exception):
    """The check ran and works in part; the message says what is missing."""


def _optional(module: str, install_hint: str):
    """Import the third-party ``module``; outside a bundle its absence is a skip, inside one a failure."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if getattr(sys, "frozen", False):
            raise RuntimeError(f"{module} is missing from the bundle ({exc})") from exc
        raise Skip(f"{module.split('.')[0]} is not installed ({install_hint})") from exc


# -- the checks ----------------------------------------------------------------------


@dataclass
class _Context:
    """What the checks hand on to each other: the temp folder, the model, the chunks."""

    folder: Path
    model: TinyModel | None = None
    chunks: list[VideoChunk] = field(default_factory=list)
    cpu_text: list[str] = field(default_factory=list)  # the CPU run's words per chunk, for the GPU run


def check_llama(ctx: _Context) -> str:
    import llama_cpp
    from llama_cpp import mtmd_cpp  # loads libmtmd; an ImportError/OSError here means a missing library

    from models.engine.devices import backends

    mtmd_cpp.mtmd_default_marker()
    gpu = "backends " + " + ".join(backends())
    # The widest SIMD compiled in: a build for one machine's CPU (AVX512) dies with
    # "Illegal instruction" on CPUs without it, which is what this tells apart.
    built = set(re.findall(r"(\w+) = 1", llama_cpp.llama_print_system_info().decode(errors="replace")))
    simd = next((f for f in ("AVX512", "AVX2", "AVX", "SVE", "NEON") if f in built), "no SIMD")
    return f"llama-cpp-python {llama_cpp.__version__}: libllama, libmtmd loaded; {gpu}, {simd} code"


def check_devices(ctx: _Context) -> str:
    """The GPUs llama.cpp's backends found, and the device the app will choose."""
    from models.engine.devices import choose_device, gpu_devices

    found = gpu_devices()
    choice = choose_device()
    if choice.device is None:
        if "no GPU backend" in choice.reason:
            return f"none: {choice.reason}"
        raise Warn(f"no GPU: {choice.reason}; the CPU runs the model")
    listed = "; ".join(f"{d.name} {d.description} ({d.kind}, {d.free_bytes / 2**30:.1f} GiB free)" for d in found)
    return f"{listed}\nthe app uses {choice.device.name}"


def check_tiny_model(ctx: _Context) -> str:
    from models.tiny_model import make_tiny_model

    started = time.perf_counter()
    ctx.model = make_tiny_model(ctx.folder / "tiny-model", seed=0)
    size = sum(p.stat().st_size for p in (ctx.model.text_path, ctx.model.mmproj_path))
    return f"random Qwen2-VL pair written in {time.perf_counter() - started:.2f} s ({size / 1e6:.1f} MB)"


def check_video(ctx: _Context) -> str:
    """Write a clip, read it back with its times, and turn it into LiveCC chunks."""
    from app.pipeline.chunking import LiveCCChunker
    from app.pipeline.sampling import FrameSampler
    from app.sources.file_source import FileSource
    from app.sources.synthetic import read_stamp, write_test_video

    clip = write_test_video(ctx.folder / "clip.mp4", seconds=CLIP_SECONDS, fps=10, size=(320, 240))
    with FileSource(clip) as source:
        frames = list(source.frames())
    stamps = [(f.t, read_stamp(f.rgb)) for f in frames]
    wrong = [t for t, stamp in stamps if stamp is None or abs(stamp - t) > 0.002]
    if len(frames) < CLIP_SECONDS * 10 - 1:
        raise RuntimeError(f"decoded only {len(frames)} of {int(CLIP_SECONDS * 10)} frames of {clip.name}")
    if wrong:
        raise RuntimeError(f"{len(wrong)} decoded frames carry the wrong time (first at {wrong[0]:.3f} s)")
    sampler = FrameSampler(fps=2.0)
    ctx.chunks = list(LiveCCChunker().chunks(sampler.sample(frames)))
    layout = "+".join(str(len(c.frames)) for c in ctx.chunks)
    if sampler.size is None:
        raise RuntimeError(f"no frame of {clip.name} reached the sampler")
    h, w = sampler.size
    return f"{len(frames)} frames with true times; 2 fps -> chunks of {layout} frames, {w}x{h}"


def _engine_options(device: str = "auto"):
    from models.engine.livecc_engine import EngineOptions
    from models.engine.llama_runtime import RuntimeOptions
    from models.engine.token_sampler import SamplingOptions

    return EngineOptions(runtime=RuntimeOptions(n_ctx=4096, device=device), sampling=SamplingOptions(greedy=True))


def _needs(ctx: _Context) -> TinyModel:
    """The tiny model, once the checks before have made it and the chunks; else skip."""
    if ctx.model is None or not ctx.chunks:
        raise Skip("needs the tiny model and the video chunks (see above)")
    return ctx.model


def check_engine(ctx: _Context) -> str:
    from models.engine.livecc_engine import LiveCCEngine

    model = _needs(ctx)
    # Always the CPU: the fallback every machine relies on (the GPU has its own check below).
    with LiveCCEngine(model.text_path, model.mmproj_path, _engine_options("cpu")) as engine:
        device = engine.device.describe()
        done = [engine.process(chunk) for chunk in ctx.chunks]
    ctx.cpu_text = [d.text for d in done]
    later = [d.stats.wall_s for d in done[1:]] or [done[0].stats.wall_s]
    words = " ".join(d.text.strip() for d in done if d.text.strip())
    sample = (words[:20] + "...") if len(words) > 20 else words
    return (
        f"{len(done)} chunks at {1000 * sum(later) / len(later):.0f} ms each, {done[-1].stats.kv_tokens} "
        f'tokens cached: "{sample}"\n{device}'
    )


def check_engine_gpu(ctx: _Context) -> str:
    """One chunk fully offloaded to the GPU the app would choose; its words against the CPU's."""
    from models.engine.devices import choose_device
    from models.engine.livecc_engine import LiveCCEngine

    model = _needs(ctx)
    choice = choose_device()
    if choice.device is None:
        raise Skip(f"no GPU ({choice.reason})")
    started = time.perf_counter()
    with LiveCCEngine(model.text_path, model.mmproj_path, _engine_options(choice.device.name)) as engine:
        device = engine.device.describe()
        done = engine.process(ctx.chunks[0])
    same = "the same words as the CPU" if ctx.cpu_text[:1] == [done.text] else "other words than the CPU (rounding)"
    return (
        f"1 chunk in {time.perf_counter() - started:.1f} s with loading, {done.stats.wall_s * 1000:.0f} ms "
        f"itself, {same}\n{device}"
    )


def check_engine_process(ctx: _Context) -> str:
    """The GUI's path: the engine in a spawned child process (the bundle's own executable)."""
    from app.engine.process import Chunk, EngineDied, EngineFailed, EngineProcess, Load, Loaded, Start, Stop, Stopped
    from models.engine.prompt import DEFAULT_QUERY
    from models.engine.records import ChunkDone

    model = _needs(ctx)
    received: list = []
    finished = threading.Event()

    def on_message(message) -> None:
        received.append(message)
        if isinstance(message, (Stopped, EngineDied)) or getattr(message, "fatal", False):
            finished.set()

    started = time.perf_counter()
    child = EngineProcess(on_message, log_path=ctx.folder / "engine.log")
    child.start()
    try:
        child.send(Load(str(model.text_path), str(model.mmproj_path), _engine_options(), DEFAULT_QUERY))
        child.send(Start(1, DEFAULT_QUERY))
        child.send(Chunk(1, ctx.chunks[0]))
        child.send(Stop(1))
        if not finished.wait(ENGINE_TIMEOUT_S):
            raise RuntimeError(f"the engine process did not answer within {ENGINE_TIMEOUT_S:.0f} s")
    finally:
        child.shutdown()
    problems = [m for m in received if isinstance(m, (EngineFailed, EngineDied))]
    if problems:
        first = problems[0]
        text = first.message if isinstance(first, EngineFailed) else f"{first.reason}\n{first.log_tail}"
        raise RuntimeError(f"the engine process failed: {text}")
    chunks_done = sum(isinstance(getattr(m, "event", None), ChunkDone) for m in received)
    if not any(isinstance(m, Loaded) for m in received) or chunks_done != 1:
        raise RuntimeError(f"the engine process answered {[type(m).__name__ for m in received]}")
    return f"a child process loaded the model and commentated a chunk in {time.perf_counter() - started:.1f} s"


def check_llama_server(ctx: _Context) -> str:
    """``livecc-desk serve``'s path: the llama-server found (the bundle's own first) starts on loopback
    with the tiny model, and a chunk goes through ``RemoteEngine`` (the remote engine's whole protocol)."""
    from models.engine.llama_server import (
        LlamaServerProcess,
        ServerSettings,
        bundled_binary,
        find_llama_server,
        free_port,
    )
    from models.engine.remote import RemoteEngine, RemoteOptions
    from models.engine.token_sampler import SamplingOptions

    binary = find_llama_server()
    if binary is None:
        if getattr(sys, "frozen", False):
            raise RuntimeError("the bundle carries no llama-server (build it with `make server` before packaging)")
        raise Skip("llama-server is not built here (`make server`)")
    model = _needs(ctx)
    settings = ServerSettings(
        model=model.text_path, mmproj=model.mmproj_path, port=free_port(), n_ctx=4096, n_gpu_layers=0, threads=2
    )
    started = time.perf_counter()
    log = ctx.folder / "llama-server.log"
    with LlamaServerProcess(binary, settings, log_path=log).wait_ready(ENGINE_TIMEOUT_S) as server:
        ready = time.perf_counter() - started
        with RemoteEngine(RemoteOptions(url=server.url, sampling=SamplingOptions(greedy=True))) as engine:
            version = engine.build_info or "unknown build"
            done = [engine.process(chunk) for chunk in ctx.chunks[:2]]
            figures = list(engine.server_figures)
    origin = "bundled" if binary == bundled_binary() else binary.parent.parent.name
    evaluated = "/".join(str(f.prompt_n) for f in figures)
    return (
        f"{origin} ({version}) ready in {ready:.1f} s; {len(done)} chunks via the remote engine, "
        f"{done[-1].stats.wall_s * 1000:.0f} ms for the last; the server evaluated {evaluated} tokens"
    )


def check_screen(ctx: _Context) -> str:
    _optional("mss", "pip install mss")
    from app.sources import screen_source as screen

    problem = screen.capture_problem()
    if problem:
        raise Skip(problem)
    monitors = screen.list_monitors()
    if not monitors:
        raise Warn("mss sees no monitor")
    with screen.open_mss() as sct:
        started = time.perf_counter()
        rgb = screen.grab_rgb(sct, monitors[0].rect)
        ms = 1000 * (time.perf_counter() - started)
    h, w = rgb.shape[:2]
    detail = f"mss grabbed a {w}x{h} frame{'' if rgb.any() else ' (all black)'} of monitor 1 in {ms:.0f} ms"
    warning = screen.wayland_warning()
    if warning:
        raise Warn(f"{detail}\n{warning}")
    return detail


def check_tts(ctx: _Context) -> str:
    """Synthesise into a file in a worker thread, as the app's speaker thread does; then check playback.

    Writing a file proves the speech engine, not that anything can be heard: on Linux
    50 ms of silence is played through ``aplay`` on the default device (inaudible), so
    a machine without a sound card says so here rather than on the first phrase.
    """
    _optional("pyttsx3", "pip install pyttsx3")
    from app.sinks import voice as tts

    wav_path = ctx.folder / "speech.wav"
    result: dict = {}

    def work() -> None:
        try:
            import pyttsx3

            engine = pyttsx3.init()
            voices = engine.getProperty("voices") or []
            engine.save_to_file("LiveCC Desk self test.", str(wav_path))
            engine.runAndWait()
            result["value"] = str(getattr(engine, "driver_name", "default driver")), len(voices)
        except BaseException as exc:  # reported by the caller
            result["error"] = exc

    worker = threading.Thread(target=work, name="self-test-tts", daemon=True)
    worker.start()
    worker.join(TTS_TIMEOUT_S)
    if worker.is_alive():
        raise Warn(f"the speech engine did not finish within {TTS_TIMEOUT_S:.0f} s")
    error = result.get("error")
    if isinstance(error, ImportError) and (error.name or "").startswith("pyttsx3"):
        raise RuntimeError(f"pyttsx3 has no driver for this OS: {error}")
    if error is not None:
        raise Skip(tts.speech_problem() or f"no speech engine: {error}")
    driver, n_voices = result["value"]
    try:
        with wave.open(str(wav_path), "rb") as wav:
            seconds = wav.getnframes() / wav.getframerate()
    except (OSError, EOFError, wave.Error) as exc:
        raise Warn(f"{driver}: {n_voices} voices, but no speech came out ({exc})") from exc
    detail = f"pyttsx3 {driver}: {n_voices} voices, {seconds:.1f} s of speech synthesised"
    problem = tts.speech_problem()
    if problem:
        raise Warn(f"{detail}\n{problem}")
    unheard = tts.playback_problem()
    if unheard:
        raise Warn(
            f"{detail}, but no playback device: {unheard}\n"
            "Voice stays off until one works (Settings › Voice › Output device)."
        )
    if platform.system() == "Linux":
        detail += "; the default audio device plays"
    return detail


def check_review_sound(ctx: _Context) -> str:
    """Play a tone through the review player's sound path: the bundled ffmpeg decodes, miniaudio plays.

    miniaudio's NULL device pulls the samples at the real rate without a sound card, so
    this proves the decoder, the compiled miniaudio module and cffi are in the build.
    """
    miniaudio = _optional("miniaudio", "pip install miniaudio")
    import numpy as np

    from app.review.audio import SAMPLE_RATE, AudioOutput

    tone = ctx.folder / "tone.wav"
    samples = (np.sin(np.arange(SAMPLE_RATE) * 2 * np.pi * 440 / SAMPLE_RATE) * 12000).astype(np.int16)
    with wave.open(str(tone), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(samples.tobytes())
    played: list = []
    output = AudioOutput(tone, backends=[miniaudio.Backend.NULL], tap=played.append)
    try:
        output.play(0.0)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and sum(int(np.abs(b).max(initial=0) > 1000) for b in played) < 3:
            time.sleep(0.02)
    finally:
        output.close()
    loud = sum(int(np.abs(b).max(initial=0) > 1000) for b in played)
    if loud < 3:
        raise RuntimeError(f"the review player's sound path played no tone ({len(played)} silent blocks)")
    return f"miniaudio {miniaudio.__version__}: ffmpeg-decoded tone played on the NULL device ({loud} blocks)"


def check_qt(ctx: _Context) -> str:
    """Start Qt (offscreen when there is no display), render and save a widget, import every ui module."""
    import importlib
    import pkgutil

    import ui

    names = [m.name for m in pkgutil.walk_packages(ui.__path__, "ui.")]
    try:
        qt_core = _optional("PySide6.QtCore", "pip install PySide6-Essentials")
    except RuntimeError:
        if names:
            raise
        raise Skip("this build has no GUI (no ui module, no PySide6)") from None
    from PySide6.QtGui import QGuiApplication, QImageReader
    from PySide6.QtWidgets import QApplication, QLabel

    headless = platform.system() == "Linux" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if headless and QApplication.instance() is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if QApplication.instance() is None:
        _check_platform_plugin()
    global _qt_app  # one per process, kept for the GUI tests or code that runs next
    _qt_app = QApplication.instance() or QApplication(["livecc-desk-self-test"])
    label = QLabel("LiveCC Desk")
    label.resize(160, 40)
    image_path = ctx.folder / "widget.jpg"
    if not label.grab().save(str(image_path), "JPG"):
        raise RuntimeError("Qt could not render a widget into a JPEG (imageformats plugin missing?)")
    label.deleteLater()
    for name in names:
        importlib.import_module(name)
    formats = sorted(bytes(f.data()).decode() for f in QImageReader.supportedImageFormats())
    shown = " ".join(f for f in formats if f in ("gif", "ico", "jpg", "png", "svg"))
    return (
        f"Qt {qt_core.qVersion()}, platform '{QGuiApplication.platformName()}', reads {shown}, "
        f"{len(names)} ui modules OK"
    )


def _check_platform_plugin() -> None:
    """Load the Qt platform plugin(s) QApplication would try, and raise if none loads.

    Without a loadable platform plugin (missing from the bundle, or missing a
    system library such as libxcb-cursor0), QApplication aborts the process with
    no report; loading the plugin first turns that into a readable failure.
    """
    from PySide6.QtCore import QLibraryInfo, QPluginLoader

    wanted = [n.split(":")[0] for n in os.environ.get("QT_QPA_PLATFORM", "").split(";") if n.strip()]
    if not wanted:
        wayland = os.environ.get("XDG_SESSION_TYPE") == "wayland" and os.environ.get("WAYLAND_DISPLAY")
        wanted = {"Windows": ["windows"], "Darwin": ["cocoa"]}.get(
            platform.system(), ["wayland", "xcb"] if wayland else ["xcb"]
        )
    folder = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    errors = []
    for name in wanted:
        files = sorted(folder.glob(f"*q{name}.*"))
        loader = QPluginLoader(str(files[0])) if files else None
        if loader is not None and loader.load():
            return
        errors.append(f"'{name}' {'does not load: ' + loader.errorString() if loader else 'is missing'}")
    raise RuntimeError(f"Qt platform plugin {'; '.join(errors)} (in {folder})")


CHECKS: list[tuple[str, Callable[[_Context], str]]] = [
    ("llama.cpp", check_llama),
    ("GPU devices", check_devices),
    ("tiny model", check_tiny_model),
    ("video file", check_video),
    ("engine", check_engine),
    ("engine on GPU", check_engine_gpu),
    ("engine process", check_engine_process),
    ("llama-server", check_llama_server),
    ("screen capture", check_screen),
    ("speech (TTS)", check_tts),
    ("review sound", check_review_sound),
    ("Qt / GUI", check_qt),
]


# -- the runner ------------------------------------------------------------------------


def _app_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("livecc-desk")
    except metadata.PackageNotFoundError:
        return "(version unknown)"


@contextlib.contextmanager
def _captured_output(sink: Path):
    """Send this process's stdout and stderr to ``sink``, at the file-descriptor level.

    llama.cpp, mtmd and OpenCV print from C, past ``sys.stdout``; the report must
    stay one screen, and their last lines are what explains a failure. Where the
    descriptors cannot be redirected (a windowed executable has none), nothing is.
    """
    streams = [s for s in (sys.__stdout__, sys.__stderr__) if s is not None]
    try:
        targets = [stream.fileno() for stream in streams]
    except (AttributeError, OSError, ValueError):
        targets = []
    for stream in streams:
        with contextlib.suppress(AttributeError, OSError, ValueError):
            stream.flush()
    saved = [os.dup(fd) for fd in targets]
    with open(sink, "ab") as log, contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for fd in targets:
            os.dup2(log.fileno(), fd)
        try:
            yield
        finally:
            for fd, copy in zip(targets, saved):
                os.dup2(copy, fd)
                os.close(copy)


def _last_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        return "".join(path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]).strip()
    return ""


def _run_one(name: str, check: Callable[[_Context], str], ctx: _Context) -> Check:
    log = ctx.folder / f"{name.split()[0]}.log"
    try:
        with _captured_output(log):
            detail = check(ctx)
        return Check(name, "ok", detail)
    except Skip as exc:
        return Check(name, "skip", str(exc))
    except Warn as exc:
        return Check(name, "warn", str(exc))
    except Exception as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        detail = f"{type(exc).__name__}: {message}"
        output = _last_line(log)
        return Check(name, "FAIL", f"{detail}\nlast output: {output}" if output else detail)


def _print(result: Check, out: TextIO) -> None:
    """One line per check, wrapped to ``REPORT_WIDTH`` under the detail column."""
    indent = " " * 24
    lines = []
    for paragraph in result.detail.splitlines() or [""]:
        lines += textwrap.wrap(paragraph, REPORT_WIDTH - len(indent)) or [""]
    print(f"  {result.status:<4}  {result.name:<15} {lines[0]}", file=out)
    for line in lines[1:]:
        print(indent + line, file=out)
    out.flush()


def run_self_test(out: TextIO | None = None) -> int:
    """Run every check, print one line each and a verdict to ``out`` (default stdout).

    Returns the exit status: 0 unless a check failed.
    """
    out = out or sys.stdout
    started = time.perf_counter()
    mode = "bundle" if getattr(sys, "frozen", False) else "source"
    print(
        f"LiveCC Desk {_app_version()} self-test ({mode}; {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()})",
        file=out,
        flush=True,
    )
    folder = Path(tempfile.mkdtemp(prefix="livecc-self-test-"))
    results = []
    try:
        ctx = _Context(folder)
        for name, check in CHECKS:
            result = _run_one(name, check, ctx)
            results.append(result)
            _print(result, out)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    counts = {s: sum(r.status == s for r in results) for s in ("ok", "warn", "skip", "FAIL")}
    verdict = "FAILED" if counts["FAIL"] else "passed"
    print(
        f"Self-test {verdict}: {counts['ok']} ok, {counts['warn']} warnings, {counts['skip']} skipped, "
        f"{counts['FAIL']} failed in {time.perf_counter() - started:.1f} s",
        file=out,
        flush=True,
    )
    return 1 if counts["FAIL"] else 0
