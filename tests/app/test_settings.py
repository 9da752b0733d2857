"""Settings: defaults, round trip, and damaged files that never stop the app."""

from __future__ import annotations

import json

import pytest

from app.settings import AUTO_GPU_LAYERS, Settings, SettingsStore, engine_options
from models.engine.llama_runtime import cpu_threads
from models.engine.streaming_policy import ContextOptions


def test_defaults_when_there_is_no_file(tmp_path):
    result = SettingsStore(tmp_path).load()
    assert result.settings == Settings() and result.warnings == () and result.backup is None


def test_round_trip(tmp_path):
    store = SettingsStore(tmp_path / "new")
    s = Settings().replace("overlay", font_size=40, positions={"HDMI-1": (10, 20, 300, 80)})
    s = s.replace("capture", kind="region", region=(1, 2, 300, 200)).replace("voice", enabled=True, rate=150)
    store.save(s)
    result = store.load()
    assert result.settings == s and result.warnings == ()


def test_invalid_json_falls_back_to_defaults_and_keeps_a_backup(tmp_path):
    store = SettingsStore(tmp_path)
    store.path.write_text("{not json", encoding="utf-8")
    result = store.load()
    assert result.settings == Settings()
    assert len(result.warnings) == 1 and "not valid JSON" in result.warnings[0]
    assert result.backup.read_text(encoding="utf-8") == "{not json"


def test_bad_values_fall_back_one_by_one(tmp_path):
    store = SettingsStore(tmp_path)
    store.path.write_text(
        json.dumps(
            {
                "overlay": {"font_size": 9999, "text_color": "red", "lines": 3, "positions": {"x": [1, 2]}},
                "voice": {"enabled": "yes", "rate": 120},
                "capture": {"kind": "hologram"},
                "model": [1, 2],
                "unknown": 1,
            }
        ),
        encoding="utf-8",
    )
    result = store.load()
    s = result.settings
    assert s.overlay.font_size == 28 and s.overlay.text_color == "#FFFFFF" and s.overlay.lines == 3
    assert s.overlay.positions == {} and s.voice.enabled is False and s.voice.rate == 120
    assert s.capture.kind == "screen" and s.model == Settings().model
    assert len(result.warnings) == 6 and result.backup is not None


def test_a_file_that_is_not_an_object(tmp_path):
    store = SettingsStore(tmp_path)
    store.path.write_text("[1, 2, 3]", encoding="utf-8")
    result = store.load()
    assert result.settings == Settings() and "settings object" in result.warnings[0]


def test_engine_options_follow_the_settings():
    s = Settings().replace("model", n_ctx=2048, n_threads=0, n_gpu_layers=0)
    s = s.replace("commentary", greedy=True, talk_more=True, talk_more_base=0.3, max_new_tokens=8)
    options = engine_options(s)
    assert options.runtime.n_ctx == 2048 and options.runtime.n_threads == cpu_threads(spare=1)
    assert engine_options(s.replace("model", n_threads=3)).runtime.n_threads == 3
    assert options.sampling.greedy and options.sampling.talk_more_base == 0.3 and options.max_new_tokens == 8
    assert engine_options(Settings()).sampling.talk_more_base is None


def test_long_stream_settings_reach_the_engine():
    options = engine_options(Settings())
    assert options.context == ContextOptions()  # the streaming window, sized by the context
    assert Settings().model.n_gpu_layers == AUTO_GPU_LAYERS and options.runtime.n_gpu_layers is None
    s = (
        Settings()
        .replace("context", policy="evict", vision_window_s=12, text_window_tokens=2000, reprime_vision_s=2)
        .replace("model", max_pixels=200 * 28 * 28, n_gpu_layers=-1)
    )
    options = engine_options(s)
    assert options.context == ContextOptions("evict", 12, 2000, 2, frame_pixels=200 * 28 * 28)
    assert options.runtime.n_gpu_layers == -1


def test_a_settings_file_from_before_the_context_group_loads_cleanly(tmp_path):
    store = SettingsStore(tmp_path)
    store.path.write_text(json.dumps({"model": {"n_ctx": 16384}, "context": {"policy": "lru"}}), encoding="utf-8")
    result = store.load()
    assert result.settings.model.n_ctx == 16384 and result.settings.context.policy == "streaming"
    assert len(result.warnings) == 1 and "context.policy" in result.warnings[0]
    store.path.write_text(json.dumps({"model": {"n_ctx": 16384}}), encoding="utf-8")
    assert store.load().warnings == ()


@pytest.mark.parametrize(
    "text, why",
    [
        ("[" * 100_000 + "]" * 100_000, "cannot be read"),  # nested too deep for the JSON parser
        ('{"model": {"n_ctx": ' + "9" * 5000 + "}}", "cannot be read"),  # beyond Python's digit limit
    ],
)
def test_files_no_parser_can_take_start_on_defaults_with_a_backup(tmp_path, text, why):
    store = SettingsStore(tmp_path)
    store.path.write_text(text, encoding="utf-8")
    result = store.load()
    assert result.settings == Settings() and why in result.warnings[0]
    assert result.backup is not None and result.backup.read_text(encoding="utf-8") == text


def test_numbers_that_would_crash_the_app_fall_back_to_their_defaults_one_by_one(tmp_path):
    store = SettingsStore(tmp_path)
    store.path.write_text(
        json.dumps(
            {
                "model": {"n_ctx": int("9" * 309), "max_pixels": 200 * 28 * 28},  # a 309-digit integer
                "commentary": {"temperature": float("nan"), "repetition_penalty": float("inf"), "seed": 7},
                "overlay": {"positions": {"HDMI-1": [2**31, 0, 800, 120]}, "font_size": 30},
                "capture": {"region": [0, 0, 10**12, 5]},
            }
        ),
        encoding="utf-8",
    )
    result = store.load()
    s = result.settings
    assert (s.model.n_ctx, s.model.max_pixels) == (Settings().model.n_ctx, 200 * 28 * 28)
    assert (s.commentary.temperature, s.commentary.repetition_penalty, s.commentary.seed) == (
        Settings().commentary.temperature,
        Settings().commentary.repetition_penalty,
        7,
    )
    assert s.overlay.positions == {} and s.overlay.font_size == 30 and s.capture.region == Settings().capture.region
    assert len(result.warnings) == 5 and all(len(w) < 300 for w in result.warnings)
    assert result.backup is not None


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--max-pixels", "-1", "must be between"),
        ("--max-pixels", "1", "must be between"),
        ("--seed", "-1", "must be between"),
        ("--temperature", "nan", "finite"),
        ("--temperature", "-1", "between"),
        ("--repetition-penalty", "0", "between"),
        ("--threads", "100000", "between"),
        ("--max-new-tokens", "-1", "between"),
        ("--n-ctx", "lots", "whole number"),
    ],
)
def test_the_cli_checks_numbers_with_the_settings_ranges(flag, value, message, capsys):
    from app.cli.main import build_parser

    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["commentate", "v.mp4", "--model", "m", "--mmproj", "p", flag, value])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1 and flag in err and message in err
