"""The desktop app's settings: one JSON file in the user's config folder, validated on load.

Settings are grouped beside what they configure (model, engine, commentary,
context, capture, overlay, voice, obs, hotkeys, review), each group a frozen dataclass; change one with
:meth:`Settings.replace` (``settings.replace("voice", rate=150)``). Loading never
fails: a file that is not JSON, or not an object, is kept as ``settings.json.bak``
and the defaults are used; a single value of the wrong type or out of range
falls back to its default. Each problem becomes one line in
:attr:`LoadResult.warnings`, which the GUI shows once. Saving is atomic (a
temporary file renamed over the old one), so a crash while saving leaves the
previous file intact.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import reprlib
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.paths import config_dir, data_dir
from app.sinks.obs import DEFAULT_SOURCE as OBS_DEFAULT_SOURCE
from app.sinks.obs import DEFAULT_URL as OBS_DEFAULT_URL
from app.sinks.overlay_server import DEFAULT_PORT as OVERLAY_DEFAULT_PORT
from models.engine import defaults
from models.engine.prompt import DEFAULT_QUERY
from models.engine.server_client import DEFAULT_TIMEOUT_S
from models.engine.streaming_policy import POLICIES

if TYPE_CHECKING:
    from app.engine.process import Load, RemoteTarget
    from models.engine.livecc_engine import EngineOptions

SETTINGS_FILE = "settings.json"
SOURCE_KINDS = ("screen", "region", "window", "camera", "file")
#: Where the model runs: llama.cpp in the app's engine process, or a llama-server elsewhere.
ENGINE_BACKENDS = ("local", "remote")
#: ``EngineSettings.url`` by default: ``livecc-desk serve`` on this machine.
DEFAULT_SERVER_URL = "http://127.0.0.1:8080"
#: ``ModelSettings.n_gpu_layers`` for "as many layers as fit the GPU's free memory" (``models.gpu_layers``).
AUTO_GPU_LAYERS = -2
#: ``ModelSettings.n_threads`` for "automatic": every core this process may use but
#: ``defaults.SPARE_CORES`` (see :func:`engine_options`).
AUTO_THREADS = 0


def _range(lo: float | None = None, hi: float | None = None, choices: tuple = ()) -> dict:
    return {"lo": lo, "hi": hi, "choices": choices}


@dataclass(frozen=True)
class ModelSettings:
    """Which model pair and how llama.cpp runs it (see ``RuntimeOptions``)."""

    model_path: str = ""
    mmproj_path: str = ""
    catalog_id: str = ""
    n_ctx: int = field(default=defaults.N_CTX, metadata=_range(1024, 131072))
    n_gpu_layers: int = field(default=AUTO_GPU_LAYERS, metadata=_range(AUTO_GPU_LAYERS, 1000))
    device: str = "auto"  # "auto", "cpu" or a GPU's ggml name ("Vulkan1"): models.engine.devices
    n_threads: int = field(default=AUTO_THREADS, metadata=_range(0, 256))  # 0: automatic (see engine_options)
    max_pixels: int = field(
        default=defaults.MAX_PIXELS, metadata=_range(defaults.MIN_PIXELS, defaults.MAX_PIXELS_LIMIT)
    )


@dataclass(frozen=True)
class EngineSettings:
    """Where the model runs: ``"local"`` (the pair in :class:`ModelSettings`, in the engine process)
    or ``"remote"``: a llama-server (``livecc-desk serve`` on another machine) at ``url``.

    The API key is stored as the OBS password is: in plain text in the user's config
    folder (``settings.json``); leave it empty for a server without one. ``timeout_s``
    is how long to wait to connect and for each reply, and for a restarted server.
    """

    backend: str = field(default="local", metadata=_range(choices=ENGINE_BACKENDS))
    url: str = DEFAULT_SERVER_URL
    api_key: str = ""  # stored as OBS's password is: in plain text in the user's config folder
    timeout_s: float = field(default=DEFAULT_TIMEOUT_S, metadata=_range(1.0, 3600.0))

    @property
    def remote(self) -> bool:
        return self.backend == "remote"


@dataclass(frozen=True)
class CommentarySettings:
    """What to say and how tokens are chosen (see ``SamplingOptions``)."""

    query: str = DEFAULT_QUERY
    greedy: bool = False
    temperature: float = field(default=defaults.TEMPERATURE, metadata=_range(0.0, 2.0))
    seed: int = field(default=defaults.SEED, metadata=_range(0, 2**31 - 1))
    repetition_penalty: float = field(default=defaults.REPETITION_PENALTY, metadata=_range(1.0, 2.0))
    talk_more: bool = False
    talk_more_base: float = field(default=defaults.TALK_MORE_BASE, metadata=_range(0.0, 1.0))
    talk_more_step: float = field(default=defaults.TALK_MORE_STEP, metadata=_range(0.0, 1.0))
    max_new_tokens: int = field(default=defaults.MAX_NEW_TOKENS, metadata=_range(1, 128))


@dataclass(frozen=True)
class ContextSettings:
    """How hours of video fit the context (see ``models.engine.streaming_policy.ContextOptions``).

    0 sizes a window by the context size (``ModelSettings.n_ctx``).
    """

    policy: str = field(default=defaults.CONTEXT_POLICY, metadata=_range(choices=POLICIES))
    vision_window_s: int = field(default=defaults.VISION_WINDOW_S, metadata=_range(0, 3600))
    text_window_tokens: int = field(default=defaults.TEXT_WINDOW_TOKENS, metadata=_range(0, 131072))
    reprime_vision_s: int = field(default=defaults.REPRIME_VISION_S, metadata=_range(0, 60))


@dataclass(frozen=True)
class CaptureSettings:
    """The last source chosen, and how live sources are grabbed."""

    kind: str = field(default="screen", metadata=_range(choices=SOURCE_KINDS))
    monitor: int = field(default=1, metadata=_range(1, 64))
    region: tuple[int, int, int, int] = (0, 0, 0, 0)  # left, top, width, height in physical pixels
    window_title: str = ""
    camera: int = field(default=0, metadata=_range(0, 63))
    file_path: str = ""
    capture_fps: float = field(default=8.0, metadata=_range(2.0, 30.0))
    transcript_dir: str = ""  # empty: the user data folder


@dataclass(frozen=True)
class OverlaySettings:
    """The subtitle window's look and place. Colours are ``#RRGGBB`` or ``#AARRGGBB``."""

    visible: bool = True
    click_through: bool = False
    font_family: str = "Sans Serif"
    font_size: int = field(default=28, metadata=_range(8, 120))
    bold: bool = True
    text_color: str = "#FFFFFF"
    outline_color: str = "#000000"
    outline_width: float = field(default=3.0, metadata=_range(0.0, 12.0))
    shadow: bool = True
    background_color: str = "#000000"
    background_opacity: float = field(default=0.45, metadata=_range(0.0, 1.0))
    lines: int = field(default=2, metadata=_range(1, 8))
    fade_after_s: float = field(default=6.0, metadata=_range(0.0, 120.0))  # 0: never fade
    show_silence: bool = False
    # Per-screen geometry: screen name -> (x, y, width, height) in that screen's logical pixels.
    positions: dict = field(default_factory=dict)


