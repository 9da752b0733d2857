"""``commentate --model NAME``: the models folder's names, as a user types them (a real process)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.console import CommentaryPrinter
from app.sources.synthetic import write_test_video
from models.engine.records import ChunkDone, CommentaryDelta

ROOT = Path(__file__).resolve().parents[3]


def cli(models: Path, *args, timeout=240):
    env = dict(os.environ, PYTHONPATH=str(ROOT), LIVECC_DESK_MODELS=str(models))
    return subprocess.run(
        [sys.executable, "-m", "app.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_test_video(tmp_path_factory.mktemp("by-name") / "clip.mp4", seconds=5, size=(160, 120))


@pytest.fixture
def models(tmp_path):
    return tmp_path / "models"


def add_local(models, name, tiny_model):
    result = cli(
        models, "models", "add-local", name, "--model", tiny_model.text_path, "--mmproj", tiny_model.mmproj_path
    )
    assert result.returncode == 0, result.stderr


def one_error(result) -> str:
    assert result.returncode == 2, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    return errors[0]


def test_an_installed_name_runs_without_mmproj_and_lists_the_files_written(tiny_model, clip, models, tmp_path):
    add_local(models, "tiny", tiny_model)
    srt, jsonl = tmp_path / "out.srt", tmp_path / "out.jsonl"
    result = cli(models, "commentate", clip, "--model", "tiny", "--greedy", "--srt", srt, "--jsonl", jsonl)
    assert result.returncode == 0, result.stderr
    assert jsonl.is_file()
    wrote = [ln for ln in result.stderr.splitlines() if ln.startswith("wrote: ")]
    assert len(wrote) == 1, result.stderr
    listed = wrote[0].removeprefix("wrote: ").split(", ")
    assert str(jsonl) in listed and set(listed) == {str(p) for p in (srt, jsonl) if p.exists()}


def test_with_one_installed_model_model_may_be_left_out(tiny_model, clip, models, tmp_path):
    add_local(models, "only-one", tiny_model)
    listed = cli(models, "models", "list")
    assert "--model only-one" in listed.stdout and "may be left out" in listed.stdout
    jsonl = tmp_path / "out.jsonl"
    result = cli(models, "commentate", clip, "--greedy", "--jsonl", jsonl)
    assert result.returncode == 0, result.stderr
    assert jsonl.is_file()


def test_a_name_not_installed_says_which_names_are(tiny_model, clip, models):
    add_local(models, "tiny", tiny_model)
    error = one_error(cli(models, "commentate", clip, "--model", "other"))
    assert "'other'" in error and "tiny" in error and "models list" in error


def test_a_catalog_id_not_installed_says_how_to_get_it(clip, models):
    error = one_error(cli(models, "commentate", clip, "--model", "livecc-7b-instruct"))
    assert "models download livecc-7b-instruct" in error


def test_several_installed_models_ask_for_a_name(tiny_model, clip, models):
    add_local(models, "first", tiny_model)
    add_local(models, "second", tiny_model)
    error = one_error(cli(models, "commentate", clip))
    assert "first" in error and "second" in error and "--model" in error


def test_no_model_installed_says_what_to_do(clip, models):
    error = one_error(cli(models, "commentate", clip))
    assert "--model" in error and "models download" in error and "demo" in error


def test_a_bare_gguf_needs_its_mmproj_unless_installed(tiny_model, clip, models, tmp_path):
    error = one_error(cli(models, "commentate", clip, "--model", tiny_model.text_path))
    assert "--mmproj" in error and "add-local" in error
    add_local(models, "tiny", tiny_model)
    result = cli(models, "commentate", clip, "--model", tiny_model.text_path, "--end", "4")
    assert result.returncode == 0, result.stderr


def test_help_shows_model_names():
    result = cli(Path("/nonexistent"), "commentate", "--help")
    assert result.returncode == 0
    assert "models list" in " ".join(result.stdout.split())


def test_model_newlines_become_spaces_on_the_one_line_per_chunk():
    for live in (True, False):
        out = io.StringIO()
        printer = CommentaryPrinter(out, live=live)
        for event in (
            CommentaryDelta(0.0, 3.0, " the ball\n"),
            CommentaryDelta(0.0, 3.0, "goes\r\nin"),
            ChunkDone(0, 0.0, 3.0, " the ball\ngoes\r\nin"),
        ):
            printer.handle(event)
        lines = out.getvalue().splitlines()
        assert len(lines) == 1 and lines[0].startswith("[") and "ball goes" in lines[0], (live, lines)
