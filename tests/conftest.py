"""Fixtures shared by every test package."""

from __future__ import annotations

import pytest

from models.tiny_model import TinyModel, make_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    """A tiny random Qwen2-VL GGUF pair (text + mmproj), built once per test session.

    Real llama.cpp loads it; treat the files as read-only.
    """
    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"), seed=0)
