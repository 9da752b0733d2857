"""``livecc-desk serve`` and ``commentate --server``, against a real llama-server with the tiny model."""

from __future__ import annotations

import os

from app.cli.main import main
from app.sources.synthetic import write_test_video
from tests.models.engine.test_remote_engine import server, server_binary  # noqa: F401 - fixtures


def test_serve_refuses_a_public_address_without_a_key(tiny_model, capsys):
    rc = main(
        ["serve", "--model", str(tiny_model.text_path), "--mmproj", str(tiny_model.mmproj_path), "--host", "0.0.0.0"]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "without an API key" in err and err.count("\n") == 1


def test_api_key_env_must_be_set(tiny_model, capsys, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    rc = main(
        [
            "serve",
            "--model",
            str(tiny_model.text_path),
            "--mmproj",
            str(tiny_model.mmproj_path),
            "--api-key-env",
            "NO_SUCH_KEY_VAR",
        ]
    )
    assert rc == 2
    assert "NO_SUCH_KEY_VAR" in capsys.readouterr().err


def test_commentate_on_a_server(server, tmp_path, capsys):  # noqa: F811 - the fixture
    video = write_test_video(tmp_path / "clip.mp4", seconds=5, size=(160, 120))
    srt, jsonl = tmp_path / "clip.srt", tmp_path / "clip.jsonl"
    rc = main(["commentate", str(video), "--server", server.url, "--greedy", "--srt", str(srt), "--jsonl", str(jsonl)])
    assert rc == 0, capsys.readouterr().err
    assert "llama-server at" in capsys.readouterr().err
    assert jsonl.read_text().strip()
    assert srt.exists()


def test_commentate_a_folder_with_jobs(server, tmp_path, capsys):  # noqa: F811 - the fixture
    for name in ("a", "b", "c"):
        write_test_video(tmp_path / f"{name}.mp4", seconds=4, size=(160, 120))
    rc = main(["commentate", str(tmp_path), "--server", server.url, "--jobs", "2", "--greedy", "--formats", "jsonl"])
    assert rc == 0, capsys.readouterr().err
    assert all((tmp_path / f"{name}.jsonl").read_text().strip() for name in "abc")


def test_commentate_without_model_or_server(tmp_path, capsys):
    rc = main(["commentate", str(tmp_path / "x.mp4"), "--models-dir", str(tmp_path / "none")])
    assert rc == 2
    assert "--model" in capsys.readouterr().err


def test_serve_starts_a_server_a_client_can_use(server_binary, tiny_model):  # noqa: F811 - the fixture
    import re
    import signal
    import subprocess
    import sys

    from models.engine.remote import RemoteEngine, RemoteOptions
    from models.engine.token_sampler import SamplingOptions
    from tests.models.engine.test_remote_engine import WINDOW, chunks

    code = "import sys; from app.cli.main import main; sys.exit(main(sys.argv[1:]))"
    args = [
        "serve",
        "--model",
        str(tiny_model.text_path),
        "--mmproj",
        str(tiny_model.mmproj_path),
        "--port",
        "0",
        "--n-ctx",
        "512",
        "--n-gpu-layers",
        "0",
        "--threads",
        "2",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "LIVECC_LLAMA_SERVER": str(server_binary)},
    )
    try:
        line = proc.stdout.readline()
        found = re.search(r"--server (http://127\.0\.0\.1:\d+)", line)
        assert found, (line, proc.stderr.read() if proc.poll() is not None else "")
        with RemoteEngine(
            RemoteOptions(url=found.group(1), sampling=SamplingOptions(greedy=True), window=WINDOW)
        ) as engine:
            assert engine.n_ctx == 512
            engine.process(chunks(1)[0])
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=30)
    assert rc == 0