@dataclass(frozen=True)
class VoiceSettings:
    """Speech through pyttsx3."""

    enabled: bool = False
    voice_id: str = ""  # empty: the system default
    rate: int = field(default=185, metadata=_range(80, 400))  # words per minute
    volume: float = field(default=1.0, metadata=_range(0.0, 1.0))
    max_delay_s: float = field(default=2.0, metadata=_range(0.5, 10.0))
    # Linux: an ``aplay -L`` device (e.g. a virtual sink OBS captures); empty: the default.
    # Windows and macOS speak through the system's default output.
    output_device: str = ""


@dataclass(frozen=True)
class ObsSettings:
    """Commentary for OBS: the browser-source page, an obs-websocket text source, a captions file.

    The page is served on 127.0.0.1 unless ``lan_access`` is on (a second PC runs OBS): then it
    listens on every interface and each request must carry ``lan_token``.
    """

    overlay_server: bool = False
    overlay_port: int = field(default=OVERLAY_DEFAULT_PORT, metadata=_range(1024, 65535))
    lan_access: bool = False
    lan_token: str = ""
    websocket: bool = False
    url: str = OBS_DEFAULT_URL
    password: str = ""  # stored as OBS itself stores it: in plain text in the user's config folder
    source_name: str = OBS_DEFAULT_SOURCE
    create_source: bool = True
    stream_captions: bool = False
    captions_file: str = ""  # empty: no captions file


