"""How many threads llama.cpp gets by default."""

from __future__ import annotations

import os

import pytest

from models.engine.llama_runtime import cpu_threads


@pytest.mark.parametrize(
    "cores, spare, expected", [(1, 0, 1), (1, 1, 1), (2, 1, 1), (8, 0, 8), (8, 1, 7), (64, 0, 16), (64, 1, 16)]
)
def test_threads_follow_the_cores_this_process_may_use(monkeypatch, cores, spare, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 128)  # affinity, not the machine's count, decides
    assert cpu_threads(spare) == expected


def test_without_affinity_the_machines_cores_count(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert cpu_threads(1) == 5
