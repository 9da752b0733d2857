"""The catalog (built-in and user entries) and the models folder (what is installed, naming, removal)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from models.catalog import BUILTIN, load_catalog
from models.errors import CatalogError, LiveCCError
from models.gguf_info import summarize
from models.quantize import quantize
from models.store import ENV_MODELS_DIR, ModelStore, default_models_dir, models_dir
from models.tiny_model import make_tiny_model

SHA = "ab" * 32


def user_catalog(folder: Path, models: object) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "catalog.json").write_text(json.dumps({"models": models}) if not isinstance(models, str) else models)


def good_entry(**over) -> dict:
    entry = {
        "id": "my-livecc-q4",
        "repo": "someone/LiveCC-GGUF",
        "model": {"file": "LiveCC-Q4_K_M.gguf", "size": 123, "sha256": SHA.upper()},
        "mmproj": {"file": "mmproj/LiveCC-mmproj-f16.gguf"},
    }
    entry.update(over)
    return entry


@pytest.fixture
def installed(tiny_model, tmp_path) -> ModelStore:
    """A models folder holding a copy of the tiny pair under ``tiny/``, without a manifest."""
    folder = tmp_path / "models" / "tiny"
    folder.mkdir(parents=True)
    shutil.copy(tiny_model.text_path, folder)
    shutil.copy(tiny_model.mmproj_path, folder)
    return ModelStore(tmp_path / "models")


def test_builtin_entries_are_the_published_livecc_checkpoints():
    catalog = load_catalog(None)
    assert [(e.id, e.repo_id, e.kind, e.origin) for e in catalog.entries] == [
        ("livecc-7b-instruct", "chenjoya/LiveCC-7B-Instruct", "checkpoint", "built-in"),
        ("livecc-7b-base", "chenjoya/LiveCC-7B-Base", "checkpoint", "built-in"),
    ]
    assert all(e.model_file is None for e in BUILTIN)  # no GGUF repository is presented as fact


def test_user_gguf_entries_are_loaded_and_marked(tmp_path):
    user_catalog(tmp_path, [good_entry()])
    catalog = load_catalog(tmp_path)
    entry = catalog.find("my-livecc-q4")
    assert (entry.kind, entry.origin, entry.repo_id) == ("gguf", "user-configured", "someone/LiveCC-GGUF")
    assert entry.model_file.sha256 == SHA and entry.model_file.size == 123
    assert entry.mmproj_file.filename == "mmproj/LiveCC-mmproj-f16.gguf" and entry.mmproj_file.sha256 is None
    assert catalog.find("someone/LiveCC-GGUF") == entry
    assert catalog.problems == ()


@pytest.mark.parametrize(
    "bad, reason",
    [
        (good_entry(repo="not a repo"), "owner/name"),
        (good_entry(id="../escape"), "id"),
        (good_entry(mmproj=None), "mmproj"),
        (good_entry(model={"file": "weights.bin"}), ".gguf"),
        (good_entry(model={"file": "x.gguf", "sha256": "123"}), "64 hexadecimal"),
        (good_entry(model={"file": "x.gguf", "size": -5}), "positive"),
        (good_entry(id="livecc-7b-base"), "taken"),
        ("just a string", "object"),
    ],
)
def test_bad_user_entries_are_reported_and_skipped(tmp_path, bad, reason):
    user_catalog(tmp_path, [bad, good_entry(id="fine")])
    catalog = load_catalog(tmp_path)
    assert [e.id for e in catalog.entries] == ["livecc-7b-instruct", "livecc-7b-base", "fine"]
    assert len(catalog.problems) == 1 and reason in catalog.problems[0]


@pytest.mark.parametrize("content", ["{not json", json.dumps([1, 2]), json.dumps({"models": "x"})])
def test_a_damaged_catalog_file_never_hides_the_builtin_entries(tmp_path, content):
    user_catalog(tmp_path, content)
    catalog = load_catalog(tmp_path)
    assert catalog.entries == BUILTIN and len(catalog.problems) == 1 and "ignored" in catalog.problems[0]


def test_unknown_names_list_what_is_known():
    with pytest.raises(CatalogError, match="livecc-7b-instruct"):
        load_catalog(None).find("livecc-13b")


def test_models_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_MODELS_DIR, raising=False)
    assert models_dir() == default_models_dir()
    assert default_models_dir().name == "models" and "livecc-desk" in str(default_models_dir())
    monkeypatch.setenv(ENV_MODELS_DIR, str(tmp_path / "env"))
    assert models_dir() == tmp_path / "env"
    assert models_dir(tmp_path / "flag") == tmp_path / "flag"


def test_pairs_are_found_by_their_headers(installed, tiny_model):
    (model,) = installed.installed()
    assert (model.name, model.quant, model.managed) == ("tiny", "F32", True)
    assert model.text_path.name == tiny_model.text_path.name and model.mmproj_path.name == tiny_model.mmproj_path.name
    assert model.size_bytes == tiny_model.text_path.stat().st_size + tiny_model.mmproj_path.stat().st_size
    assert installed.resolve("tiny") == model


def test_several_quantizations_share_a_folder(installed):
    folder = installed.root / "tiny"
    quantize(folder / "tiny-qwen2vl.gguf", folder / "tiny-Q8_0.gguf", "Q8_0")
    names = sorted(m.name for m in installed.installed())
    assert names == ["tiny:F32", "tiny:Q8_0"]
    assert {m.mmproj_path for m in installed.installed()} == {folder / "tiny-qwen2vl-mmproj.gguf"}
    with pytest.raises(CatalogError, match="several quantizations"):
        installed.resolve("tiny")
    assert installed.resolve("tiny:Q8_0").quant == "Q8_0"
    assert installed.remove("tiny:Q8_0") == [folder / "tiny-Q8_0.gguf"]
    assert [m.name for m in installed.installed()] == ["tiny"]
    assert installed.remove("tiny") == [folder]
    assert not folder.exists()


def test_damaged_or_foreign_files_do_not_break_listing(installed):
    junk = installed.root / "junk"
    junk.mkdir()
    (junk / "broken.gguf").write_bytes(b"GGUF\x03\x00\x00\x00")
    (junk / "notes.gguf").write_text("hello")
    (installed.root / "sources").mkdir()
    assert [m.name for m in installed.installed()] == ["tiny"]
    assert summarize(junk / "broken.gguf").problem == "damaged or truncated header"
    assert summarize(junk / "notes.gguf").problem == "not a GGUF file"
    assert summarize(junk / "missing.gguf").problem.startswith("cannot be read")


def test_local_pairs_are_registered_not_copied(tiny_model, tmp_path):
    store = ModelStore(tmp_path / "models")
    model = store.add_local("my-pair", tiny_model.text_path, tiny_model.mmproj_path)
    assert (model.name, model.managed, model.text_path) == ("my-pair", False, tiny_model.text_path.resolve())
    assert [m.name for m in store.installed()] == ["my-pair"]
    with pytest.raises(CatalogError, match="already exists"):
        store.add_local("my-pair", tiny_model.text_path, tiny_model.mmproj_path)
    assert store.remove("my-pair") == []
    assert tiny_model.text_path.exists() and store.installed() == []


def test_local_pairs_are_checked_before_registering(tiny_model, tmp_path):
    store = ModelStore(tmp_path)
    with pytest.raises(LiveCCError, match="vision projector"):
        store.add_local("swapped", tiny_model.mmproj_path, tiny_model.text_path)
    with pytest.raises(LiveCCError, match="not found"):
        store.add_local("gone", tmp_path / "nope.gguf", tiny_model.mmproj_path)
    with pytest.raises(CatalogError, match="cannot name"):
        store.add_local("bad name!", tiny_model.text_path, tiny_model.mmproj_path)


def test_checkpoints_and_partial_downloads_are_listed(tmp_path):
    store = ModelStore(tmp_path)
    source = store.source_folder("chenjoya/LiveCC-7B-Instruct")
    source.mkdir(parents=True)
    (source / "config.json").write_text("{}")
    (source / "model-00001-of-00002.safetensors.part").write_bytes(b"x" * 10)
    (checkpoint,) = store.checkpoints()
    assert (checkpoint.repo_id, checkpoint.size_bytes, checkpoint.partial_bytes) == (
        "chenjoya/LiveCC-7B-Instruct",
        2,
        10,
    )
    assert store.partial_downloads() == [source / "model-00001-of-00002.safetensors.part"]
    assert store.remove("chenjoya/LiveCC-7B-Instruct") == [source]
    assert store.checkpoints() == []


def test_the_tiny_model_is_made_where_asked(tmp_path):
    tiny = make_tiny_model(tmp_path / "t")
    assert summarize(tiny.text_path).architecture == "qwen2vl"
    assert summarize(tiny.mmproj_path).is_projector