@dataclass(frozen=True)
class HotkeySettings:
    """Global hotkeys (``app/hotkeys.py``): they work while a game has the focus (X11, Windows).

    Keys are written as Qt writes them (``Ctrl+Shift+F8``); empty leaves that action without one.
    """

    enabled: bool = True
    start_stop: str = "Ctrl+Shift+F5"
    overlay: str = "Ctrl+Shift+F8"
    click_through: str = "Ctrl+Shift+F9"
    voice: str = "Ctrl+Shift+F10"


@dataclass(frozen=True)
class ReviewSettings:
    """The Review tab's player: the footage's sound, how captions show (on the picture and
    burned into MP4 exports, ``app.export.captions.CaptionStyle``), what subtitles include."""

    volume: float = field(default=1.0, metadata=_range(0.0, 1.0))
    muted: bool = False
    captions_visible: bool = True
    notes_visible: bool = True
    caption_size: float = field(default=0.05, metadata=_range(0.02, 0.12))  # of the picture's height
    caption_position: str = field(default="bottom", metadata=_range(choices=("bottom", "top")))
    caption_lines: int = field(default=0, metadata=_range(0, 8))  # 0: as many as the text needs
    subtitles_marks: bool = True  # SRT/WebVTT exports include marks and notes
    subtitles_qa: bool = False  # ... and questions with their answers
    # how long a drawing stays on the picture from its moment (app.review.drawings.DEFAULT_HOLD_S)
    drawing_hold_s: float = field(default=3.0, metadata=_range(0.5, 60.0))


@dataclass(frozen=True)
class Settings:
    model: ModelSettings = field(default_factory=ModelSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    commentary: CommentarySettings = field(default_factory=CommentarySettings)
    context: ContextSettings = field(default_factory=ContextSettings)
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    overlay: OverlaySettings = field(default_factory=OverlaySettings)
    voice: VoiceSettings = field(default_factory=VoiceSettings)
    obs: ObsSettings = field(default_factory=ObsSettings)
    hotkeys: HotkeySettings = field(default_factory=HotkeySettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)

    def replace(self, group: str, **changes: Any) -> Settings:
        """A copy with ``changes`` applied to the group ``group``."""
        return dataclasses.replace(self, **{group: dataclasses.replace(getattr(self, group), **changes)})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class LoadResult:
    settings: Settings
    warnings: tuple[str, ...] = ()
    backup: Path | None = None


def transcripts_folder(capture: CaptureSettings) -> Path:
    """Where live sessions' transcripts are saved: the chosen folder, or the data folder's."""
    return Path(capture.transcript_dir) if capture.transcript_dir else data_dir() / "transcripts"


def _is_colour(value: str) -> bool:
    digits = value[1:]
    return value.startswith("#") and len(digits) in (6, 8) and all(c in "0123456789abcdefABCDEF" for c in digits)


MAX_PIXEL_COORDINATE = 1 << 20  # screen positions and sizes beyond this are damage, not a desktop


def _is_pixel(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_PIXEL_COORDINATE


def check_number(default: int | float, value: Any, meta: dict) -> int | float:
    """``value`` as a number of ``default``'s type within ``meta``'s range; ``ValueError`` says why not.

    The one range check for numbers, whether they come from the settings file or
    the command line (:func:`parse_setting`): finite, whole where a whole number is
    meant, and within the field's ``lo``..``hi``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("expected a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value}")
    if isinstance(default, int) and isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"expected a whole number, got {value}")
        value = int(value)
    lo, hi = meta.get("lo"), meta.get("hi")
    if (lo is not None and value < lo) or (hi is not None and value > hi):  # before float(): ints may be huge
        shown = value if abs(value) < 10**12 else "a number far out of range"
        raise ValueError(f"must be between {lo} and {hi}, got {shown}")
    return type(default)(value)


def parse_setting(group: type, name: str, text: str) -> int | float:
    """A command-line value for the settings field ``group.name``, checked as :func:`check_number` does."""
    spec = {f.name: f for f in fields(group)}[name]
    default = getattr(group(), name)
    try:
        value: int | float = int(text) if isinstance(default, int) else float(text)
    except ValueError:
        raise ValueError(
            f"expected {'a whole number' if isinstance(default, int) else 'a number'}, got {text!r}"
        ) from None
    return check_number(default, value, dict(spec.metadata))


def _coerce(name: str, default: Any, value: Any, meta: dict) -> Any:
    """``value`` checked against ``default``'s type and ``meta``; raises ValueError if unusable."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    if isinstance(default, (int, float)):
        return check_number(default, value, meta)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError("expected text")
        if meta.get("choices") and value not in meta["choices"]:
            raise ValueError(f"must be one of {', '.join(meta['choices'])}")
        if name.endswith("_color") and not _is_colour(value):
            raise ValueError("expected a colour like #RRGGBB")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list) or len(value) != len(default) or not all(map(_is_pixel, value)):
            raise ValueError(f"expected {len(default)} whole numbers of pixels")
        return tuple(value)
    if isinstance(default, dict):  # overlay positions
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and len(v) == 4 and all(map(_is_pixel, v))
            for k, v in value.items()
        ):
            raise ValueError("expected screen names with [x, y, width, height] in pixels")
        return {k: tuple(v) for k, v in value.items()}
    raise ValueError("unsupported setting")


