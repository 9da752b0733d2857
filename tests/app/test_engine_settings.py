"""Settings › Engine: the backend, the server's URL, key and timeout, validated on load; the host's Load."""

from __future__ import annotations

import json

import pytest

from app.engine.process import RemoteTarget
from app.settings import Settings, SettingsStore, check_server_url, engine_load
from models.errors import LiveCCError


def test_a_bad_backend_or_timeout_falls_back_to_the_default_with_a_warning(tmp_path):
    (tmp_path / "settings.json").write_text(
        json.dumps({"engine": {"backend": "cloud", "timeout_s": 0, "url": "http://10.0.0.5:8080", "api_key": "k"}})
    )
    loaded = SettingsStore(tmp_path).load()
    e = loaded.settings.engine
    assert (e.backend, e.timeout_s, e.url, e.api_key) == (
        "local",
        Settings().engine.timeout_s,
        "http://10.0.0.5:8080",
        "k",
    )
    assert any("engine.backend" in w and "local, remote" in w for w in loaded.warnings)
    assert any("engine.timeout_s" in w for w in loaded.warnings)


def test_the_load_request_follows_the_backend():
    s = Settings().replace("model", model_path="/m/text.gguf", mmproj_path="/m/mmproj.gguf")
    local = engine_load(s, "q")
    assert (local.model_path, local.server) == ("/m/text.gguf", None)
    remote = engine_load(s.replace("engine", backend="remote", url=" 192.168.1.20:8080/ ", api_key=" "), "q")
    assert remote.server == RemoteTarget("http://192.168.1.20:8080", None, Settings().engine.timeout_s)
    assert remote.model_path == "" and remote.describe() == "llama-server at http://192.168.1.20:8080"
    assert remote.options.sampling == local.options.sampling


@pytest.mark.parametrize("url", ["", "ftp://host", "http://", "http://host:port"])
def test_a_url_that_is_no_server_address_is_refused_in_one_line(url):
    with pytest.raises(LiveCCError, match="e.g. http://"):
        check_server_url(url)


def test_https_behind_a_proxy_is_kept():
    assert check_server_url("https://livecc.example.org/") == "https://livecc.example.org"
