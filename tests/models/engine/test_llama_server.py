"""Which llama-server ``livecc-desk serve`` runs: an explicit one, the bundle's own, ``make server``'s, then PATH."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from models.engine import llama_server
from models.engine.llama_server import BUNDLE_DIR, built_llama_server, bundled_binary, find_llama_server


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A ``make server`` cache holding a complete CPU build."""
    monkeypatch.setenv("LIVECC_DESK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LIVECC_LLAMA_SERVER", raising=False)
    built = executable(llama_server.cached_binary("cpu"))
    (built.parent.parent / ".complete").touch()
    return built


@pytest.fixture
def bundle(tmp_path, monkeypatch) -> Path:
    """A frozen app whose ``_internal`` holds llama-server as ``pyinstaller.spec`` lays it out."""
    internal = tmp_path / "dist" / "livecc-desk" / "_internal"
    server = executable(internal / BUNDLE_DIR / "bin" / "llama-server")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(internal), raising=False)
    monkeypatch.setattr(sys, "executable", str(internal.parent / "livecc-desk"))
    return server


@pytest.mark.skipif(os.name == "nt", reason="the bundle layout checked is the Linux/macOS one")
def test_the_bundle_finds_its_own_server_before_the_cache(cache, bundle):
    assert bundled_binary() == bundle
    assert find_llama_server() == bundle
    assert built_llama_server() == cache  # what pyinstaller.spec bundles


def test_from_source_the_cache_is_used(cache):
    assert bundled_binary() is None
    assert find_llama_server() == cache


def test_an_explicit_server_wins(cache, bundle, tmp_path, monkeypatch):
    mine = executable(tmp_path / "mine" / "llama-server")
    monkeypatch.setenv("LIVECC_LLAMA_SERVER", str(mine))
    assert find_llama_server() == mine


def test_a_backend_order_picks_among_builds(cache):
    gpu = executable(llama_server.cached_binary("vulkan"))
    assert built_llama_server(("cuda", "cpu")) == cache  # the Vulkan build is not complete yet
    (gpu.parent.parent / ".complete").touch()
    assert built_llama_server(("vulkan", "cpu")) == gpu
    assert built_llama_server(("cuda",)) is None