def _load_group(cls: type, data: Any, group: str, warnings: list[str]) -> Any:
    default = cls()
    if data is None:
        return default
    if not isinstance(data, dict):
        warnings.append(f"Settings '{group}' were not readable; defaults are used.")
        return default
    values = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        try:
            values[f.name] = _coerce(f.name, getattr(default, f.name), data[f.name], dict(f.metadata))
        except (ValueError, TypeError, OverflowError) as exc:
            shown = reprlib.repr(data[f.name])  # a damaged value may be megabytes long
            warnings.append(
                f"Setting {group}.{f.name} = {shown} is invalid ({exc}); using {getattr(default, f.name)!r}."
            )
    return dataclasses.replace(default, **values)


def _groups() -> dict[str, type]:
    """Each settings group's name and class, in the order of :class:`Settings`."""
    defaults = Settings()
    return {f.name: type(getattr(defaults, f.name)) for f in fields(Settings)}


class SettingsStore:
    """Loads and saves :class:`Settings` at ``folder / settings.json``."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder else config_dir()
        self.path = self.folder / SETTINGS_FILE

    def load(self) -> LoadResult:
        """The saved settings, or the defaults; never raises for a bad file."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return LoadResult(Settings())
        except (OSError, UnicodeDecodeError) as exc:
            return self._damaged(f"cannot be read ({exc})")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return self._damaged(f"is not valid JSON ({exc.msg}, line {exc.lineno})")
        except (RecursionError, ValueError, MemoryError) as exc:  # nested too deep, a 5000-digit number
            return self._damaged(f"cannot be read as settings ({type(exc).__name__})")
        if not isinstance(data, dict):
            return self._damaged("does not hold a settings object")
        warnings: list[str] = []
        groups = {name: _load_group(cls, data.get(name), name, warnings) for name, cls in _groups().items()}
        backup = self._backup() if warnings else None
        return LoadResult(Settings(**groups), tuple(warnings), backup)

    def _damaged(self, why: str) -> LoadResult:
        backup = self._backup()
        kept = f" It was kept as {backup}." if backup else ""
        return LoadResult(Settings(), (f"The settings file {self.path} {why}; defaults are used.{kept}",), backup)

    def _backup(self) -> Path | None:
        backup = self.path.with_name(SETTINGS_FILE + ".bak")
        try:
            backup.write_bytes(self.path.read_bytes())
        except OSError:
            return None
        return backup

    def save(self, settings: Settings) -> None:
        """Write ``settings`` atomically; raises ``OSError`` if the folder is unwritable."""
        self.folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(settings.to_dict(), indent=2, ensure_ascii=False) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=".settings.", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


