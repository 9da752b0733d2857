"""The desktop app's settings: one JSON file in the user's config folder, validated on load.

Settings are grouped beside what they configure (model, commentary, context,
capture, overlay, voice), each group a frozen dataclass; change one with
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
import os
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from platformdirs import user_config_dir, user_data_dir

from models.engine.streaming_policy import POLICIES

APP_NAME = "livecc-desk"
SETTINGS_FILE = "settings.json"
SOURCE_KINDS = ("screen", "region", "window", "camera", "file")
#: ``ModelSettings.n_gpu_layers`` for "as many layers as fit the GPU's free memory" (``models.gpu_layers``).
AUTO_GPU_LAYERS = -2


def _range(lo: float | None = None, hi: float | None = None, choices: tuple = ()) -> dict:
    return {"lo": lo, "hi": hi, "choices": choices}


@dataclass(frozen=True)
class ModelSettings:
    """Which model pair and how llama.cpp runs it (see ``RuntimeOptions``)."""

    model_path: str = ""
    mmproj_path: str = ""
    catalog_id: str = ""
    n_ctx: int = field(default=8192, metadata=_range(1024, 131072))
    n_gpu_layers: int = field(default=AUTO_GPU_LAYERS, metadata=_range(AUTO_GPU_LAYERS, 1000))
    device: str = "auto"  # "auto", "cpu" or a GPU's ggml name ("Vulkan1"): models.engine.devices
    n_threads: int = field(default=0, metadata=_range(0, 256))  # 0: all cores but one
    max_pixels: int = field(default=384 * 28 * 28, metadata=_range(100 * 28 * 28, 4096 * 28 * 28))


@dataclass(frozen=True)
class CommentarySettings:
    """What to say and how tokens are chosen (see ``SamplingOptions``)."""

    query: str = "Please describe the video."
    greedy: bool = False
    temperature: float = field(default=0.7, metadata=_range(0.0, 2.0))
    seed: int = field(default=0, metadata=_range(0, 2**31 - 1))
    repetition_penalty: float = field(default=1.05, metadata=_range(1.0, 2.0))
    talk_more: bool = False
    talk_more_base: float = field(default=0.5, metadata=_range(0.0, 1.0))
    talk_more_step: float = field(default=0.0, metadata=_range(0.0, 1.0))
    max_new_tokens: int = field(default=16, metadata=_range(1, 128))


@dataclass(frozen=True)
class ContextSettings:
    """How hours of video fit the context (see ``models.engine.streaming_policy.ContextOptions``).

    0 sizes a window by the context size (``ModelSettings.n_ctx``).
    """

    policy: str = field(default="streaming", metadata=_range(choices=POLICIES))
    vision_window_s: int = field(default=0, metadata=_range(0, 3600))
    text_window_tokens: int = field(default=0, metadata=_range(0, 131072))
    reprime_vision_s: int = field(default=1, metadata=_range(0, 60))


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


@dataclass(frozen=True)
class Settings:
    model: ModelSettings = field(default_factory=ModelSettings)
    commentary: CommentarySettings = field(default_factory=CommentarySettings)
    context: ContextSettings = field(default_factory=ContextSettings)
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    overlay: OverlaySettings = field(default_factory=OverlaySettings)
    voice: VoiceSettings = field(default_factory=VoiceSettings)

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


def default_config_dir() -> Path:
    return Path(user_config_dir(APP_NAME, appauthor=False))


def default_data_dir() -> Path:
    return Path(user_data_dir(APP_NAME, appauthor=False))


def _is_colour(value: str) -> bool:
    digits = value[1:]
    return value.startswith("#") and len(digits) in (6, 8) and all(c in "0123456789abcdefABCDEF" for c in digits)


def _coerce(name: str, default: Any, value: Any, meta: dict) -> Any:
    """``value`` checked against ``default``'s type and ``meta``; raises ValueError if unusable."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("expected a number")
        if isinstance(default, int) and not float(value).is_integer():
            raise ValueError("expected a whole number")
        value = type(default)(value)
        lo, hi = meta.get("lo"), meta.get("hi")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ValueError(f"must be between {lo} and {hi}")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError("expected text")
        if meta.get("choices") and value not in meta["choices"]:
            raise ValueError(f"must be one of {', '.join(meta['choices'])}")
        if name.endswith("_color") and not _is_colour(value):
            raise ValueError("expected a colour like #RRGGBB")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list) or len(value) != len(default) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ValueError(f"expected {len(default)} whole numbers")
        return tuple(value)
    if isinstance(default, dict):  # overlay positions
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, list) and len(v) == 4
                and all(isinstance(n, int) and not isinstance(n, bool) for n in v) for k, v in value.items()):
            raise ValueError("expected screen names with [x, y, width, height]")
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
        except ValueError as exc:
            warnings.append(f"Setting {group}.{f.name} = {data[f.name]!r} is invalid ({exc}); "
                            f"using {getattr(default, f.name)!r}.")
    return dataclasses.replace(default, **values)


class SettingsStore:
    """Loads and saves :class:`Settings` at ``folder / settings.json``."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder else default_config_dir()
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
        if not isinstance(data, dict):
            return self._damaged("does not hold a settings object")
        warnings: list[str] = []
        groups = {f.name: _load_group(f.default_factory, data.get(f.name), f.name, warnings)
                  for f in fields(Settings)}
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


def engine_options(settings: Settings):
    """The engine's options (``models.engine.livecc_engine.EngineOptions``) for these settings."""
    from models.engine.livecc_engine import EngineOptions
    from models.engine.llama_runtime import RuntimeOptions, cpu_threads
    from models.engine.streaming_policy import ContextOptions
    from models.engine.token_sampler import SamplingOptions

    m, c, k = settings.model, settings.commentary, settings.context
    return EngineOptions(
        # The app captures, decodes and draws beside the engine, often next to a game:
        # by default llama.cpp leaves one core to them (see cpu_threads).
        runtime=RuntimeOptions(n_ctx=m.n_ctx, n_threads=m.n_threads or cpu_threads(spare=1),
                               n_gpu_layers=None if m.n_gpu_layers == AUTO_GPU_LAYERS else m.n_gpu_layers,
                               device=m.device),
        sampling=SamplingOptions(
            greedy=c.greedy, temperature=c.temperature, seed=c.seed,
            repetition_penalty=c.repetition_penalty,
            talk_more_base=c.talk_more_base if c.talk_more else None,
            talk_more_step=c.talk_more_step,
        ),
        context=ContextOptions(policy=k.policy, vision_window_s=k.vision_window_s,
                               text_window_tokens=k.text_window_tokens, reprime_vision_s=k.reprime_vision_s,
                               frame_pixels=m.max_pixels),
        max_new_tokens=c.max_new_tokens,
    )
