"""The command line and the desktop app build the same engine from the same choices."""

from __future__ import annotations

import pytest

from app.cli.commentate import engine_options_from_args
from app.cli.main import build_parser, settings_from_args
from app.settings import AUTO_GPU_LAYERS, Settings, engine_options
from models.engine import defaults
from models.engine.livecc_engine import EngineOptions
from models.engine.llama_runtime import cpu_threads
from models.engine.prompt import DEFAULT_QUERY

BASE = ["commentate", "v.mp4", "--model", "m.gguf", "--mmproj", "p.gguf"]


def cli_options(*flags: str) -> EngineOptions:
    return engine_options_from_args(build_parser().parse_args([*BASE, *flags]))


def gui_options(**groups: dict) -> EngineOptions:
    settings = Settings()
    for group, changes in groups.items():
        settings = settings.replace(group, **changes)
    return engine_options(settings)


def test_the_defaults_give_the_same_engine_options():
    assert cli_options() == gui_options()


def test_the_defaults_are_the_engine_defaults():
    options = cli_options()
    assert options.runtime.n_ctx == defaults.N_CTX and options.runtime.n_gpu_layers is None
    assert options.sampling.temperature == defaults.TEMPERATURE and options.sampling.seed == defaults.SEED
    assert options.sampling.repetition_penalty == defaults.REPETITION_PENALTY and not options.sampling.greedy
    assert options.sampling.talk_more_base is None
    assert options.max_new_tokens == defaults.MAX_NEW_TOKENS == EngineOptions().max_new_tokens
    assert options.context.frame_pixels == defaults.MAX_PIXELS and options.context.policy == defaults.CONTEXT_POLICY
    assert options.context.reprime_vision_s == defaults.REPRIME_VISION_S


def test_automatic_threads_leave_a_spare_core_on_both():
    assert cli_options().runtime.n_threads == gui_options().runtime.n_threads == cpu_threads(spare=defaults.SPARE_CORES)
    assert cli_options("--threads", "0") == gui_options(model={"n_threads": 0})


@pytest.mark.parametrize(
    "flags, groups",
    [
        (
            [
                "--greedy",
                "--n-ctx",
                "4096",
                "--threads",
                "3",
                "--n-gpu-layers",
                "0",
                "--max-pixels",
                str(200 * 28 * 28),
                "--max-new-tokens",
                "8",
                "--context-policy",
                "evict",
                "--vision-window",
                "12",
                "--text-window",
                "2000",
                "--reprime-vision",
                "2",
                "--repetition-penalty",
                "1.2",
            ],
            {
                "model": {"n_ctx": 4096, "n_threads": 3, "n_gpu_layers": 0, "max_pixels": 200 * 28 * 28},
                "commentary": {"greedy": True, "max_new_tokens": 8, "repetition_penalty": 1.2},
                "context": {
                    "policy": "evict",
                    "vision_window_s": 12,
                    "text_window_tokens": 2000,
                    "reprime_vision_s": 2,
                },
            },
        ),
        (
            [
                "--seed",
                "7",
                "--temperature",
                "0.3",
                "--talk-more",
                "0.2",
                "0.05",
                "--n-gpu-layers",
                "-1",
                "--threads",
                "1",
            ],
            {
                "model": {"n_gpu_layers": -1, "n_threads": 1},
                "commentary": {
                    "seed": 7,
                    "temperature": 0.3,
                    "talk_more": True,
                    "talk_more_base": 0.2,
                    "talk_more_step": 0.05,
                },
            },
        ),
    ],
    ids=["greedy-windows", "seeded-talk-more"],
)
def test_the_same_choices_give_the_same_engine_options(flags, groups):
    cli, gui = cli_options(*flags), gui_options(**groups)
    assert cli == gui
    assert cli != gui_options()  # the choices reached the options


def test_the_command_line_fills_the_apps_settings_groups():
    settings = settings_from_args(build_parser().parse_args(BASE))
    assert settings.model.model_path == "m.gguf" and settings.model.mmproj_path == "p.gguf"
    assert settings.model.n_gpu_layers == AUTO_GPU_LAYERS and settings.commentary.query == DEFAULT_QUERY
    assert (settings.commentary, settings.context) == (Settings().commentary, Settings().context)
    told = settings_from_args(build_parser().parse_args([*BASE, "--query", "Who scores?"]))
    assert told.commentary.query == "Who scores?"