def engine_options(settings: Settings) -> EngineOptions:
    """The engine's options for these settings: the one builder the desktop app and the CLI share.

    The CLI turns its arguments into the same :class:`Settings` groups
    (``app.cli.main.settings_from_args``), so identical settings give identical
    options. "Automatic" values are resolved here, once for both:

    * threads ``AUTO_THREADS`` (0): every core this process may use but
      ``defaults.SPARE_CORES`` (``cpu_threads``). ggml's threads spin at
      barriers, and llama.cpp on every core collapses when anything else wants
      one: live capture, video decoding, a game, OBS (BENCHMARKS.md).
    * GPU layers ``AUTO_GPU_LAYERS``: ``None``, as many as fit the GPU's free
      memory (planned when the model loads, ``models.gpu_layers``).
    * talk more off: no threshold on the silence token.
    * ``reprime_vision_s`` is passed as set (the window caps it when it is larger).
    """
    from models.engine.livecc_engine import EngineOptions
    from models.engine.llama_runtime import RuntimeOptions, cpu_threads
    from models.engine.streaming_policy import ContextOptions
    from models.engine.token_sampler import SamplingOptions

    m, c, k = settings.model, settings.commentary, settings.context
    threads = m.n_threads if m.n_threads != AUTO_THREADS else cpu_threads(spare=defaults.SPARE_CORES)
    return EngineOptions(
        runtime=RuntimeOptions(
            n_ctx=m.n_ctx,
            n_threads=threads,
            n_gpu_layers=None if m.n_gpu_layers == AUTO_GPU_LAYERS else m.n_gpu_layers,
            device=m.device,
        ),
        sampling=SamplingOptions(
            greedy=c.greedy,
            temperature=c.temperature,
            seed=c.seed,
            repetition_penalty=c.repetition_penalty,
            talk_more_base=c.talk_more_base if c.talk_more else None,
            talk_more_step=c.talk_more_step,
        ),
        context=ContextOptions(
            policy=k.policy,
            vision_window_s=k.vision_window_s,
            text_window_tokens=k.text_window_tokens,
            reprime_vision_s=k.reprime_vision_s,
            frame_pixels=m.max_pixels,
        ),
        max_new_tokens=c.max_new_tokens,
    )


def check_server_url(url: str) -> str:
    """``url`` as a llama-server address (``http(s)://host[:port]``); ``LiveCCError`` says what is wrong."""
    import urllib.parse

    from models.errors import LiveCCError

    text = url.strip()
    parsed = urllib.parse.urlsplit(text if "://" in text else f"http://{text}")
    try:
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise LiveCCError(
            f"The server URL {text!r} has a port that is not a number (e.g. http://192.168.1.20:8080)."
        ) from None
    if not text or parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise LiveCCError(
            f"The server URL {text!r} is not an http:// or https:// address (e.g. http://192.168.1.20:8080)."
        )
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, parsed.path.rstrip("/"), "", ""))


def remote_target(settings: Settings) -> RemoteTarget | None:
    """The llama-server the engine connects to, or ``None`` when the model runs locally.

    Raises ``LiveCCError`` for a URL that is not an http(s) address.
    """
    from app.engine.process import RemoteTarget

    e = settings.engine
    if not e.remote:
        return None
    return RemoteTarget(check_server_url(e.url), e.api_key.strip() or None, e.timeout_s)


def engine_load(settings: Settings, query: str) -> Load:
    """The engine host's load request for these settings: the chosen pair, or the llama-server.

    With the remote backend no local pair is needed (the server has the model); the
    pair chosen in the window is not sent, so a server serving another model loads too.
    """
    from app.engine.process import Load

    target = remote_target(settings)
    if target is not None:
        return Load("", "", engine_options(settings), query, server=target)
    m = settings.model
    return Load(m.model_path, m.mmproj_path, engine_options(settings), query)
