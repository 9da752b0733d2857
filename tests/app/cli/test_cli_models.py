"""``livecc-desk models ...`` as a user runs it: output, exit codes, one-line errors."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import socket
import sys

import pytest

from app.cli.models import add_models_commands, run_models
from models.errors import LiveCCError
from tests.hub_server import HubServer
from tests.models.tiny_hf import tiny_config_json, write_tiny_checkpoint


def livecc(*argv: object) -> int:
    """The ``models`` group on a parser like app.cli.main's, with its error contract (one line, exit 2)."""
    parser = argparse.ArgumentParser(prog="livecc-desk")
    add_models_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args([str(a) for a in argv])
    try:
        return run_models(args)
    except LiveCCError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """A private models folder; no real hub, token or cache."""
    monkeypatch.setenv("LIVECC_DESK_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for var in ("HF_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{s.getsockname()[1]}")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("cli") / "LiveCC-Tiny", shards=2)


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_list_on_a_fresh_machine(capsys, tmp_path):
    assert livecc("models", "list") == 0
    out = capsys.readouterr().out
    assert f"Models folder: {tmp_path / 'models'}" in out
    assert "livecc-7b-instruct  chenjoya/LiveCC-7B-Instruct (built-in)" in out
    assert "(none yet" in out
    # No GPU is visible to the test process (ggml skips software Vulkan devices unless asked).
    assert "Device: CPU — " in out


def test_convert_then_list_verify_and_remove(checkpoint, capsys, tmp_path, monkeypatch):
    assert livecc("models", "convert", checkpoint, "--quant", "Q8_0", "--name", "tiny-cc") == 0
    out = capsys.readouterr().out
    model = tmp_path / "models" / "tiny-cc" / "tiny-cc-Q8_0.gguf"
    assert f"model:  {model}" in out and model.is_file()

    assert livecc("models", "list") == 0
    assert "tiny-cc  Q8_0" in capsys.readouterr().out

    assert livecc("models", "verify", "tiny-cc", "--load") == 0
    out = capsys.readouterr().out
    assert out.count("[ok]") == 4 and "sha256" in out and "loads" in out and "n_gpu_layers" in out

    data = bytearray(model.read_bytes())
    data[-10] ^= 0xFF  # same size, one byte damaged
    model.write_bytes(bytes(data))
    assert livecc("models", "verify", "tiny-cc") == 1
    assert "[FAILED] tiny-cc-Q8_0.gguf: sha256" in capsys.readouterr().out
    model.write_bytes(bytes(data[:-5000]))
    assert livecc("models", "verify", "tiny-cc") == 1
    out = capsys.readouterr().out
    assert "[FAILED] GGUF headers" in out and "truncated" in out

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal: no one to ask
    assert livecc("models", "remove", "tiny-cc") == 2
    assert "--yes" in one_error_line(capsys.readouterr().err)
    assert livecc("models", "remove", "tiny-cc", "--yes") == 0
    assert not model.parent.exists()


@pytest.mark.parametrize(
    "prepare, args, message",
    [
        (None, ["/nonexistent/dir"], "is not a folder"),
        ("arch", [], "not Qwen2-VL"),
        ("shard", [], "shards are missing"),
        (None, ["--quant", "Q3_XL"], "Unknown quantization 'Q3_XL'; choose one of Q4_0"),
    ],
)
def test_convert_errors_are_one_line(checkpoint, tmp_path, capsys, prepare, args, message):
    folder = tmp_path / "ck"
    shutil.copytree(checkpoint, folder)
    if prepare == "arch":
        (folder / "config.json").write_text(
            json.dumps(
                {**tiny_config_json(), "model_type": "llava", "architectures": ["LlavaForConditionalGeneration"]}
            )
        )
    elif prepare == "shard":
        (folder / "model-00001-of-00002.safetensors").unlink()
    target = args[0] if args and not args[0].startswith("--") else folder
    rest = args[1:] if args and not args[0].startswith("--") else args
    assert livecc("models", "convert", target, *rest) == 2
    assert message in one_error_line(capsys.readouterr().err)


def test_download_a_user_configured_gguf(tiny_model, tmp_path, capsys, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    (models / "catalog.json").write_text(
        json.dumps(
            {
                "models": [
                    {
                        "id": "tiny-hub",
                        "repo": "me/tiny",
                        "model": {"file": "tiny.gguf"},
                        "mmproj": {"file": "mmproj.gguf"},
                    }
                ]
            }
        )
    )
    files = {"tiny.gguf": tiny_model.text_path.read_bytes(), "mmproj.gguf": tiny_model.mmproj_path.read_bytes()}
    with HubServer({"me/tiny": files}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        assert livecc("models", "list") == 0
        assert "tiny-hub            me/tiny (user-configured)" in capsys.readouterr().out
        assert livecc("models", "download", "tiny-hub") == 0
    captured = capsys.readouterr()
    assert "Ready: tiny-hub (F32" in captured.out and "livecc-desk commentate VIDEO --model" in captured.out
    assert "Downloading tiny.gguf" in captured.err  # plain progress lines when stderr is not a terminal
    assert (models / "tiny-hub" / "tiny.gguf").read_bytes() == files["tiny.gguf"]


def test_download_errors_are_one_line(capsys):
    assert livecc("models", "download", "livecc-13b") == 2
    assert "not in the catalog" in one_error_line(capsys.readouterr().err)
    assert livecc("models", "download", "livecc-7b-instruct") == 2
    assert "Cannot reach http://127.0.0.1" in one_error_line(capsys.readouterr().err)
    assert livecc("models", "download", "me/some-gguf", "--file", "a.gguf") == 2
    assert "--mmproj-file" in one_error_line(capsys.readouterr().err)


def test_ctrl_c_during_a_download_says_how_to_resume(tmp_path, capsys, monkeypatch, checkpoint):
    files = {p.name: p.read_bytes() for p in checkpoint.iterdir()}
    with HubServer({"chenjoya/LiveCC-7B-Base": files}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        import app.cli.progress

        def interrupt(self, progress):
            if progress.label.endswith(".safetensors"):
                raise KeyboardInterrupt

        monkeypatch.setattr(app.cli.progress.ProgressLine, "__call__", interrupt)
        assert livecc("models", "download", "livecc-7b-base", "--no-convert") == 130
    assert "run the same command again to resume" in capsys.readouterr().err


def test_download_only_a_checkpoint_then_verify_it(tmp_path, capsys, monkeypatch, checkpoint):
    files = {p.name: p.read_bytes() for p in checkpoint.iterdir()}
    with HubServer({"chenjoya/LiveCC-7B-Base": files}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        assert livecc("models", "download", "livecc-7b-base", "--no-convert") == 0
    assert "Convert it with: livecc-desk models convert" in capsys.readouterr().out
    assert livecc("models", "verify", "chenjoya/LiveCC-7B-Base") == 0
    out = capsys.readouterr().out
    assert "[ok] checkpoint: Qwen2-VL" in out
    assert "[ok] model-00002-of-00002.safetensors: sha256 as downloaded" in out
    assert livecc("models", "remove", "chenjoya/LiveCC-7B-Base", "--yes") == 0
    assert "Freed" in capsys.readouterr().out


def test_add_local_and_remove_keeps_the_users_files(tiny_model, capsys):
    assert (
        livecc("models", "add-local", "mine", "--model", tiny_model.text_path, "--mmproj", tiny_model.mmproj_path) == 0
    )
    assert livecc("models", "list") == 0
    assert "mine" in capsys.readouterr().out
    assert livecc("models", "remove", "mine", "--yes") == 0
    assert "your files stay" in capsys.readouterr().out and tiny_model.text_path.exists()
    assert (
        livecc("models", "add-local", "swapped", "--model", tiny_model.mmproj_path, "--mmproj", tiny_model.text_path)
        == 2
    )
    assert "vision projector" in one_error_line(capsys.readouterr().err)


def test_verify_a_loose_pair_and_a_checkpoint(tiny_model, checkpoint, capsys):
    assert livecc("models", "verify", tiny_model.text_path, "--mmproj", tiny_model.mmproj_path) == 0
    assert "no recorded checksum" in capsys.readouterr().out
    assert livecc("models", "verify", tiny_model.text_path) == 2
    assert "--mmproj" in one_error_line(capsys.readouterr().err)
    assert livecc("models", "verify", checkpoint) == 0
    assert "Qwen2-VL" in capsys.readouterr().out
    assert livecc("models", "verify", "nothing-called-this") == 2


def test_make_tiny(tmp_path, capsys):
    assert livecc("models", "make-tiny", tmp_path / "t") == 0
    assert "tiny-qwen2vl-mmproj.gguf" in capsys.readouterr().out
