"""A real llama-server with the tiny model for the GUI's and the engine host's remote tests.

It reuses ``server_binary`` from ``tests/models/engine/test_remote_engine.py`` (the
pinned llama.cpp's server, built once and cached; skipped without a compiler,
except under CI). Import both fixtures into a test module:
``from tests.remote_server import remote_server_fixture, server_binary  # noqa: F401``
(then ask for ``remote_server``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from models.engine.llama_server import LlamaServerProcess, ServerSettings, free_port
from tests.models.engine.test_remote_engine import server_binary  # noqa: F401  (a fixture, reused)

#: The key the test server is started with: the client must send it.
API_KEY = "test-key-1234"


@pytest.fixture(scope="module", name="remote_server")
def remote_server_fixture(server_binary, tiny_model, tmp_path_factory) -> Iterator[LlamaServerProcess]:  # noqa: F811
    """llama-server on 127.0.0.1 serving the tiny pair (2048-token context, key ``API_KEY``)."""
    settings = ServerSettings(
        model=tiny_model.text_path,
        mmproj=tiny_model.mmproj_path,
        port=free_port(),
        api_key=API_KEY,
        n_ctx=2048,
        n_gpu_layers=0,
        threads=2,
    )
    log = tmp_path_factory.mktemp("remote-server") / "server.log"
    with LlamaServerProcess(server_binary, settings, log_path=log).wait_ready(60) as server:
        yield server
